"""Post-dial delay and time to answer per attempt (kemi/telemetry/timing.py), into metrics and the call record."""

import pytest

from kemi.telemetry import metrics, records, timing
from tests.unit.test_routes import make_routes


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(timing.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def wall(monkeypatch):
    """The wall clock, 5000 s ahead of the monotonic one."""
    now = [6000.0]
    monkeypatch.setattr(timing.time, "time", lambda: now[0])
    return now


def read_at(ksr, seconds: float) -> None:
    """The current reply was read from its socket at this wall-clock time (Kamailio's $TV)."""
    ksr.pvs["$TV(s)"], ksr.pvs["$TV(u)"] = int(seconds), round(seconds % 1 * 1e6)


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


def test_a_reply_is_timed_from_when_it_was_read_not_from_when_a_worker_reached_it(ksr, clock, wall):
    timing.started("inbound", "", "1")
    clock[0], wall[0] = 1000.5, 6000.5
    read_at(ksr, 6000.3)  # read at +0.3 s, its worker busy for 0.2 s
    timing.provisional(180)
    assert timing.ringing() == pytest.approx(0.3)


@pytest.mark.parametrize("read", [6000.5 + 11, 6000.5 - 11])
def test_a_stamp_further_than_the_plausible_wait_means_the_wall_clock_stepped_and_is_ignored(ksr, clock, wall, read):
    timing.started("inbound", "", "1")
    clock[0], wall[0] = 1000.5, 6000.5
    read_at(ksr, read)
    timing.provisional(180)
    assert timing.ringing() == pytest.approx(0.5)


def test_a_180_handled_after_its_200_still_gives_the_call_record_its_post_dial_delay(ksr, clock, wall):
    """Two workers: the 200 (read at +0.35 s) reached dialog:start before the 180 (read at +0.3 s) was
    handled; the 180's handler records its delay, and the answer stays after the ringing."""
    records.call_routed("inbound", "+14155550101", "")
    timing.started("inbound", "", "1")
    clock[0], wall[0] = 1000.4, 6000.4
    read_at(ksr, 6000.35)
    records.answered(200)
    assert "pdd_ms" not in ksr.dlg_vars and ksr.dlg_vars["answer_ms"] == "350"
    clock[0], wall[0] = 1000.45, 6000.45
    read_at(ksr, 6000.3)
    ksr.returns["kx.get_status"] = 180
    make_routes().reply_media(None)
    assert ksr.dlg_vars["pdd_ms"] == "300" and ksr.dlg_vars["answer_ms"] == "350"
    assert ksr.dlg_vars["code"] == "200"


def test_a_180_before_the_answer_leaves_the_record_to_the_answer(ksr, clock):
    records.call_routed("inbound", "+14155550101", "")
    timing.started("inbound", "", "1")
    clock[0] = 1000.3
    ksr.returns["kx.get_status"] = 180
    make_routes().reply_media(None)
    assert "pdd_ms" not in ksr.dlg_vars
    clock[0] = 1000.4
    records.answered(200)
    assert ksr.dlg_vars["pdd_ms"] == "300" and ksr.dlg_vars["answer_ms"] == "400"


def test_a_180_stamped_after_its_200_rang_as_it_answered(ksr, clock, wall):
    """A worker preempted between reading the 180 and stamping it: the record never rings after the answer."""
    records.call_routed("inbound", "+14155550101", "")
    timing.started("inbound", "", "1")
    clock[0], wall[0] = 1000.38, 6000.38
    read_at(ksr, 6000.37)  # stamped late, though read before the 200
    timing.provisional(180)
    read_at(ksr, 6000.36)
    clock[0], wall[0] = 1000.4, 6000.4
    records.answered(200)
    assert ksr.dlg_vars["pdd_ms"] == ksr.dlg_vars["answer_ms"] == "360"


def test_a_late_180_read_after_the_recorded_answer_is_no_later_than_it(ksr, clock, wall):
    records.call_routed("inbound", "+14155550101", "")
    timing.started("inbound", "", "1")
    clock[0], wall[0] = 1000.4, 6000.4
    read_at(ksr, 6000.35)
    records.answered(200)
    read_at(ksr, 6000.37)
    ksr.returns["kx.get_status"] = 180
    make_routes().reply_media(None)
    assert ksr.dlg_vars["pdd_ms"] == ksr.dlg_vars["answer_ms"] == "350"
