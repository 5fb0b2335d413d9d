"""The router's cocotb testbench (``testbenches/router``) under Verilator, per parameter set.

Each parameter set is built once (a module-scoped fixture; ``sim.runner.build`` names the build
directory by a hash of the Verilog, so parallel workers never share one) and runs every cocotb
test of the testbench in one simulation. A failure shows the log path and, for each failed cocotb
test, the end of its traceback. ``TESSERA_SEED`` sets cocotb's random seed (default 1, so runs
repeat).
"""

import pytest

from tessera.hdl.emit import ROUTER_TOP, router_verilog
from tessera.hdl.params import resolve_params
from tessera.sim.runner import TESTBENCHES, CocotbFailure, build, run_testbench

pytestmark = pytest.mark.slow

TESTBENCH_DIR = TESTBENCHES / "router"
TEST_MODULE = "test_router"

PARAM_SETS = {
    "default": resolve_params("default"),
    # 16-bit wavelets, 4 colors, queues of 2: every width and depth at its smallest.
    "tiny": resolve_params("tiny", overrides={"data_width": 16}),
    # 24 colors: a route table that is not a power of two, colors beyond it in the field.
    "wse": resolve_params("wse"),
    # The widest wavelet and deep queues; every color in one shared channel.
    "wide": resolve_params("default", overrides={"data_width": 64, "queue_depth": 8,
                                                 "color_channels": 1}),
}


@pytest.fixture(scope="module", params=sorted(PARAM_SETS))
def router_model(request):
    """``(name, params, runner, build_dir)`` of a Verilator build of the router."""
    params = PARAM_SETS[request.param]
    runner, build_dir = build(f"router-{request.param}", router_verilog(params),
                              toplevel=ROUTER_TOP)
    return request.param, params, runner, build_dir


def test_router_testbench(router_model):
    name, params, runner, build_dir = router_model
    try:
        run_testbench(runner, build_dir, toplevel=ROUTER_TOP, test_module=TEST_MODULE,
                      test_dir=TESTBENCH_DIR, params=params, minimum=30,
                      what=f"router testbench, parameter set {name!r}")
    except CocotbFailure as e:
        pytest.fail(str(e), pytrace=False)
