"""The provisioning API's pure parts: tokens and scopes, the OpenAPI document against the configuration
document it publishes (their fields cannot drift apart)."""

import pytest

from sbcapi import openapi, tokens
from sbcapi.resources import KEY, WRITABLE, ApiError, Resources
from sbcctl import configdoc, validate
from sbcctl.validate import InputError


def test_a_token_is_random_kept_as_its_digest_and_compared_in_constant_time():
    a, b = validate.new_api_token(), validate.new_api_token()
    assert a != b and a.startswith("sbc_") and len(a) > 40
    assert tokens.matches(a, validate.api_token_digest(a)) and not tokens.matches(b, validate.api_token_digest(a))


@pytest.mark.parametrize("text,tenant", [("operator", None), ("tenant:acme", "acme"), ("tenant:a-b.c_1", "a-b.c_1")])
def test_scopes(text, tenant):
    assert validate.api_scope(text) == text and tokens.Caller("x", text).tenant == tenant


@pytest.mark.parametrize("text", ["", "admin", "tenant:", "tenant:a b", "operator ", "tenant:acme:x"])
def test_a_bad_scope_names_the_field(text):
    with pytest.raises(InputError, match="^scope: "):
        validate.api_scope(text)


def test_the_schema_publishes_every_section_with_the_documents_fields():
    doc = openapi.document()
    schemas = doc["components"]["schemas"]
    for section in configdoc.SECTIONS:
        shown = set(configdoc.TABLES[section][1]) - set(configdoc.SECRETS.get(section, ()))
        assert set(schemas[section.capitalize()]["properties"]) == shown, section
        assert set(schemas[f"{section.capitalize()}New"]["properties"]) == set(WRITABLE[section]), section
        assert set(openapi.REQUIRED[section]) <= set(WRITABLE[section]), section
        assert f"/v1/{section}" in doc["paths"] and f"/v1/{section}/{{key}}" in doc["paths"]
        assert KEY[section] in configdoc.TABLES[section][1]
    assert not any("ha1" in s.get("properties", {}) for s in schemas.values())  # no secret is ever answered


def test_a_tenants_token_reaches_only_dids():
    tenant = tokens.Caller("p", "tenant:acme")
    for section in ("gateways", "tenants", "acl", "accounts", "credentials", "registrations"):
        with pytest.raises(ApiError) as err:
            Resources._may(tenant, section)
        assert err.value.status == 403
    Resources._may(tenant, "dids")
    with pytest.raises(ApiError) as err:
        Resources._may(tokens.Caller("o", "operator"), "nothing")
    assert err.value.status == 404
