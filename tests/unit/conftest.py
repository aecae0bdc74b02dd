import sys

import pytest
from hypothesis import settings

from tests.unit.fake_ksr import FakeKSR

# Generated tests assert what is decided, never how fast: hypothesis' 200 ms deadline per example would fail
# one that a busy host (make test builds the image beside them) ran slowly. print_blob: a failure's replay.
settings.register_profile("sbc", deadline=None, print_blob=True)
settings.load_profile("sbc")

# kemi.routes does `import KSR`: give it the fake before anything imports it.
_KSR = FakeKSR()
sys.modules["KSR"] = _KSR


@pytest.fixture
def ksr():
    _KSR.calls.clear()
    _KSR.returns.clear()
    _KSR.pvs.clear()
    _KSR.dlg_vars.clear()
    return _KSR
