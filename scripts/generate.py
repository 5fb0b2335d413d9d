"""``tessera generate``: write a fabric's Verilog and manifest."""

import argparse
import os
import sys
import time

__all__ = ["register", "DEFAULT_OUT"]

# Where `tessera generate` writes when no -o is given.
DEFAULT_OUT = "tessera-out"


def register(commands, add_param_arguments, params_from_args, usage_error):
    p = commands.add_parser(
        "generate", help="write the Verilog of a fabric (default: the 4x4 default preset)",
        description="Write the Verilog of a rows x cols fabric: the tile module once "
                    "(tessera_tile.v) and the fabric module that instantiates it per position "
                    "(tessera_fabric.v), and manifest.json (resolved parameters, top module, "
                    "files, top-level ports). Prints a one-line summary. Bad parameters are "
                    "reported before anything is written.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-o", "--out", metavar="DIR", default=DEFAULT_OUT,
                   help="output directory (created; files in it are replaced)")
    p.add_argument("--lint", action="store_true",
                   help="also run Verilator's lint on the result (waivers: sim/verilator.py)")
    add_param_arguments(p)

    def cmd_generate(args):
        from ..hdl.emit import write_fabric
        params = params_from_args(args)
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise usage_error(f"out must be a directory, not the file {args.out!r}")
        start = time.perf_counter()
        manifest = write_fabric(params, args.out, preset=args.preset)
        seconds = time.perf_counter() - start
        lines = sum(f["lines"] for f in manifest["files"])
        size = sum(f["bytes"] for f in manifest["files"])
        print(f"tessera generate: {params.rows}x{params.cols} fabric -> {args.out}/: "
              f"2 modules ({manifest['tile_module']} once, {manifest['top']} with "
              f"{manifest['instances']} instances), {lines} lines, {size / 1024:.0f} KiB, "
              f"{seconds:.1f} s")
        if args.lint:
            from ..sim.verilator import lint
            ok, messages = lint([os.path.join(args.out, f["name"]) for f in manifest["files"]],
                                top=manifest["top"])
            if not ok:
                print(messages, file=sys.stderr)
                print("tessera generate: Verilator lint failed", file=sys.stderr)
                return 1
            print("tessera generate: Verilator lint clean")
        return 0

    p.set_defaults(func=cmd_generate)
