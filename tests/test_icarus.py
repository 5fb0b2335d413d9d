"""The router and fabric testbenches under Icarus Verilog: a second, four-state simulator.

Verilator is two-state (X becomes 0), so it forgives Verilog that a standard event-driven
simulator gets wrong; Icarus does not. Every kind of generated design runs its own cocotb
testbench here, unchanged: the router (``tessera_router``), a one-tile fabric (the tile with each
of its four sides at the fabric's edge) and 2x2 fabrics of the default and smallest presets.
A last test keeps the check honest: Amaranth's own Verilog back end, which
``hdl/verilog_text.py`` replaces, leaves reply bits X under Icarus and the same testbench fails.

Icarus is a prerequisite (README): these tests fail, never skip, when it is missing.
"""

import pytest
from amaranth.back import verilog as amaranth_verilog

from tessera.hdl.emit import ROUTER_TOP, router_verilog
from tessera.hdl.fabric import FABRIC_MODULE, TILE_MODULE, fabric_module_verilog, fabric_verilog
from tessera.hdl.params import resolve_params
from tessera.hdl.tile import Tile
from tessera.sim.runner import TESTBENCHES, CocotbFailure, build, run_testbench

pytestmark = pytest.mark.slow

FABRICS = {
    "1x1": resolve_params("default", overrides={"rows": 1, "cols": 1}),
    "2x2": resolve_params("default", overrides={"rows": 2, "cols": 2}),
    "2x2-tiny": resolve_params("tiny", overrides={"data_width": 16}),
}


def fabric_text(params):
    files = fabric_verilog(params)
    return files[f"{TILE_MODULE}.v"] + files[f"{FABRIC_MODULE}.v"]


def run_fabric(name, params, verilog, *, testcase=None, minimum=9):
    runner, build_dir = build(f"fabric-{name}", verilog, toplevel=FABRIC_MODULE,
                              simulator="icarus")
    return run_testbench(runner, build_dir, toplevel=FABRIC_MODULE, test_module="test_fabric",
                         test_dir=TESTBENCHES / "fabric", params=params, minimum=minimum,
                         testcase=testcase, what=f"fabric testbench under Icarus, shape {name}")


@pytest.mark.parametrize("name", list(FABRICS))
def test_fabric_testbench_under_icarus(name):
    params = FABRICS[name]
    try:
        run_fabric(name, params, fabric_text(params))
    except CocotbFailure as e:
        pytest.fail(str(e), pytrace=False)


def test_router_testbench_under_icarus():
    params = resolve_params("default")
    runner, build_dir = build("router-default", router_verilog(params), toplevel=ROUTER_TOP,
                              simulator="icarus")
    try:
        run_testbench(runner, build_dir, toplevel=ROUTER_TOP, test_module="test_router",
                      test_dir=TESTBENCHES / "router", params=params, minimum=30,
                      what="router testbench under Icarus, default preset")
    except CocotbFailure as e:
        pytest.fail(str(e), pytrace=False)


def test_amaranths_own_verilog_fails_under_icarus():
    """The design as Amaranth's back end writes it (constant bits in ``always @*`` blocks that
    never run) must fail the testbench: proof that it sees X."""
    params = FABRICS["1x1"]
    raw = (amaranth_verilog.convert(Tile(params), name=TILE_MODULE, emit_src=False)
           + fabric_module_verilog(params))
    with pytest.raises(CocotbFailure, match=r" [1-9][0-9]* of [0-9]+ cocotb tests failed"):
        run_fabric("1x1-amaranth-back-end", params, raw,
                   testcase=["load_and_read_back/edges=west"], minimum=1)
