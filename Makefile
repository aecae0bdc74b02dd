# Voice AI SBC. `make run` starts it on this host (loopback demo settings from .env / defaults);
# `make test` proves it: unit tests plus the real stack driven by SIPp in a private network namespace.
PY := .venv/bin/python
# The integration stack sees only its own loopback: nothing it sends can leave this machine.
ISOLATED := unshare -n sh -c 'ip link set lo up && exec "$$0" "$$@"'

.PHONY: deps run test unit integration lint bench clean

deps:
	./scripts/install-deps.sh

run: deps
	$(PY) -m stack run

test: deps lint
	$(ISOLATED) $(PY) -m pytest tests

unit: deps
	$(PY) -m pytest tests/unit

integration: deps
	$(ISOLATED) $(PY) -m pytest tests/integration

lint: deps
	.venv/bin/ruff check .

bench: deps
	$(ISOLATED) $(PY) -m bench.cps

clean:
	rm -rf run .pytest_cache .ruff_cache
