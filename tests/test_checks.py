"""The test tools catch what they exist to catch (``testbenches/checks``): the stream sink's
protocol checks and the host's reply checks raise on a puppet fabric made to misbehave, and
do not on the same traffic done right."""

import pytest

from tessera.hdl.params import resolve_params
from tessera.sim.runner import TESTBENCHES, CocotbFailure, build, run_testbench
from tessera.testbenches.checks.puppet import TOP, puppet_verilog


def test_the_checks_raise_on_a_misbehaving_fabric():
    params = resolve_params("tiny", overrides={"rows": 1, "cols": 1})
    runner, build_dir = build("checks-puppet", puppet_verilog(params), toplevel=TOP)
    try:
        run_testbench(runner, build_dir, toplevel=TOP, test_dir=TESTBENCHES / "checks",
                      test_module="test_checks", params=params, minimum=7,
                      what="test-tool checks on a puppet fabric")
    except CocotbFailure as e:
        pytest.fail(str(e), pytrace=False)
