"""Build Verilog with Verilator and run cocotb testbenches on it, through cocotb's Python runner.

Every testbench entry point and benchmark goes through :func:`build` and :func:`run_tests`, so
the Verilator set-up (:func:`sim.verilator.setup_verilator`) and build flags live in one place.
"""

import hashlib
import os
import sys
from pathlib import Path

from .verilator import BUILD_ARGS, setup_verilator

__all__ = ["REPO_ROOT", "BUILD_ROOT", "build", "run_tests", "CocotbFailure"]

REPO_ROOT = Path(__file__).resolve().parent.parent
# Verilator builds go here, one directory per design and parameter set.
BUILD_ROOT = Path(os.environ.get("TESSERA_BUILD_DIR", REPO_ROOT / "build"))


class CocotbFailure(AssertionError):
    """A cocotb test run reported failures."""


def build(name, verilog, *, toplevel, build_args=(), waves=False, build_root=None):
    """Write ``verilog`` and build it with Verilator; return ``(runner, build_dir)``.

    The build directory is named after ``name`` and a hash of the Verilog and arguments, so a
    rebuild of identical input is skipped by make and different parameter sets never collide.
    """
    setup_verilator()
    from cocotb_tools.runner import get_runner

    args = [*BUILD_ARGS, *build_args]
    digest = hashlib.sha256((verilog + repr(args) + repr(waves)).encode()).hexdigest()[:10]
    build_dir = Path(build_root or BUILD_ROOT) / f"{name}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    if not source.exists() or source.read_text() != verilog:
        source.write_text(verilog)
    runner = get_runner("verilator")
    runner.build(
        verilog_sources=[source],
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        build_args=args,
        waves=waves,
        log_file=build_dir / "build.log",
    )
    return runner, build_dir


def run_tests(runner, build_dir, *, toplevel, test_module, test_dir, testcase=None,
              extra_env=None, waves=False, seed=None):
    """Run cocotb tests of ``test_module`` (found in ``test_dir``); raise if any failed.

    ``extra_env`` passes settings (for example the parameter set as JSON) to the testbench.
    """
    from cocotb_tools.runner import get_results

    test_dir = Path(test_dir)
    env = dict(extra_env or {})
    # The testbench imports tessera.* and its own folder.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(test_dir), env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))] if p)
    results = runner.test(
        test_module=test_module,
        hdl_toplevel=toplevel,
        testcase=testcase,
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env=env,
        waves=waves,
        seed=seed,
        results_xml=f"results-{test_module}.xml",
        log_file=Path(build_dir) / f"{test_module}.log",
    )
    total, failed = get_results(results)
    if failed or total == 0:
        raise CocotbFailure(f"{failed} of {total} cocotb tests failed in {test_module} "
                            f"(log: {Path(build_dir) / (test_module + '.log')})")
    return total
