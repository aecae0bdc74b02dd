import pytest

from sbclib import benchswitch


def test_nothing_is_off_unless_the_bench_says_so():
    assert benchswitch.load({}) == frozenset()
    assert benchswitch.load({"SBC_BENCH_OFF": " topos, cdr ,"}) == {"topos", "cdr"}


@pytest.mark.parametrize("env,field", [({"SBC_BENCH_OFF": "topos,tls"}, "unknown feature tls"),
                                       ({"SBC_BENCH_OFF": "guard", "DROP_PRIVILEGES": "1"}, "deployment")])
def test_a_bad_or_deployed_switch_is_refused_naming_the_field(env, field):
    with pytest.raises(ValueError, match=f"SBC_BENCH_OFF: .*{field}"):
        benchswitch.load(env)
