# Voice AI SBC. `make run` starts it on this host (loopback demo settings from .env / defaults);
# `make test` proves it: unit tests, the real stack on this host's packages, then the shipped image
# under docker compose, each driven by SIPp in a private network namespace.
PY := .venv/bin/python
# The integration stack sees only its own loopback: nothing it sends can leave this machine. Its own
# mount namespace lets the compose tests run a Docker engine there (testkit/engine.py).
ISOLATED := unshare -n -m sh -c 'ip link set lo up && exec "$$0" "$$@"'
# A build reads no .env (the services do at start); the example file satisfies compose's env_file check.
BUILD_ENV := SBC_ENV_FILE=.env.example

.PHONY: deps run call test unit integration integration-image image lint docs mutation-check bench bench-profile bench-keepalive bench-media bench-pair soak clean

deps:
	./scripts/install-deps.sh

# STACK_ARGS: the launcher's own options (--env-file, --run-dir), for a second instance (tests/integration/test_demo.py).
run: deps
	$(PY) -m stack $(STACK_ARGS) run

# From a second shell while `make run` is up: one demo call, carrier -> SBC -> AI gateway, and its path.
call:
	$(PY) -m stack $(STACK_ARGS) call

# The unit and deploy tests (files and a mocked KSR) run while the image builds (its log: run/image-build.log);
# then the integration suites, one after the other (each has timings of its own to keep).
test: deps lint
	@mkdir -p run
	@$(MAKE) --no-print-directory image > run/image-build.log 2>&1 & build=$$!; \
	$(ISOLATED) $(PY) -m pytest tests/unit tests/deploy; unit=$$?; \
	wait $$build; image=$$?; \
	if [ $$image -ne 0 ]; then cat run/image-build.log; echo "make image failed ($$image)"; exit $$image; fi; \
	tail -n 1 run/image-build.log; exit $$unit
	$(ISOLATED) $(PY) -m pytest tests/integration
	$(ISOLATED) env SBC_BACKEND=compose $(PY) -m pytest tests/integration

unit: deps
	$(PY) -m pytest tests/unit

integration: deps
	$(ISOLATED) $(PY) -m pytest tests/integration

integration-image: deps image
	$(ISOLATED) env SBC_BACKEND=compose $(PY) -m pytest tests/integration

# The runtime image (Debian 13, Kamailio 6.0) with the host's engine: base image by debootstrap
# when no registry has it, then `docker compose build`, exactly as an operator builds it.
image:
	./scripts/docker-engine.sh
	./scripts/base-image.sh
	$(BUILD_ENV) docker compose build
	@docker image inspect -f 'image voice-ai-sbc:latest: {{.Size}} bytes' voice-ai-sbc:latest

# ruff, and the docs: the configuration reference as generated, the site without a broken link or anchor.
lint: deps
	.venv/bin/ruff check .
	$(PY) scripts/config_reference.py --check
	.venv/bin/mkdocs build --strict --quiet

# The operators' documentation as a site in run/site (docs/configuration.md regenerated first).
docs: deps
	$(PY) scripts/config_reference.py
	.venv/bin/mkdocs build --strict

# Faults injected in kemi/ one at a time (scripts/mutation_check.py): each must turn a test red.
mutation-check: deps
	$(PY) scripts/mutation_check.py

# The SBC next to bench/native.cfg and bench/native-full.cfg, on this host's Kamailio and on the image's, then
# its KSR crossings per call (python -m bench.cps --help).
bench: deps image
	$(ISOLATED) $(PY) -m bench.cps

# Where Kamailio's CPU goes during calls: perf (C) and py-spy (the routes' Python) on this host's Kamailio.
bench-profile: deps
	$(ISOLATED) $(PY) -m bench.profile

# rtpengine's CPU per call with and without media keepalive (the image's rtpengine; --help for options).
bench-keepalive: deps image
	$(ISOLATED) $(PY) -m bench.keepalive

# rtpengine's CPU per call-second relaying and transcoding (PCMU <-> G.722, Opus; the image's rtpengine).
bench-media: deps image
	$(ISOLATED) $(PY) -m bench.media

# What the second node of a pair costs: calls through node a with b following, and with b stopped.
bench-pair: deps
	$(ISOLATED) $(PY) -m bench.pair

# Memory and Redis keys over 20,000 calls on this host's Kamailio (python -m bench.soak --help).
soak: deps
	$(ISOLATED) $(PY) -m bench.soak

clean:
	rm -rf run .pytest_cache .ruff_cache
