"""Network benchmarks: latency against offered load on a mesh of routers, and simulator speed.

One :class:`~tessera.sim.network_harness.NetworkHarness` (a ``rows x cols`` mesh of routers with
a hardware traffic source and a measuring sink on every RAMP) runs the same *plan* under
Verilator (through cocotb, built with :func:`tessera.sim.runner.build`, only the top ports
public) or under Amaranth's own simulator. The plan's phases:

zero-load
    One packet at a time from node (0, 0) to a node ``d`` hops away (X then Y), ``d = 0 ..
    rows + cols - 2``, into an idle mesh; latency from the sink's counters. A line fitted to
    latency against ``d`` gives cycles per hop (slope) and the fixed cost (source queue,
    injection and ejection; intercept).
sweep
    For each traffic pattern and offered load (flits per node per cycle, ascending): set the
    Bernoulli rate, warm up, clear the counters, measure a window of ``N`` cycles (one wait for
    the whole window: no Python per cycle), read offered (generated), dropped, accepted
    (delivered) counts, latency sum, maximum and histogram. After the last load of a pattern the
    sources stop and the mesh drains; everything injected must have been delivered.

The ``colors`` pattern (:attr:`~tessera.sim.network_harness.TrafficPattern.COLORS`) is not
addressed traffic: in every row two colors run west to east over the same links, the
*throttled* one taken at its sink only ``throttle`` of the cycles, the *free* one always; the
load is per color and row, and the figure that matters is the free color's accepted throughput
(with a channel per color it should not notice the throttled one).

:func:`bench_network` and :func:`bench_verilator` run them and return dicts; the ``format_*``
functions print them, and :func:`plot_latency` draws latency against load (matplotlib, Agg).
"""

import json
import os
import shutil
import time
from pathlib import Path

from ..network_harness import (RATE_ONE, THROTTLED_COLOR, NetworkHarness, TrafficPattern,
                               router_verilog)
from .report import environment_lines, format_table, machine_info, tool_versions
from .router import AmaranthBus, CocotbBus, start_clock_and_reset

__all__ = ["HARNESS_TOP", "PATTERNS", "DEFAULT_LOADS", "DEFAULT_THROTTLE", "VERILATOR_VARIANTS",
           "channel_load_bound", "network_plan", "run_plan", "run_amaranth", "run_verilator",
           "bench_network", "bench_verilator", "format_network_report",
           "format_verilator_report", "plot_latency", "percentile"]

HARNESS_TOP = "tessera_network_harness"
CLOCK_PERIOD_NS = 10
PLAN_ENV = "TESSERA_NETWORK_BENCH_PLAN"
PATTERNS = ("uniform", "transpose", "colors")
# Share of cycles in which the colors pattern's sink takes the throttled color.
DEFAULT_THROTTLE = 0.125
# Offered loads of the sweep, flits per node per cycle.
DEFAULT_LOADS = (0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
# Cycles the drain at the end of a pattern may take before the run is declared stuck.
DRAIN_LIMIT = 20_000

# Verilator build variants compared by bench_verilator (arguments after sim.verilator.BUILD_ARGS).
VERILATOR_VARIANTS = {
    "plain": [],
    "no-inline": ["-fno-inline"],
    "threads-2": ["--threads", "2"],
}


def _xy_path_links(src, dst):
    """Directed links ``((x, y), (x', y'))`` of the X-then-Y path from ``src`` to ``dst``."""
    (x, y), links = src, []
    while x != dst[0]:
        nx = x + (1 if dst[0] > x else -1)
        links.append(((x, y), (nx, y)))
        x = nx
    while y != dst[1]:
        ny = y + (1 if dst[1] > y else -1)
        links.append(((x, y), (x, ny)))
        y = ny
    return links


def _destinations(pattern, rows, cols, node):
    """``[(dst, probability)]`` of one node's packets under ``pattern``."""
    x, y = node
    if pattern == "uniform":
        return [((dx, dy), 1 / (rows * cols)) for dy in range(rows) for dx in range(cols)]
    if pattern == "transpose":
        return [((y, x), 1.0)]
    if pattern == "colors":     # two flows (colors) from each row's west end to its east end
        return [((cols - 1, y), 2.0)] if x == 0 else []
    raise ValueError(f"Pattern must be one of {', '.join(PATTERNS)}, not {pattern!r}")


def channel_load_bound(pattern, rows, cols):
    """Highest offered load (flits/node/cycle) that no channel of an XY-routed mesh exceeds.

    Every node offers load 1 with the pattern's destinations; the busiest channel (a directed
    link, or an injection or ejection port) then carries ``L``; the bound is ``1 / L``. For
    uniform traffic on a ``k x k`` mesh (``k`` even) it is the bisection bound ``4 / k``.
    For ``colors`` the load is per color and row: both colors share each link of the row, 1/2.
    """
    load = {}
    for y in range(rows):
        for x in range(cols):
            for dst, prob in _destinations(pattern, rows, cols, (x, y)):
                for link in _xy_path_links((x, y), dst):
                    load[link] = load.get(link, 0.0) + prob
                load[("eject", dst)] = load.get(("eject", dst), 0.0) + prob
    return 1.0 / max(1.0, max(load.values()))


def percentile(histogram, shift, q):
    """Upper edge (cycles) of the histogram bucket holding quantile ``q``; ``None`` if empty.

    Bucket ``b`` holds latencies ``b * 2**shift .. (b + 1) * 2**shift - 1``; the last bucket is
    open-ended (its value is then a lower bound, flagged by the caller).
    """
    total = sum(histogram)
    if not total:
        return None
    need, seen = q * total, 0
    for b, count in enumerate(histogram):
        seen += count
        if seen >= need:
            return (b + 1 << shift) - 1
    return None  # pragma: no cover


def network_plan(params, *, patterns=PATTERNS, loads=DEFAULT_LOADS, cycles=10_000,
                 warmup=2_000, packet_length=1, zero_load=True, timed_only=None,
                 throttle=DEFAULT_THROTTLE):
    """The plan (a JSON-able dict) that :func:`run_plan` follows.

    ``timed_only`` = ``(pattern, load)`` replaces the sweep with one point (for speed
    measurements) and skips the zero-load phase. ``throttle``: share of cycles in which the
    ``colors`` pattern's sinks take the throttled color.
    """
    for pattern in patterns:
        if pattern not in PATTERNS:
            raise ValueError(f"Pattern must be one of {', '.join(PATTERNS)}, not {pattern!r}")
        if pattern == "transpose" and params.rows != params.cols:
            raise ValueError(f"The transpose pattern needs a square mesh, not "
                             f"{params.rows}x{params.cols}")
        if pattern == "colors" and (params.cols < 2 or params.num_colors <= THROTTLED_COLOR):
            raise ValueError(f"The colors pattern needs at least 2 columns and "
                             f"{THROTTLED_COLOR + 1} colors, not {params.cols} columns and "
                             f"num_colors={params.num_colors}")
    if not 0 < throttle <= 1:
        raise ValueError(f"Throttle must be in (0, 1] of the cycles, not {throttle}")
    for load in loads:
        if not 0 < load <= 1:
            raise ValueError(f"Offered load must be in (0, 1] flits/node/cycle, not {load}")
    sweep = {pattern: sorted(loads) for pattern in patterns}
    if timed_only is not None:
        sweep = {timed_only[0]: [timed_only[1]]}
        zero_load = False
    hops = params.rows + params.cols - 2
    return {
        "rows": params.rows, "cols": params.cols, "nodes": params.rows * params.cols,
        "packet_length": packet_length, "cycles": cycles, "warmup": warmup,
        "zero_load": [[min(d, params.cols - 1), d - min(d, params.cols - 1)]
                      for d in range(hops + 1)] if zero_load else [],
        "zero_load_wait": hops + 4 * packet_length + 32,
        "sweep": sweep,
        "throttle": throttle,
        "drain_limit": DRAIN_LIMIT,
    }


def _rate(load, packet_length):
    return min(RATE_ONE, round(load / packet_length * RATE_ONE))


async def _pulse(bus, name):
    bus.set(name, 1)
    await bus.tick(1)
    bus.set(name, 0)


async def _drain(bus, plan):
    """Tick until the harness reports no backlog (or the plan's limit); cycles waited."""
    drained = 0
    await bus.settle()
    while bus.get("backlog") and drained < plan["drain_limit"]:
        await bus.tick(64)
        await bus.settle()
        drained += 64
    await bus.tick(4)
    await bus.settle()
    return drained


async def _measure(bus, plan, n, buckets, load, shift, previous):
    """One measurement window at the current settings; the raw counters of one point."""
    bus.set("measure", 1)
    await _pulse(bus, "clear")
    seconds = await bus.run(plan["cycles"], bus.modes[-1])
    await bus.tick(1)
    bus.set("measure", 0)
    await bus.settle()
    point = {"load": load, "hist_shift": shift, "seconds": seconds,
             "cycles": bus.get("cycles")}
    for name in ("generated", "dropped", "injected", "received", "latency_sum",
                 "misdelivered", "received_throttled"):
        point[name] = sum(_read(bus, name, n))
    point["latency_max"] = max(_read(bus, "latency_max", n))
    histogram = await _read_histogram(bus, n, buckets)
    point["hist"] = [(now - before) % (1 << 32) for now, before in zip(histogram, previous)]
    point["histogram"] = histogram
    return point


async def _read_histogram(bus, n, buckets):
    """Every bucket summed over the nodes (the harness shows one bucket at a time)."""
    out = []
    for b in range(buckets):
        bus.set("hist_addr", b)
        await bus.settle()
        out.append(sum(bus.get(("hist", k)) for k in range(n)) % (1 << 32))
    return out


def _read(bus, name, n):
    return [bus.get((name, k)) for k in range(n)]


async def run_plan(bus, plan, *, buckets, hist_shift_max=8):
    """Run ``plan`` on a harness through ``bus`` (set/get/tick/settle/run, as in
    :mod:`tessera.sim.bench.router`); return the raw figures."""
    n = plan["nodes"]
    result = {"zero_load": [], "sweep": {}}
    # Zero-load: one forced packet from node 0 to each destination, counters cleared first.
    bus.set("hist_shift", 0)
    bus.set("rate", 0)
    bus.set("pattern", TrafficPattern.FIXED.value)
    for dst in plan["zero_load"]:
        k = dst[1] * plan["cols"] + dst[0]
        bus.set("fixed_x", dst[0])
        bus.set("fixed_y", dst[1])
        bus.set("node_enable", 1)
        bus.set("measure", 1)
        await _pulse(bus, "clear")
        await _pulse(bus, "force")
        bus.set("node_enable", 0)
        await bus.tick(plan["zero_load_wait"])
        await bus.settle()
        received = bus.get(("received", k))
        result["zero_load"].append({
            "dst": dst, "hops": dst[0] + dst[1], "received": received,
            "latency": bus.get(("latency_sum", k)) if received == 1 else None,
            "misdelivered": sum(_read(bus, "misdelivered", n)),
        })
        bus.set("measure", 0)

    all_nodes = (1 << n) - 1
    bus.set("throttle", round(plan.get("throttle", DEFAULT_THROTTLE) * RATE_ONE))
    for pattern, loads in plan["sweep"].items():
        bus.set("pattern", getattr(TrafficPattern, pattern.upper()).value)
        # A colored wavelet is a packet of one.
        length = 1 if pattern == "colors" else plan["packet_length"]
        points = []
        shift = 0
        previous = await _read_histogram(bus, n, buckets)
        for load in loads:
            bus.set("hist_shift", shift)
            bus.set("rate", _rate(load, length))
            bus.set("node_enable", all_nodes)
            bus.set("measure", 0)
            await bus.tick(plan["warmup"])
            for attempt in range(3):
                point = await _measure(bus, plan, n, buckets, load, shift, previous)
                previous = point.pop("histogram")
                # More than 1 % of packets in the open-ended last bucket: the 99th percentile
                # is only a lower bound. Widen the buckets past the maximum and measure again.
                if point["hist"][-1] * 100 <= sum(point["hist"]) or shift >= hist_shift_max:
                    break
                while (shift < hist_shift_max
                       and point["latency_max"] >= (buckets - 1) << shift):
                    shift += 1
                bus.set("hist_shift", shift)
            points.append(point)
            # The next (higher) load's latencies: make the histogram reach past this maximum.
            while shift < hist_shift_max and 2 * point["latency_max"] >= (buckets - 1) << shift:
                shift += 1
        # Drain check: empty the mesh, clear, run traffic at the last load for a while, stop
        # the sources, and wait until nothing is queued or in flight. Everything injected
        # since the clear must then have been delivered.
        bus.set("node_enable", 0)
        await _drain(bus, plan)
        bus.set("measure", 1)
        await _pulse(bus, "clear")
        bus.set("node_enable", all_nodes)
        await bus.tick(plan["warmup"] // 4 + 1)
        bus.set("node_enable", 0)
        drained = await _drain(bus, plan)
        bus.set("measure", 0)
        result["sweep"][pattern] = {
            "points": points,
            "drain": {"injected": sum(_read(bus, "injected", n)),
                      "received": sum(_read(bus, "received", n)),
                      "generated": sum(_read(bus, "generated", n)),
                      "dropped": sum(_read(bus, "dropped", n)),
                      "misdelivered": sum(_read(bus, "misdelivered", n)),
                      "backlog": bus.get("backlog"), "cycles": drained},
        }
    return result


ROUTER_MODULE = "tessera_router"


def _harness(params, plan, buckets, router_module=None):
    return NetworkHarness(params.replace(rows=plan["rows"], cols=plan["cols"]),
                          packet_length=plan["packet_length"], hist_buckets=buckets,
                          router_module=router_module)


def run_amaranth(params, plan, *, buckets=32):
    """Run ``plan`` in Amaranth's simulator; ``{"setup_seconds", "result"}``."""
    from amaranth.sim import Simulator
    start = time.perf_counter()
    harness = _harness(params, plan, buckets)
    sim = Simulator(harness)
    sim.add_clock(CLOCK_PERIOD_NS * 1e-9)
    out = {}

    async def testbench(ctx):
        out["setup_seconds"] = time.perf_counter() - start
        out["result"] = await run_plan(AmaranthBus(ctx, harness), plan, buckets=buckets)

    sim.add_testbench(testbench)
    sim.run()
    return out


def convert(params, plan, *, buckets=32):
    """Verilog of the harness for ``plan``, and the seconds it took.

    The router is emitted once and instantiated at every node (see ``NetworkHarness``'s
    ``router_module``): for 4x4 that cut conversion from about 9 s to 2 s.
    """
    from ...hdl.verilog_text import convert
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    start = time.perf_counter()
    shaped = params.replace(rows=plan["rows"], cols=plan["cols"])
    text = convert(_harness(params, plan, buckets, ROUTER_MODULE), name=HARNESS_TOP)
    text += "\n" + router_verilog(shaped, ROUTER_MODULE)
    return text, time.perf_counter() - start


def run_verilator(params, plan, *, build_args=(), buckets=32, fresh=True, build_root=None,
                  name=None, progress=None):
    """Build the harness with Verilator (only top ports public) and run ``plan`` via cocotb.

    Returns ``verilog_seconds``, ``build_seconds`` (clean when ``fresh``), ``run_seconds``,
    ``build_dir`` and ``result``.
    """
    from ..runner import BUILD_ROOT, build, run_tests
    say = progress or (lambda message: None)
    text, verilog_seconds = convert(params, plan, buckets=buckets)
    name = name or f"network-{plan['rows']}x{plan['cols']}"
    root = Path(build_root or Path(BUILD_ROOT) / "bench-network") / name
    if fresh and root.exists():
        shutil.rmtree(root)
    say(f"Verilog in {verilog_seconds:.1f} s ({len(text) // 1024} KiB); building with "
        f"Verilator ({' '.join(build_args) or 'no extra arguments'})")
    start = time.perf_counter()
    runner, build_dir = build(name, text, toplevel=HARNESS_TOP, build_args=list(build_args),
                              build_root=root, public="top")
    build_seconds = time.perf_counter() - start
    say(f"built in {build_seconds:.1f} s; running the plan")
    plan_path, result_path = Path(build_dir) / "plan.json", Path(build_dir) / "result.json"
    result_path.unlink(missing_ok=True)
    plan_path.write_text(json.dumps(dict(plan, result_path=str(result_path), buckets=buckets)))
    start = time.perf_counter()
    run_tests(runner, build_dir, toplevel=HARNESS_TOP, test_module="tessera.sim.bench.network",
              test_dir=build_dir, extra_env={PLAN_ENV: str(plan_path)})
    return {"verilog_seconds": verilog_seconds, "verilog_bytes": len(text),
            "build_seconds": build_seconds, "run_seconds": time.perf_counter() - start,
            "build_dir": str(build_dir), "result": json.loads(result_path.read_text())}


try:
    import cocotb
except ImportError:  # pragma: no cover
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def network_benchmark(dut):
        """The cocotb side of :func:`run_verilator`: run the plan file, write the results."""
        plan = json.loads(Path(os.environ[PLAN_ENV]).read_text())
        await start_clock_and_reset(dut, CLOCK_PERIOD_NS)
        result = await run_plan(CocotbBus(dut), plan, buckets=plan["buckets"])
        Path(plan["result_path"]).write_text(json.dumps(result))


def _summarise_point(point, plan, buckets, pattern):
    nodes, cycles, length = plan["nodes"], point["cycles"], plan["packet_length"]
    rate = lambda packets: packets * length / (nodes * cycles) if cycles else 0.0
    if pattern == "colors":     # per color and row, colored wavelets
        rate = lambda packets: packets / (2 * plan["rows"] * cycles) if cycles else 0.0
    received = point["received"]
    throttled = point.get("received_throttled", 0)
    p99 = percentile(point["hist"], point["hist_shift"], 0.99)
    overflow = (point["hist"][-1] and p99 is not None
                and p99 >= (buckets - 1) << point["hist_shift"])
    return {
        "load": point["load"],
        "offered": rate(point["generated"]),
        "accepted": rate(received),
        "injected": rate(point["injected"]),
        "dropped_fraction": point["dropped"] / point["generated"] if point["generated"] else 0,
        "mean_latency": point["latency_sum"] / received if received else None,
        "p99_latency": p99,
        "p99_lower_bound": bool(overflow),
        "p99_resolution": 1 << point["hist_shift"],
        "max_latency": point["latency_max"],
        "misdelivered": point["misdelivered"],
        # colors: each color's accepted throughput per row (the two halves of `accepted`)
        "free_accepted": 2 * rate(received - throttled) if pattern == "colors" else None,
        "throttled_accepted": 2 * rate(throttled) if pattern == "colors" else None,
        "packets": received,
        "cycles": cycles,
        "cycles_per_second": cycles / point["seconds"] if point["seconds"] else None,
    }


def summarise(plan, result, buckets=32):
    """Figures from :func:`run_plan`'s raw counters."""
    zero = result["zero_load"]
    fit = None
    pts = [(z["hops"], z["latency"]) for z in zero if z["latency"] is not None]
    if len(pts) >= 2:
        n = len(pts)
        mx = sum(h for h, _ in pts) / n
        my = sum(l for _, l in pts) / n
        slope = (sum((h - mx) * (l - my) for h, l in pts) /
                 sum((h - mx) ** 2 for h, _ in pts))
        fit = {"cycles_per_hop": slope, "intercept": my - slope * mx}
    patterns = {}
    k = max(plan["rows"], plan["cols"])
    for pattern, raw in result["sweep"].items():
        points = [_summarise_point(p, plan, buckets, pattern) for p in raw["points"]]
        if pattern == "colors":
            # The free color's saturation: the highest load it still got in full (the
            # throttled color's sources drop by design).
            saturation = max([p["offered"] for p in points
                              if p["free_accepted"] >= 0.98 * p["offered"]], default=0.0)
        else:
            # Saturation: the highest offered load the mesh still accepted in full (under 1 %
            # dropped at the sources, accepted within 2 % of offered). Beyond it, nodes whose
            # paths avoid the busiest channels keep delivering, so the mean accepted
            # throughput can exceed the channel bound: that is the peak, reported apart.
            saturation = max([p["offered"] for p in points
                              if p["dropped_fraction"] < 0.01
                              and p["accepted"] >= 0.98 * p["offered"]], default=0.0)
        patterns[pattern] = {
            "points": points,
            "saturation": saturation,
            "peak_accepted": max(p["accepted"] for p in points),
            "free_peak": (max(p["free_accepted"] for p in points)
                          if pattern == "colors" else None),
            "channel_bound": channel_load_bound(pattern, plan["rows"], plan["cols"]),
            "bisection_bound": 4 / k,
            "drain": raw["drain"],
        }
    return {"zero_load": zero, "per_hop": fit, "patterns": patterns}


def bench_network(params, *, simulator="verilator", patterns=PATTERNS, loads=DEFAULT_LOADS,
                  cycles=10_000, warmup=2_000, packet_length=1, build_args=("-fno-inline",),
                  buckets=32, fresh=True, build_root=None, progress=None,
                  throttle=DEFAULT_THROTTLE):
    """Latency and accepted throughput against offered load on ``params.rows x params.cols``.

    Parameters
    ----------
    simulator : str
        ``"verilator"`` (cocotb) or ``"amaranth"``.
    loads : iterable of float
        Offered loads, flits per node per cycle.
    cycles, warmup : int
        Measurement window and warm-up before it, per load.
    build_args : sequence of str
        Extra Verilator arguments.
    throttle : float
        Share of cycles in which the ``colors`` pattern's sinks take the throttled color.

    Returns
    -------
    dict
        ``config``, ``build`` (seconds) and ``figures`` (see :func:`summarise`).
    """
    if simulator not in ("verilator", "amaranth"):
        raise ValueError(f"Simulator must be 'verilator' or 'amaranth', not {simulator!r}")
    say = progress or (lambda message: None)
    plan = network_plan(params, patterns=patterns, loads=loads, cycles=cycles, warmup=warmup,
                        packet_length=packet_length, throttle=throttle)
    report = {"config": {"params": params.as_dict(), "simulator": simulator,
                         "plan": {k: plan[k] for k in ("rows", "cols", "packet_length",
                                                       "cycles", "warmup")},
                         "loads": sorted(loads), "patterns": list(patterns),
                         "throttle": throttle,
                         "source_depth": 16, "hist_buckets": buckets,
                         "build_args": list(build_args) if simulator == "verilator" else None,
                         "versions": tool_versions(), "machine": machine_info()}}
    say(f"{simulator}: {params.rows}x{params.cols} mesh, {len(patterns)} patterns x "
        f"{len(plan['sweep'][patterns[0]])} loads, {cycles} cycles each")
    if simulator == "verilator":
        run = run_verilator(params, plan, build_args=build_args, buckets=buckets, fresh=fresh,
                            build_root=build_root, progress=say)
        report["build"] = {k: run[k] for k in ("verilog_seconds", "build_seconds",
                                               "run_seconds")}
    else:
        start = time.perf_counter()
        run = run_amaranth(params, plan, buckets=buckets)
        report["build"] = {"setup_seconds": run["setup_seconds"],
                           "run_seconds": time.perf_counter() - start}
    say(f"run done in {report['build']['run_seconds']:.1f} s")
    report["figures"] = summarise(plan, run["result"], buckets)
    return report


def bench_verilator(params, *, shapes=((4, 4), (8, 8)), variants=tuple(VERILATOR_VARIANTS),
                    cycles=20_000, amaranth_shape=(2, 2), amaranth_cycles=1_000, load=0.3,
                    build_root=None, progress=None):
    """Clean Verilator build seconds and simulated cycles/s of the harness mesh under uniform
    random traffic at ``load``, per shape and build variant; Amaranth's simulator on
    ``amaranth_shape`` beside them."""
    say = progress or (lambda message: None)
    machine = machine_info()  # the load average before this benchmark adds its own
    rows = []
    for r, c in shapes:
        shaped = params.replace(rows=r, cols=c)
        plan = network_plan(shaped, cycles=cycles, warmup=1_000, timed_only=("uniform", load))
        for variant in variants:
            say(f"{r}x{c} {variant}")
            run = run_verilator(shaped, plan, build_args=VERILATOR_VARIANTS[variant],
                                fresh=True, build_root=build_root, name=f"speed-{r}x{c}-{variant}",
                                progress=say)
            point = run["result"]["sweep"]["uniform"]["points"][0]
            rows.append({"simulator": "verilator", "shape": [r, c], "variant": variant,
                         "args": VERILATOR_VARIANTS[variant],
                         "verilog_seconds": run["verilog_seconds"],
                         "build_seconds": run["build_seconds"],
                         "cycles": point["cycles"],
                         "cycles_per_second": point["cycles"] / point["seconds"],
                         "accepted": point["received"] / (r * c * point["cycles"])})
            say(f"  {rows[-1]['cycles_per_second']:.0f} cycles/s")
    if amaranth_shape:
        r, c = amaranth_shape
        shaped = params.replace(rows=r, cols=c)
        plan = network_plan(shaped, cycles=amaranth_cycles, warmup=200,
                            timed_only=("uniform", load))
        say(f"{r}x{c} Amaranth simulator, {amaranth_cycles} cycles")
        start = time.perf_counter()
        run = run_amaranth(shaped, plan)
        point = run["result"]["sweep"]["uniform"]["points"][0]
        rows.append({"simulator": "amaranth", "shape": [r, c], "variant": "-", "args": [],
                     "verilog_seconds": None, "build_seconds": run["setup_seconds"],
                     "cycles": point["cycles"],
                     "cycles_per_second": point["cycles"] / point["seconds"],
                     "accepted": point["received"] / (r * c * point["cycles"]),
                     "total_seconds": time.perf_counter() - start})
    return {"config": {"params": params.as_dict(), "load": load, "pattern": "uniform",
                       "cycles": cycles, "amaranth_cycles": amaranth_cycles,
                       "versions": tool_versions(), "machine": machine},
            "runs": rows}


def _config_lines(cfg):
    return ["parameters: " + ", ".join(f"{k}={v}" for k, v in cfg["params"].items()),
            *environment_lines(cfg["versions"], cfg["machine"])]


def _drain_line(d, what, misdelivered=True):
    """The drain check of one pattern: everything injected since the clear was delivered."""
    return (f"drain check: {d['injected']} {what} injected, {d['received']} received, "
            + (f"{d['misdelivered']} misdelivered, " if misdelivered else "")
            + f"drained in {d['cycles']} cycles"
            + ("" if d["injected"] == d["received"] and not d["backlog"]
               else "  ** NOT DRAINED **"))


def _colors_lines(p, cfg):
    """The ``colors`` pattern's section of the report."""
    throttle = cfg.get("throttle", DEFAULT_THROTTLE)
    out = ["", f"colors: two colors west to east along every row over the same links; the "
               f"sink takes the throttled color {throttle:g} of the cycles, the free one "
               f"always (wavelets/cycle per color and row; latency in cycles, both colors)"]
    rows = [[f"{q['load']:.3f}", f"{q['offered']:.4f}", f"{q['free_accepted']:.4f}",
             f"{q['throttled_accepted']:.4f}", f"{100 * q['dropped_fraction']:.1f}%",
             "-" if q["mean_latency"] is None else f"{q['mean_latency']:.2f}", q["packets"],
             "-" if not q["cycles_per_second"] else f"{q['cycles_per_second']:.0f}"]
            for q in p["points"]]
    out.append(format_table(["load", "offered", "free accepted", "throttled accepted",
                             "dropped", "mean", "wavelets", "sim cycles/s"], rows))
    out.append(f"free color: accepted in full up to {p['saturation']:.4f} per row, peak "
               f"{p['free_peak']:.4f} (the link leaves it 1 - {throttle:g} = "
               f"{1 - throttle:.4f} beside a throttled color held to its sink's rate)")
    out.append(_drain_line(p["drain"], "wavelets", misdelivered=False))
    return out


def format_network_report(report):
    cfg, fig = report["config"], report["figures"]
    plan = cfg["plan"]
    out = ["Network benchmark", ""]
    out += _config_lines(cfg)
    out.append(f"mesh {plan['rows']}x{plan['cols']} of routers, XY routing; {cfg['simulator']}"
               + (f" ({' '.join(cfg['build_args']) or 'no extra Verilator arguments'})"
                  if cfg["build_args"] is not None else ""))
    out.append(f"traffic: open-loop Bernoulli sources, {plan['packet_length']}-wavelet addressed "
               f"packets, source queue {cfg['source_depth']} packets (overflow dropped and "
               f"counted); warm-up {plan['warmup']} cycles, window {plan['cycles']} cycles "
               f"per load; latency from generation to tail delivery (includes source queue)")
    out += ["", "Zero-load latency, one packet from (0, 0) into an idle mesh"]
    rows = [[z["hops"], f"({z['dst'][0]}, {z['dst'][1]})",
             "-" if z["latency"] is None else z["latency"]] for z in fig["zero_load"]]
    out.append(format_table(["hops", "destination", "latency (cycles)"], rows))
    if fig["per_hop"]:
        out.append(f"fit: {fig['per_hop']['cycles_per_hop']:.3f} cycles per hop + "
                   f"{fig['per_hop']['intercept']:.2f} cycles fixed")
    for pattern, p in fig["patterns"].items():
        if pattern == "colors":
            out += _colors_lines(p, cfg)
            continue
        out += ["", f"{pattern}: accepted throughput and latency against offered load "
                    f"(flits/node/cycle; latency in cycles)"]
        rows = []
        for q in p["points"]:
            p99 = "-" if q["p99_latency"] is None else (
                (">=" if q["p99_lower_bound"] else "") + str(q["p99_latency"]))
            rows.append([f"{q['load']:.3f}", f"{q['offered']:.4f}", f"{q['accepted']:.4f}",
                         f"{100 * q['dropped_fraction']:.1f}%",
                         "-" if q["mean_latency"] is None else f"{q['mean_latency']:.2f}",
                         p99, q["p99_resolution"], q["max_latency"], q["packets"],
                         q["misdelivered"],
                         "-" if not q["cycles_per_second"] else f"{q['cycles_per_second']:.0f}"])
        out.append(format_table(["load", "offered", "accepted", "dropped", "mean", "p99",
                           "p99 bucket", "max", "packets", "misdelivered", "sim cycles/s"],
                          rows))
        out.append(f"saturation (highest offered load accepted in full): "
                   f"{p['saturation']:.4f} flits/node/cycle beside the ideal bisection bound "
                   f"4/k = {p['bisection_bound']:.4f} and the busiest-channel bound of XY "
                   f"routing for {pattern} = {p['channel_bound']:.4f}; peak accepted "
                   f"{p['peak_accepted']:.4f}")
        out.append(_drain_line(p["drain"], "packets"))
    b = report["build"]
    out += ["", "Time: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in b.items())]
    return "\n".join(out)


def format_verilator_report(report):
    cfg = report["config"]
    out = ["Simulator speed on the network harness", ""]
    out += _config_lines(cfg)
    out[-3] = out[-3].replace("parameters:", "parameters (rows and cols: each shape's):")
    out.append(f"traffic: uniform random, offered {cfg['load']} flits/node/cycle; one window of "
               f"{cfg['cycles']} cycles (Verilator under cocotb, one Timer wait) or "
               f"{cfg['amaranth_cycles']} (Amaranth, one delay); builds clean, only top ports "
               f"public")
    rows = []
    for r in report["runs"]:
        rows.append([f"{r['shape'][0]}x{r['shape'][1]}", r["simulator"], r["variant"],
                     " ".join(r["args"]) or "-",
                     "-" if r["verilog_seconds"] is None else f"{r['verilog_seconds']:.1f}",
                     f"{r['build_seconds']:.1f}", r["cycles"],
                     f"{r['cycles_per_second']:.0f}", f"{r['accepted']:.3f}"])
    out.append(format_table(["mesh", "simulator", "variant", "extra args", "Verilog s",
                       "build s", "cycles", "cycles/s", "accepted"], rows))
    out.append("(Amaranth's 'build s' is elaboration and simulator set-up)")
    best = {}
    for r in report["runs"]:
        if r["simulator"] == "verilator":
            key = tuple(r["shape"])
            if key not in best or r["cycles_per_second"] > best[key]["cycles_per_second"]:
                best[key] = r
    for key, r in best.items():
        out.append(f"fastest model at {key[0]}x{key[1]}: {r['variant']}")
    return "\n".join(out)


def plot_latency(report, path):
    """Mean and 99th-percentile latency against offered load, one line pair per pattern, and
    accepted against offered throughput (for ``colors``, each color's, per row)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    plan = report["config"]["plan"]
    for pattern, p in report["figures"]["patterns"].items():
        pts = [q for q in p["points"] if q["mean_latency"] is not None]
        loads = [q["offered"] for q in pts]
        line, = ax.plot(loads, [q["mean_latency"] for q in pts], "o-", label=f"{pattern} mean")
        ax.plot(loads, [q["p99_latency"] for q in pts], "s--", color=line.get_color(),
                label=f"{pattern} p99")
        ax.axvline(p["channel_bound"], color=line.get_color(), lw=0.8, ls=":")
        if pattern == "colors":     # per color and row: the free color is the figure
            ax2.plot([q["offered"] for q in p["points"]],
                     [q["free_accepted"] for q in p["points"]], "o-", color=line.get_color(),
                     label="colors: free color")
            ax2.plot([q["offered"] for q in p["points"]],
                     [q["throttled_accepted"] for q in p["points"]], "x:",
                     color=line.get_color(), label="colors: throttled color")
        else:
            ax2.plot([q["offered"] for q in p["points"]], [q["accepted"] for q in p["points"]],
                     "o-", color=line.get_color(), label=pattern)
    k = max(plan["rows"], plan["cols"])
    ax.set_xlabel("offered load (flits/node/cycle)")
    ax.set_ylabel("latency (cycles)")
    ax.set_yscale("log")
    ax.set_title(f"{plan['rows']}x{plan['cols']} mesh: latency (dotted: channel bound)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    top = max(q["offered"] for p in report["figures"]["patterns"].values() for q in p["points"])
    ax2.plot([0, top], [0, top], color="grey", lw=0.8, ls=":", label="accepted = offered")
    ax2.axhline(4 / k, color="black", lw=0.8, ls="--", label=f"4/k = {4 / k:.3f}")
    ax2.set_xlabel("offered load (flits/node/cycle)")
    ax2.set_ylabel("accepted (flits/node/cycle)")
    ax2.set_title("accepted throughput")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
