"""Argument types and small helpers shared by the command-line front ends."""

import argparse
import json
import os
import re
import sys
import time

__all__ = ["HelpFormatter", "RUN_TIMES", "timed_help", "add_fpga_arguments", "add_json_argument",
           "run_benchmark", "progress", "parse_int", "positive_int", "positive_float", "share",
           "name_list", "int_list", "shape_list", "check_shapes", "output_file", "path_problem",
           "nearest_existing", "write_json"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds an option's default to its help, written as it is typed (``4x4,8x8``, ``1,2``),
    unless the help already says it or there is none to show (``None``, an on or off switch)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        # (A store_false switch such as --no-core has the default True: nothing to show.)
        if ("(default" in text or default is None or default is False or default == []
                or isinstance(action, argparse._StoreFalseAction)
                or default is argparse.SUPPRESS
                or not (action.option_strings
                        or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))):
            return text
        shown = _as_typed(default).replace("%", "%%")
        return f"{text} (default: {shown})"


def _as_typed(value):
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(v, int) for v in value) and \
                not isinstance(value, list):
            return f"{value[0]}x{value[1]}"        # a shape
        return ",".join(_as_typed(v) for v in value)
    return str(value)


# How long each benchmark runs with its defaults, measured on the 2-core machine of
# docs/benchmarks.md on 2026-12-01 (fabric-fpga: 19 min on the faster machine there, 46 min on
# this one with a test run beside it; most of it nextpnr on the 4x4), network and fabric-fpga
# again on 2026-12-02 with the router's virtual channels (network: 36 min with two other jobs
# beside it, 18 of them the Verilator build; fabric-fpga's 2x2 alone took 11-23 min).
RUN_TIMES = {
    "router": "about 4 min",
    "fpga": "about 8 min; up to 20 min with --seeds 1,2,3",
    "generate": "about 5 s",
    "sram": "about 1.5 min",
    "load": "about 2 min",
    "fabric-fpga": "30-90 min",
    "core": "about 2 min",
    "network": "20-40 min (the Verilator build, then 30 windows on 64 routers)",
    "verilator": "about 13 min",
}


def timed_help(benchmark, text):
    """A benchmark's one-line help with its run time (:data:`RUN_TIMES`) appended."""
    return f"{text} [{RUN_TIMES[benchmark]}]"


def progress():
    """A progress printer for long steps: elapsed seconds, then the step, on stderr."""
    start = time.perf_counter()

    def say(message):
        print(f"[{time.perf_counter() - start:7.1f} s] {message}", file=sys.stderr, flush=True)
    return say


def parse_int(text):
    """An integer as typed on a command line: decimal (leading zeros allowed: ``08`` is 8) or
    with a ``0x``, ``0o`` or ``0b`` prefix. Raises ``ValueError`` for anything else."""
    text = text.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text, 10)
    return int(text, 0)


def positive_int(text):
    try:
        value = parse_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def share(text):
    """A share of a whole: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], not {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return value


def name_list(choices):
    """A parser of comma-separated names, each one of ``choices``."""
    def parse(text):
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"must be a comma-separated list of {', '.join(choices)}, not {text!r}")
        return names
    return parse


def int_list(text):
    try:
        values = [parse_int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a comma-separated list of integers, not {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"must name at least one integer, not {text!r}")
    return values


def shape_list(text, *, allow_tile=False):
    """Comma-separated shapes ``RxC`` (and ``tile`` if ``allow_tile``) -> list of ``(R, C)``."""
    shapes = []
    for item in (i.strip().lower() for i in text.split(",")):
        if not item:
            continue
        if allow_tile and item == "tile":
            shapes.append("tile")
            continue
        try:
            rows, cols = (int(v) for v in item.split("x"))
        except ValueError:
            rows = cols = 0
        if rows < 1 or cols < 1:
            kinds = "'tile' or RxC" if allow_tile else "RxC"
            raise argparse.ArgumentTypeError(
                f"shapes must be {kinds} like 4x4,16x16, not {text!r}")
        shapes.append((rows, cols))
    if not shapes:
        raise argparse.ArgumentTypeError(f"must name at least one shape, not {text!r}")
    return shapes


def nearest_existing(path):
    """The nearest of ``path`` and its ancestors that exists (absolute)."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    return existing


def path_problem(path):
    """Why a file cannot be written at ``path``, or ``None``.

    Missing parent folders are fine (they are created); a directory at ``path``, a parent that
    is a file, or a parent that cannot be written or takes no files is not."""
    if not path:
        return "it is empty"
    if os.path.isdir(path):
        return f"{path!r} is a directory"
    existing = nearest_existing(os.path.dirname(os.path.abspath(path)))
    if not os.path.isdir(existing):
        return f"{existing!r} in {path!r} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing!r} is not writable"
    try:  # what os.access cannot tell (root, or a file system that takes no files: /proc)
        import tempfile
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        return f"{existing!r} takes no new files ({e.strerror or e})"
    return None


def output_file(text):
    """An argparse type: a file path that can be written (see :func:`path_problem`), checked
    before the command runs, so no result is lost at the end."""
    problem = path_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"must name a file that can be written, but {problem}")
    return text


def add_json_argument(parser):
    parser.add_argument("--json", metavar="FILE", type=output_file,
                        help="also write the full result as JSON (missing folders are made; "
                             "the path is checked before the benchmark runs)")


def check_shapes(params, shapes):
    """Raise :class:`~tessera.hdl.params.ParamError` for the first of ``shapes`` (``(rows,
    cols)`` pairs; ``"tile"`` is skipped) that breaks a rule with ``params``: every shape is
    checked before a benchmark starts, not when its turn comes."""
    for shape in shapes:
        if shape != "tile":
            params.replace(rows=shape[0], cols=shape[1])


def write_json(path, report):
    """Write ``report`` as JSON to ``path`` (making missing folders); nothing when ``path`` is
    empty."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


def add_fpga_arguments(parser, *, synth_options=True):
    """The FPGA benchmarks' flow flags: ``--freq``, ``--seeds``, ``--device``, ``--package`` and,
    if ``synth_options``, ``--synth-option``."""
    from ..sim.fpga import DEFAULT_DEVICE, DEFAULT_PACKAGE, ECP5_DEVICES
    parser.add_argument("--freq", type=positive_float, default=100.0, metavar="MHZ",
                        help="clock constraint given to nextpnr")
    parser.add_argument("--seeds", type=int_list, default=[1], metavar="S1,S2",
                        help="placement seeds, one nextpnr run each per design; Fmax is the "
                             "median")
    if synth_options:
        parser.add_argument("--synth-option", dest="synth_options", action="append",
                            default=[], metavar="OPTION",
                            help="extra synth_ecp5 option, repeatable; for example "
                                 "--synth-option=-nowidelut (no PFUMX/L6MUX21 wide LUTs)")
    parser.add_argument("--device", choices=list(ECP5_DEVICES), default=DEFAULT_DEVICE,
                        help="ECP5 device (ULX3S-85F: LFE5U-85F)")
    parser.add_argument("--package", default=DEFAULT_PACKAGE, help="device package")


def run_benchmark(args, measure, format_report, *, after=None):
    """The end of every ``tessera bench`` command: run ``measure()``, print
    ``format_report(report)``, call ``after(report)`` if given, write ``--json``; exit status 0.

    A setting the benchmark refuses (``ValueError``) is a usage error: one line, exit 2. A tool
    or simulation that fails (a build, a cocotb test, Yosys or nextpnr) is one line naming the
    benchmark and the log, exit 1; no traceback either way."""
    from ..sim.runner import CocotbFailure
    from .cli import UsageError
    try:
        report = measure()
    except ValueError as e:
        raise UsageError(str(e)) from None
    except (CocotbFailure, RuntimeError) as e:  # FpgaToolError is a RuntimeError
        print(f"tessera bench {args.benchmark}: the run failed: {e}", file=sys.stderr)
        return 1
    print(format_report(report))
    if after is not None:
        after(report)
    write_json(args.json, report)
    return 0
