"""The fabric's cocotb testbench (``testbenches/fabric``) under Verilator, per fabric shape.

Each shape is built once (a module-scoped fixture; ``sim.runner.build`` names the build
directory by a hash of the Verilog) and runs every cocotb test of the testbench in one
simulation. Only the fabric's top-level ports are made visible to cocotb (``public="top"``):
the testbench needs nothing else, and making every signal of every tile public is most of the
build (4x4, CPU time of the whole build: 80 s against 42 s). With that, Verilator's default
inlining builds faster than ``-fno-inline`` (42 s against 52-59 s over two builds each), so no
build flag is added. The simulations themselves take a few seconds per shape.
``TESSERA_SEED`` sets cocotb's random seed (default 1, so runs repeat).
"""

import pytest

from tessera.hdl.fabric import FABRIC_MODULE, TILE_MODULE, fabric_verilog
from tessera.hdl.params import resolve_params
from tessera.sim.runner import TESTBENCHES, CocotbFailure, build, run_testbench

pytestmark = pytest.mark.slow

TESTBENCH_DIR = TESTBENCHES / "fabric"
TEST_MODULE = "test_fabric"
# Measured against -fno-inline: see the module docstring.
BUILD_ARGS = []

SHAPES = {
    # One tile: every edge port of the fabric is a port of the same tile.
    "1x1": resolve_params("default", overrides={"rows": 1, "cols": 1}),
    # The smallest widths (16-bit wavelets, 8-bit tags, queues of 2, one SRAM bank).
    "2x2-tiny": resolve_params("tiny", overrides={"data_width": 16}),
    # The default preset.
    "4x4": resolve_params("default"),
    # Not square: rows and columns must not be swapped anywhere.
    "3x5": resolve_params("default", overrides={"rows": 3, "cols": 5}),
}
# Tiles with their compute cores (as tessera generate writes them), not started: the network,
# the memory agent and the edges work the same beside them. Their own file
# (tests/test_fabric_core_verilator.py), so that pytest-xdist's `--dist loadfile` builds them on
# another worker than the network-only shapes (the build is the longest of all).
CORE_SHAPES = {
    "2x2-core": resolve_params("default", overrides={"rows": 2, "cols": 2}),
}


def build_fabric(name, params, *, core):
    """``(name, params, runner, build_dir)`` of a Verilator build of the fabric."""
    files = fabric_verilog(params, core=core)
    verilog = files[f"{TILE_MODULE}.v"] + files[f"{FABRIC_MODULE}.v"]
    runner, build_dir = build(f"fabric-{name}", verilog, toplevel=FABRIC_MODULE,
                              build_args=BUILD_ARGS, public="top")
    return name, params, runner, build_dir


def run_fabric_testbench(fabric_model, *, core):
    name, params, runner, build_dir = fabric_model
    try:
        run_testbench(runner, build_dir, toplevel=FABRIC_MODULE, test_module=TEST_MODULE,
                      test_dir=TESTBENCH_DIR, params=params, minimum=9,
                      what=f"fabric testbench, shape {name}",
                      env={"TESSERA_FABRIC_CORES": "1" if core else "0"})
    except CocotbFailure as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module", params=list(SHAPES))
def fabric_model(request):
    return build_fabric(request.param, SHAPES[request.param], core=False)


def test_fabric_testbench(fabric_model):
    run_fabric_testbench(fabric_model, core=False)
