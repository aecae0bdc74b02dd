"""The bench's KSR crossing counter (kemi/ksrcount.py): what it counts, where it writes, what it refuses."""

import os
import sys
import types

import pytest

from kemi import ksrcount


def fake_ksr(written: dict):
    real = types.ModuleType("KSR")
    real.tm = types.ModuleType("KSR.tm")
    real.tm.t_relay = lambda: 1
    real.is_ACK = lambda: False
    real.htable = types.ModuleType("KSR.htable")
    real.htable.sht_seti = lambda table, key, value: written.__setitem__((table, key), value)
    return real


def test_every_function_called_through_the_stand_in_is_counted_submodules_included(monkeypatch):
    monkeypatch.setattr(ksrcount, "_crossings", [0])
    counting = ksrcount.Counting(fake_ksr({}))
    assert counting.tm.t_relay() == 1 and counting.is_ACK() is False and counting.tm.t_relay() == 1
    assert ksrcount._crossings == [3]


def test_an_entry_points_totals_go_to_the_htable_through_the_real_ksr_uncounted(monkeypatch):
    written = {}
    counting = ksrcount.Counting(fake_ksr(written))
    monkeypatch.setattr(ksrcount, "ENABLED", True)
    monkeypatch.setattr(ksrcount, "_crossings", [0])
    monkeypatch.setattr(ksrcount, "_by_function", {})
    monkeypatch.setattr(ksrcount, "_written", {})
    monkeypatch.setitem(sys.modules, "KSR", counting)
    handler = ksrcount.counted("ksr_request_route", lambda msg=None: counting.tm.t_relay() + counting.tm.t_relay())
    assert handler(None) == 2 and handler(None) == 2
    pid = os.getpid()
    assert written == {("sbcstate", f"ksr:ksr_request_route:{pid}"): 4,
                       ("sbcstate", f"runs:ksr_request_route:{pid}"): 2,
                       ("sbcstate", f"fn:ksr_request_route/tm.t_relay:{pid}"): 4}
    assert ksrcount._crossings == [4]  # the htable writes were not counted


def test_off_nothing_is_wrapped(monkeypatch):
    monkeypatch.setattr(ksrcount, "ENABLED", False)
    handler = object()
    assert ksrcount.counted("ksr_request_route", handler) is handler


def test_totals_are_summed_over_processes_per_entry_point():
    items = {"ksr:ksr_request_route:101": 30, "ksr:ksr_request_route:102": 12, "runs:ksr_request_route:101": 3,
             "runs:ksr_request_route:102": 1, "ksr:reply_media:101": 8, "runs:reply_media:101": 2, "generation": 7}
    assert ksrcount.per_entry(items) == {"ksr_request_route": (42, 4), "reply_media": (8, 2)}


def test_totals_are_summed_over_processes_per_ksr_function():
    items = {"fn:pv.get:101": 30, "fn:pv.get:102": 12, "fn:tm.t_relay:101": 3, "ksr:reply_media:101": 8}
    assert ksrcount.per_function(items) == {"pv.get": 42, "tm.t_relay": 3}


def test_a_deployment_refuses_the_counter():
    with pytest.raises(ValueError, match="SBC_BENCH_COUNT_KSR"):
        ksrcount._enabled({"SBC_BENCH_COUNT_KSR": "1", "DROP_PRIVILEGES": "1"})
    assert ksrcount._enabled({"SBC_BENCH_COUNT_KSR": "1"}) is True and ksrcount._enabled({}) is False
