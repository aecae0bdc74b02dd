"""Post-dial delay and time to answer per attempt (kemi/timing.py), into metrics and the call record."""

import pytest

from kemi import metrics, records, timing


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(timing.time, "monotonic", lambda: now[0])
    return now


def observed(ksr, metric):
    return [a[1:] for f, a in ksr.calls if f == "xhttp_prom.histogram_observe_l3" and a[0] == metric]


def test_an_attempt_start_is_stamped_with_its_labels_and_forgets_the_last_attempts_ringing(ksr, clock):
    ksr.pvs[timing.RINGING_AVP] = "0.400000"  # the previous attempt rang
    timing.started("inbound", "acme", "21")
    assert ksr.calls == [("pv.sets", (timing.ATTEMPT_AVP, "1000.000000 inbound 21 acme")),
                         ("pv.unset", (timing.RINGING_AVP,))]
    assert timing.ringing() is None


def test_the_first_18x_of_an_attempt_is_its_post_dial_delay_and_later_ones_are_not(ksr, clock):
    timing.started("outbound", "", "10")
    for status, at in ((100, 1000.1), (180, 1000.25), (183, 1000.5), (180, 1000.9)):
        clock[0] = at
        timing.provisional(status)
    assert observed(ksr, metrics.POST_DIAL_DELAY) == [("0.250000", "outbound", "none", "10")]
    assert timing.ringing() == 0.25


def test_a_tenant_name_with_spaces_survives_the_round_trip(ksr, clock):
    timing.started("inbound", "Acme Voice Ltd", "21")
    assert timing.decode(ksr.pvs[timing.ATTEMPT_AVP]) == timing.Attempt(1000.0, "inbound", "Acme Voice Ltd", "21")


def test_an_answered_call_records_both_delays_in_ms_and_observes_the_time_to_answer(ksr, clock):
    records.call_routed("inbound", "+14155550101", "acme")
    timing.started("inbound", "acme", "1")
    clock[0] = 1000.3
    timing.provisional(180)
    clock[0] = 1001.5
    records.answered(200)
    assert ksr.dlg_vars["pdd_ms"] == "300" and ksr.dlg_vars["answer_ms"] == "1500"
    assert observed(ksr, metrics.ANSWER_DELAY) == [("1.500000", "inbound", "acme", "1")]


def test_an_answer_without_ringing_has_a_time_to_answer_and_no_post_dial_delay(ksr, clock):
    records.call_routed("inbound", "+14155550101", "")
    timing.started("inbound", "", "1")
    clock[0] = 1000.2
    records.answered(200)
    assert "pdd_ms" not in ksr.dlg_vars and ksr.dlg_vars["answer_ms"] == "200"
    assert observed(ksr, metrics.POST_DIAL_DELAY) == []


def test_a_failover_times_the_new_attempt_from_its_own_start(ksr, clock):
    timing.started("inbound", "", "1")
    clock[0] = 1002.0
    timing.provisional(180)  # the first gateway rang, then failed
    clock[0] = 1005.0
    timing.started("inbound", "", "3")
    clock[0] = 1005.1
    timing.provisional(180)
    assert observed(ksr, metrics.POST_DIAL_DELAY) == [("2.000000", "inbound", "none", "1"),
                                                       ("0.100000", "inbound", "none", "3")]


def test_a_failed_call_that_rang_records_its_post_dial_delay_only(ksr, clock):
    records.call_routed("outbound", "+12125550100", "")
    timing.started("outbound", "", "10")
    clock[0] = 1000.7
    timing.provisional(180)
    records.failed(486)
    assert ksr.dlg_vars["pdd_ms"] == "700" and "answer_ms" not in ksr.dlg_vars and ksr.dlg_vars["code"] == "486"


@pytest.mark.parametrize("value", [None, 3, "", "x inbound - 1", "1.0 inbound -", "1.0 inbound 1"])
def test_an_attempt_value_that_is_not_ours_is_ignored(ksr, clock, value):
    assert timing.decode(value) is None
    if value is not None:
        ksr.pvs[timing.ATTEMPT_AVP] = value
    timing.provisional(180)
    assert timing.answered() == (None, None)
    assert observed(ksr, metrics.POST_DIAL_DELAY) == observed(ksr, metrics.ANSWER_DELAY) == []
