"""Build Verilog with Verilator (or Icarus) and run cocotb testbenches on it, through cocotb's
Python runner.

Every testbench entry point and benchmark goes through :func:`build` and :func:`run_tests`, so
the Verilator set-up (:func:`sim.verilator.setup_verilator`) and build flags live in one place.
Verilator is the simulator of every test and benchmark; Icarus Verilog, an event-driven
four-state simulator, runs the same testbenches on small designs to catch Verilog that only a
two-state simulator forgives (X that Verilator turns into 0).
"""

import contextlib
import fcntl
import hashlib
import os
import sys
from pathlib import Path

from .. import testbenches as _testbenches_package
from .verilator import BUILD_ARGS, setup_verilator

__all__ = ["TESTBENCHES", "BUILD_ROOT", "SIMULATORS", "build", "build_dir_lock", "run_tests",
           "run_testbench", "failure_report", "CocotbFailure", "IcarusMissing"]

# The cocotb testbenches, one folder per design (``router``, ``fabric``): installed as the
# package ``tessera.testbenches``, so found the same way from a checkout or a wheel.
TESTBENCHES = Path(_testbenches_package.__file__).resolve().parent
# Builds go here, one directory per design and parameter set: ``$TESSERA_BUILD_DIR``, or
# ``build/`` under the working directory (never inside the installed package).
BUILD_ROOT = Path(os.environ.get("TESSERA_BUILD_DIR") or Path.cwd() / "build").resolve()


# The simulators :func:`build` knows.
SIMULATORS = ("verilator", "icarus")


class CocotbFailure(AssertionError):
    """A cocotb test run reported failures."""


class IcarusMissing(RuntimeError):
    """Icarus Verilog (``iverilog``, ``vvp``) is not on PATH."""


def build(name, verilog, *, toplevel, build_args=(), waves=False, build_root=None,
          public="top", simulator="verilator"):
    """Write ``verilog`` and build it with Verilator; return ``(runner, build_dir)``.

    ``simulator="icarus"`` builds it with Icarus Verilog instead (``iverilog``, a prerequisite
    named in the README); ``build_args`` are then Icarus's and ``public`` does not apply.

    The build directory is named after ``name`` and a hash of the Verilog and arguments, so a
    rebuild of identical input is skipped by make and different parameter sets never collide.

    ``public`` says which signals cocotb can reach: ``"top"`` (the default: only the top
    module's ports and wires, through a Verilator control file) or ``"all"`` (cocotb's own
    default, ``--public-flat-rw``: every signal of every instance, for looking inside while
    debugging). A symbol-table entry per internal signal is most of the C++ otherwise: for a
    4x4 fabric ``"top"`` cut the Verilator build from about 80 s of CPU time to 42 s, and the
    router with virtual channels took g++ over eight minutes with ``"all"``.
    """
    if public not in ("all", "top"):
        raise ValueError(f"public must be 'all' or 'top', not {public!r}")
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if simulator == "icarus":
        return _build_icarus(name, verilog, toplevel=toplevel, build_args=build_args,
                             waves=waves, build_root=build_root)
    setup_verilator()
    from cocotb_tools.runner import get_runner

    args = [*BUILD_ARGS, *build_args]
    build_dir, source = _source_in_build_dir(name, verilog, toplevel, build_root,
                                             repr(args) + repr(waves) + repr(public))
    sources = [source]
    if public == "all":
        runner = get_runner("verilator")
    else:
        runner = _top_public_verilator()
        control = build_dir / "public.vlt"
        text = f'`verilator_config\npublic_flat_rw -module "{toplevel}" -var "*"\n'
        if not control.exists() or control.read_text() != text:
            control.write_text(text)
        sources.insert(0, control)
    with build_dir_lock(build_dir):
        runner.build(
            sources=sources,
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            build_args=args,
            waves=waves,
            log_file=build_dir / "build.log",
        )
    return runner, build_dir


@contextlib.contextmanager
def build_dir_lock(build_dir):
    """Hold ``build_dir`` alone: parallel test workers (``pytest -n``) or two benchmarks that
    build or run the same design take turns instead of racing ``make`` or overwriting each
    other's results and logs (a lock file in the directory; released when the holder exits,
    however it exits)."""
    with open(Path(build_dir) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _source_in_build_dir(name, verilog, toplevel, build_root, options):
    """``(build_dir, source)``: the directory named after ``name`` and a hash of the Verilog and
    ``options``, and ``verilog`` written in it (only if changed, so make sees no change)."""
    digest = hashlib.sha256((verilog + options).encode()).hexdigest()[:10]
    build_dir = Path(build_root or BUILD_ROOT) / f"{name}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    if not source.exists() or source.read_text() != verilog:
        source.write_text(verilog)
    return build_dir, source


def _build_icarus(name, verilog, *, toplevel, build_args, waves, build_root):
    import shutil

    from cocotb_tools.runner import get_runner

    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            raise IcarusMissing(f"Icarus Verilog's '{tool}' is not on PATH; install it "
                                f"(Debian: apt-get install iverilog; see README.md, "
                                f"prerequisites)")
    args = list(build_args)
    build_dir, source = _source_in_build_dir(f"{name}-icarus", verilog, toplevel, build_root,
                                             repr(args) + repr(waves))
    runner = get_runner("icarus")
    with build_dir_lock(build_dir):
        runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                     build_args=args, waves=waves, timescale=("1ns", "1ps"),
                     log_file=build_dir / "build.log")
    return runner, build_dir


def _top_public_verilator():
    from cocotb_tools.runner import Verilator

    class TopPublicVerilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw``; a control file says what
        is public instead."""

        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            return commands

    return TopPublicVerilator()


def run_tests(runner, build_dir, *, toplevel, test_module, test_dir, testcase=None,
              extra_env=None, waves=False, seed=None):
    """Run cocotb tests of ``test_module`` (found in ``test_dir``); raise if any failed.

    ``extra_env`` passes settings (for example the parameter set as JSON) to the testbench; it
    wins over the caller's environment. Returns the number of tests run; raises
    :class:`CocotbFailure`, naming the log, if any failed or the simulation died.
    """
    from cocotb_tools.runner import get_results

    test_dir = str(Path(test_dir).resolve())
    log = Path(build_dir) / f"{test_module}.log"
    results_xml = Path(build_dir).resolve() / f"results-{test_module}.xml"
    # One run at a time per build directory (its results file and log are named per test
    # module), until the results are read. cocotb's runner hands the simulator PYTHONPATH =
    # sys.path and lays os.environ over extra_env, so both are set for the run and restored.
    with build_dir_lock(build_dir):
        saved_path = list(sys.path)
        saved_env = {k: os.environ.get(k) for k in (extra_env or {})}
        sys.path.insert(0, test_dir)
        os.environ.update(extra_env or {})
        try:
            results_xml.unlink(missing_ok=True)  # never read a previous run's results
            results = runner.test(
                test_module=test_module,
                hdl_toplevel=toplevel,
                testcase=testcase,
                build_dir=build_dir,
                test_dir=build_dir,
                waves=waves,
                seed=seed,
                results_xml=str(results_xml),
                log_file=log,
            )
        except SystemExit as e:
            # Under pytest the runner exits instead of returning when a test failed or the
            # simulation died.
            if not results_xml.exists():
                raise CocotbFailure(f"simulation of {test_module} ended (status {e.code}) "
                                    f"without results (log: {log})") from None
            results = results_xml
        finally:
            sys.path[:] = saved_path
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        total, failed = get_results(results)
    if failed or total == 0:
        raise CocotbFailure(f"{failed} of {total} cocotb tests failed in {test_module} "
                            f"(log: {log})")
    return total


def run_testbench(runner, build_dir, *, toplevel, test_dir, test_module, params, minimum, what,
                  testcase=None, env=None):
    """Run a testbench of ``test_dir`` on a design built for ``params``, the way every pytest
    entry point does: the parameter set as JSON in ``TESSERA_PARAMS``, cocotb's seed from
    ``TESSERA_SEED`` (default 1, so runs repeat); ``env``: more variables for the testbench.
    Returns the number of tests run.

    Raises :class:`CocotbFailure` whose message names ``what`` (the design and parameter set),
    the seed and each failed test with the end of its traceback, or says that fewer than
    ``minimum`` tests ran."""
    import json

    seed = int(os.environ.get("TESSERA_SEED", "1"))
    try:
        total = run_tests(runner, build_dir, toplevel=toplevel, test_module=test_module,
                          test_dir=test_dir, seed=seed, testcase=testcase,
                          extra_env={"TESSERA_PARAMS": json.dumps(params.as_dict()),
                                     **(env or {})})
    except CocotbFailure as e:
        raise CocotbFailure(f"{what}, seed {seed}: {e}\n"
                            + failure_report(Path(build_dir) / f"{test_module}.log",
                                             test_module)) from None
    if total < minimum:
        raise CocotbFailure(f"{what}: only {total} cocotb tests ran, expected {minimum} or more")
    return total


def failure_report(log_path, test_module, *, error_lines=14, tail_lines=60):
    """Each failed cocotb test of ``test_module`` in a log, with the end of its traceback; or
    the log's last lines when none is found (a simulation that died before its tests)."""
    import re

    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError as e:
        return f"log {log_path} unreadable: {e}"
    report = []
    for k, line in enumerate(lines):
        if re.search(rf"{test_module}\.\S+ failed$", line):
            # The traceback runs until the regression manager's next line.
            end = next((j for j in range(k + 1, len(lines)) if "cocotb.regression" in lines[j]),
                       len(lines))
            report += [line.strip(), *lines[k + 1:end][-error_lines:], ""]
    if not report:
        report = [f"--- last {tail_lines} lines ---", *lines[-tail_lines:]]
    return f"log: {log_path}\n" + "\n".join(report)
