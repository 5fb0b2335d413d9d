"""Tiles with compute cores under Verilator (``testbenches/core``): random programs through the
fabric's edge against the reference model, and a core reloaded and restarted.

``TESSERA_CORE_PROGRAMS`` sets the number of random programs (default 40 here);
``TESSERA_SEED`` the seed (default 1).
"""

import os

import pytest

from tessera.hdl.fabric import FABRIC_MODULE, TILE_MODULE, fabric_verilog
from tessera.hdl.params import resolve_params
from tessera.sim.runner import TESTBENCHES, CocotbFailure, build, run_testbench

pytestmark = pytest.mark.slow

PARAMS = resolve_params("default", overrides={"rows": 1, "cols": 1})


@pytest.fixture(scope="module")
def core_model():
    files = fabric_verilog(PARAMS, core=True)
    verilog = files[f"{TILE_MODULE}.v"] + files[f"{FABRIC_MODULE}.v"]
    return build("core-1x1", verilog, toplevel=FABRIC_MODULE, public="top")


def test_core_testbench(core_model):
    runner, build_dir = core_model
    os.environ.setdefault("TESSERA_CORE_PROGRAMS", "40")
    try:
        run_testbench(runner, build_dir, toplevel=FABRIC_MODULE, test_module="test_core",
                      test_dir=TESTBENCHES / "core", params=PARAMS, minimum=2,
                      what="core testbench, 1x1 default")
    except CocotbFailure as e:
        pytest.fail(str(e), pytrace=False)
