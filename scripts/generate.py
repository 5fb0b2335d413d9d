"""``tessera generate``: write a fabric's Verilog and manifest."""

import os
import sys
import time

from .argtypes import HelpFormatter, nearest_existing

__all__ = ["register", "DEFAULT_OUT"]

# Where `tessera generate` writes when no -o is given.
DEFAULT_OUT = "tessera-out"


def register(commands, add_param_arguments, params_from_args, usage_error):
    p = commands.add_parser(
        "generate", help="write the Verilog of a fabric (default: the 4x4 default preset)",
        description="Write the Verilog of a rows x cols fabric: the tile module once "
                    "(tessera_tile.v: router, SRAM, memory agent and compute core; --no-core "
                    "for network-only tiles) and the fabric module that instantiates it per "
                    "position "
                    "(tessera_fabric.v), and manifest.json (resolved parameters, top module, "
                    "files, top-level ports). Prints a one-line summary. Bad parameters are "
                    "reported before anything is written.",
        formatter_class=HelpFormatter)
    p.add_argument("-o", "--out", metavar="DIR", default=DEFAULT_OUT,
                   help="output directory: created if missing; an empty directory or an "
                        "earlier 'tessera generate' output (its manifest.json says so), whose "
                        "files are replaced; any other directory only with --force")
    p.add_argument("--force", action="store_true",
                   help="write into an output directory that holds other files (Tessera's "
                        "files in it are replaced, the others are left)")
    p.add_argument("--no-core", dest="core", action="store_false",
                   help="network-only tiles: router, SRAM and memory agent, no compute core "
                        "(the core side takes every wavelet); allows data_width other than 32")
    p.add_argument("--lint", action="store_true",
                   help="also run Verilator's lint on the result (waivers: sim/verilator.py)")
    add_param_arguments(p)

    def cmd_generate(args):
        from ..hdl.emit import write_fabric
        from ..hdl.params import resolve_preset
        params = params_from_args(args)
        preset = resolve_preset(args.preset, args.config)
        check_out_dir(args.out, usage_error, force=args.force)
        start = time.perf_counter()
        try:
            manifest = write_fabric(params, args.out, preset=preset, core=args.core)
        except OSError as e:
            raise usage_error(f"out must be a directory that can be written, but writing "
                              f"{args.out!r} failed: {e.strerror or e}") from None
        seconds = time.perf_counter() - start
        lines = sum(f["lines"] for f in manifest["files"])
        size = sum(f["bytes"] for f in manifest["files"])
        print(f"tessera generate: {params.rows}x{params.cols} fabric -> "
              f"{os.path.join(os.path.normpath(args.out), '')}: {manifest['modules']} modules "
              f"in {len(manifest['files'])} files ({manifest['tile_module']} defined once, "
              f"{manifest['top']} with {manifest['instances']} "
              f"instance{'s' if manifest['instances'] != 1 else ''} of it), {lines} lines, "
              f"{size / 1024:.0f} KiB, {seconds:.1f} s")
        ours = {f["name"] for f in manifest["files"]} | {"manifest.json"}
        others = sorted(set(os.listdir(args.out)) - ours)
        if others:
            print(f"tessera generate: note: {args.out} also holds files it did not write "
                  f"({', '.join(others[:4])}{', ...' if len(others) > 4 else ''}); a flow that "
                  f"reads {os.path.join(args.out, '*.v')} reads them too", file=sys.stderr)
        if args.lint:
            from ..sim.verilator import lint
            print("tessera generate: linting with Verilator (a minute or more for large "
                  "fabrics) ...", file=sys.stderr, flush=True)
            ok, messages = lint([os.path.join(args.out, f["name"]) for f in manifest["files"]],
                                top=manifest["top"])
            if not ok:
                print(messages, file=sys.stderr)
                print("tessera generate: Verilator lint failed", file=sys.stderr)
                return 1
            print("tessera generate: Verilator lint clean")
        return 0

    p.set_defaults(func=cmd_generate)


def check_out_dir(out, usage_error, *, force=False):
    """Refuse an output directory that cannot be made, or that holds files that are not an
    earlier output of ``tessera generate`` (unless ``force``), before anything is generated."""
    if not out:
        raise usage_error("out must name a directory, not ''")
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise usage_error(f"out must be a directory, not the file {out!r}")
        existing = out
    else:
        # The nearest existing ancestor must be a directory we may create entries in.
        existing = nearest_existing(out)
        if not os.path.isdir(existing):
            raise usage_error(f"out must be a directory path, but {existing!r} in {out!r} is "
                              f"a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise usage_error(f"out must be a directory that can be written, but {existing!r} "
                          f"is not writable")
    if os.path.isdir(out) and not force and not is_generate_output(out):
        others = sorted(os.listdir(out))
        if others:
            shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
            raise usage_error(f"out must be a new or empty directory or an earlier 'tessera "
                              f"generate' output, but {out!r} holds {len(others)} other "
                              f"entr{'y' if len(others) == 1 else 'ies'} ({shown}); give "
                              f"--force to write into it anyway")


def is_generate_output(out):
    """Whether ``out`` holds a ``manifest.json`` written by ``tessera generate``."""
    import json
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and str(manifest.get("generator", "")).startswith("tessera")
