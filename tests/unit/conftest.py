import sys

import pytest

from tests.unit.fake_ksr import FakeKSR

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
