"""``tessera bench network`` and ``tessera bench verilator``: benchmarks on a mesh of routers.

:func:`register` adds both subcommands to ``tessera bench``'s subparsers; each parses its flags
and calls :func:`tessera.sim.bench.network.bench_network` or
:func:`~tessera.sim.bench.network.bench_verilator`, prints the ``format_*`` report, and with
``--json FILE`` writes the full result. Results: ``docs/benchmarks.md``.
"""

import argparse

__all__ = ["register", "cmd_network", "cmd_verilator"]

from .argtypes import add_json_argument, check_shapes, output_file, timed_help
from .argtypes import name_list as _name_list
from .argtypes import positive_int as _positive_int
from .argtypes import progress as _progress
from .argtypes import run_benchmark, share
from .argtypes import shape_list as _shape_list

# The network benchmark's mesh unless the user chooses a shape, a preset or a config.
NETWORK_SHAPE = (8, 8)

# Parameters a mesh of routers does not depend on (its harness has no SRAM): no flags.
NOT_MESH = ("sram_bytes", "sram_banks")

# --quick: small windows and few loads, for a smoke run in about a minute.
QUICK_LOADS = (0.1, 0.3, 0.5, 0.7)


def _load_list(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated loads like 0.1,0.2, not {text!r}") from None
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"loads must be in (0, 1], not {text!r}")
    return values


def cmd_network(args, params_from_args):
    from ..sim.bench.network import (VERILATOR_VARIANTS, bench_network, format_network_report,
                                     plot_latency)
    from .cli import params_with_shape
    params = params_with_shape(args, NETWORK_SHAPE)
    loads, cycles, warmup = args.loads, args.cycles, args.warmup
    if args.quick:
        loads, cycles, warmup = list(QUICK_LOADS), min(cycles, 2_000), min(warmup, 500)

    def plot(report):
        if args.plot:
            print(f"plot: {plot_latency(report, args.plot)}")
    return run_benchmark(args, lambda: bench_network(
        params, simulator=args.simulator, patterns=args.patterns, loads=loads, cycles=cycles,
        warmup=warmup, packet_length=args.packet_length,
        build_args=VERILATOR_VARIANTS[args.verilator_variant], fresh=not args.reuse_build,
        progress=_progress(), throttle=args.throttle), format_network_report, after=plot)


def cmd_verilator(args, params_from_args):
    from ..sim.bench.network import bench_verilator, format_verilator_report
    params = params_from_args(args)
    shapes, cycles, amaranth_cycles = args.shapes, args.cycles, args.amaranth_cycles
    if args.quick:
        shapes, cycles, amaranth_cycles = [(2, 2), (3, 3)], min(cycles, 5_000), 200
    check_shapes(params, shapes)
    return run_benchmark(args, lambda: bench_verilator(
        params, shapes=shapes, variants=args.variants, cycles=cycles,
        amaranth_shape=None if args.no_amaranth else (2, 2), amaranth_cycles=amaranth_cycles,
        load=args.load, progress=_progress()), format_verilator_report)


def register(benches, add_param_arguments, params_from_args, formatter):
    """Add ``network`` and ``verilator`` to ``benches`` (``tessera bench``'s subparsers)."""
    from ..sim.bench.network import DEFAULT_LOADS, DEFAULT_THROTTLE, PATTERNS, VERILATOR_VARIANTS
    n = benches.add_parser(
        "network", formatter_class=formatter,
        help=timed_help("network", "mesh of routers: accepted throughput and latency "
                                   "against offered load"),
        description="Run a rows x cols mesh of routers with a hardware traffic source and "
                    "measuring sink on every RAMP (open-loop Bernoulli injection, addressed "
                    "packets carrying their generation cycle) and sweep the offered load for "
                    "uniform random and transpose traffic, and for 'colors': in every row two "
                    "colors west to east over the same links, one of them taken at its sink "
                    "only --throttle of the cycles (with a channel per color the other keeps "
                    "its rate; compare --color-channels 1). Prints zero-load latency against "
                    "hops (cycles per hop), and per load: offered and accepted throughput, "
                    "mean, 99th-percentile and maximum latency, with the saturation "
                    "throughput beside the bisection bound 4/k and the busiest-channel bound "
                    "of XY routing. The mesh is --rows x --cols: 8x8 unless --rows, --cols, "
                    "--preset or --config says otherwise.")
    n.add_argument("--simulator", choices=["verilator", "amaranth"], default="verilator",
                   help="Verilator under cocotb, or Amaranth's simulator (small meshes only: "
                        "a few hundred cycles/s)")
    n.add_argument("--patterns", type=_name_list(list(PATTERNS)), default=",".join(PATTERNS),
                   metavar="A,B", help=f"traffic patterns, from {', '.join(PATTERNS)}")
    n.add_argument("--loads", type=_load_list, default=",".join(map(str, DEFAULT_LOADS)),
                   metavar="L1,L2", help="offered loads, flits/node/cycle")
    n.add_argument("--cycles", type=_positive_int, default=10_000, metavar="N",
                   help="measurement window per load")
    n.add_argument("--warmup", type=_positive_int, default=2_000, metavar="N",
                   help="cycles before each window")
    n.add_argument("--packet-length", type=_positive_int, default=1, metavar="WAVELETS",
                   help="wavelets per packet (1: single-wavelet packets)")
    n.add_argument("--throttle", type=share, default=DEFAULT_THROTTLE, metavar="SHARE",
                   help="colors pattern: share of cycles in which a sink takes the throttled "
                        "color")
    n.add_argument("--verilator-variant", choices=list(VERILATOR_VARIANTS), default="plain",
                   help="extra Verilator arguments: " + "; ".join(
                       f"{k}: {' '.join(v) or '(none)'}"
                       for k, v in VERILATOR_VARIANTS.items()))
    n.add_argument("--reuse-build", action="store_true",
                   help="keep an earlier Verilator build of the same design")
    n.add_argument("--plot", metavar="PNG", type=output_file,
                   help="also write a plot of latency and throughput against load (missing "
                        "folders are made)")
    n.add_argument("--quick", action="store_true",
                   help=f"loads {','.join(map(str, QUICK_LOADS))}, windows of at most 2000 "
                        f"cycles after at most 500 of warm-up")
    add_json_argument(n)
    add_param_arguments(n, shape=NETWORK_SHAPE, without=NOT_MESH)
    n.set_defaults(func=lambda args: cmd_network(args, params_from_args))

    v = benches.add_parser(
        "verilator", formatter_class=formatter,
        help=timed_help("verilator", "Verilator build seconds and cycles/s on router "
                                     "meshes, per build variant"),
        description="Build the network harness (a mesh of routers with hardware traffic) "
                    "with Verilator clean for each mesh shape and build variant, run uniform "
                    "random traffic for one window, and print Verilog, build seconds and "
                    "simulated cycles per second; Amaranth's simulator on a 2x2 mesh beside "
                    "them. The generated fabric itself has no traffic source without cores, "
                    "hence the harness.")
    v.add_argument("--shapes", type=_shape_list, default="4x4,8x8", metavar="RxC,RxC",
                   help="mesh shapes")
    v.add_argument("--variants", type=_name_list(list(VERILATOR_VARIANTS)),
                   default=",".join(VERILATOR_VARIANTS), metavar="A,B",
                   help="build variants: " + "; ".join(
                       f"{k}: {' '.join(a) or '(none)'}" for k, a in VERILATOR_VARIANTS.items()))
    v.add_argument("--cycles", type=_positive_int, default=20_000, metavar="N",
                   help="timed window per Verilator run")
    v.add_argument("--amaranth-cycles", type=_positive_int, default=1_000, metavar="N",
                   help="timed window of the 2x2 Amaranth run")
    v.add_argument("--no-amaranth", action="store_true", help="skip the Amaranth run")
    v.add_argument("--load", type=float, default=0.3, help="offered load, flits/node/cycle")
    v.add_argument("--quick", action="store_true",
                   help="2x2 and 3x3 meshes, windows of at most 5000 cycles (200 in Amaranth)")
    add_json_argument(v)
    add_param_arguments(v, without=("rows", "cols", *NOT_MESH))  # --shapes sets the shape
    v.set_defaults(func=lambda args: cmd_verilator(args, params_from_args))
