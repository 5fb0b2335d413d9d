"""The fabric's cocotb testbench under Verilator on a fabric whose tiles have their cores.

The same testbench and helpers as ``tests/test_fabric_verilator.py``; a file of its own so that
pytest-xdist (``--dist loadfile``) builds it beside the network-only shapes, not after them.
"""

import pytest

from test_fabric_verilator import CORE_SHAPES, build_fabric, run_fabric_testbench

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=list(CORE_SHAPES))
def fabric_core_model(request):
    return build_fabric(request.param, CORE_SHAPES[request.param], core=True)


def test_fabric_testbench_with_cores(fabric_core_model):
    run_fabric_testbench(fabric_core_model, core=True)
