import pytest

from sbcctl import validate
from sbcctl.validate import InputError


def test_valid_values_pass_through():
    assert validate.sip_uri("sip:abc123.sip.vapi.ai;transport=tls") == "sip:abc123.sip.vapi.ai;transport=tls"
    assert validate.did("+14155550101", "US") == "+14155550101"
    assert validate.network("127.0.9.0/24") == ("127.0.9.0", 24)
    assert validate.network("127.0.9.7") == ("127.0.9.7", 32)
    assert (validate.group(21), validate.weight(0), validate.priority(1000), validate.acl_group(3)) == (21, 0, 1000, 3)


@pytest.mark.parametrize("check,field", [
    (lambda: validate.sip_uri("sip:x@y?Route=z"), "uri"), (lambda: validate.did("4155550101", "US"), "did"),
    (lambda: validate.did("+1 415 555 0101", "US"), "did"), (lambda: validate.network("127.0.9.1/24"), "ip"),
    (lambda: validate.group(10000), "group"), (lambda: validate.weight(-1), "weight"),
    (lambda: validate.acl_group(4), "group"), (lambda: validate.text("a\nb", "tag"), "tag"),
])
def test_each_bad_value_names_its_field(check, field):
    with pytest.raises(InputError) as err:
        check()
    assert err.value.field == field and str(err.value).startswith(f"{field}: ")
