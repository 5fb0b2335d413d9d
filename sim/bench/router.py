"""Router benchmarks: zero-load latency, throughput under load, fairness, simulation speed.

One :class:`~tessera.sim.router_harness.RouterHarness` (a router between always-valid sources
and counting sinks) runs the same *plan* in three simulators:

``verilator``
    The Verilator model under cocotb, built and run through :mod:`tessera.sim.runner`.
``verilator-cpp``
    The same Verilog built by Verilator with a generated C++ ``main`` that replays the plan
    (no cocotb, no VPI): the model's own speed, for reference.
``amaranth``
    Amaranth's own simulator (``amaranth.sim``).

A plan is a list of phases, each a few quasi-static settings (routes, wavelet templates,
enables), a clock run of ``N`` cycles and a read of the harness counters; no Python runs per
cycle in a measurement window except what each simulator itself needs (cocotb's ``ClockCycles``
wakes Python on every edge; a ``Timer`` does not).

Phases:

latency
    For each output ``o``: route a color from RAMP to ``o`` alone, send one wavelet from RAMP
    into an idle router, and take the difference of the harness's cycle stamps of its
    acceptance at RAMP and its departure from ``o``.
traffic patterns (:data:`TRAFFIC_PATTERNS`)
    Enable the pattern's sources (always valid), make every output always ready, warm up, clear
    the counters, run ``N`` cycles, read wavelets per output and per source; then run further
    windows of ``N`` cycles only to time the simulator in each of its wait modes.

:func:`bench_router` runs everything and returns a dict; :func:`format_router_report` prints it.
"""

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ...hdl.routing import Route
from ...hdl.wavelet import NUM_PORTS, Direction
from ..router_harness import RouterHarness
from ..wavelets import Wavelet, WaveletCodec
from .report import environment_lines, format_table, machine_info, tool_versions

__all__ = ["TrafficPattern", "TRAFFIC_PATTERNS", "HARNESS_TOP", "ROUTER_XY",
           "VERILATOR_VARIANTS", "DEFAULT_VERILATOR_VARIANT", "WAIT_MODES", "router_plan",
           "run_plan", "run_amaranth", "run_verilator", "run_verilator_cpp", "bench_router",
           "format_router_report", "AmaranthBus", "CocotbBus", "start_clock_and_reset"]

# Top-level module name of the harness when emitted as Verilog.
HARNESS_TOP = "tessera_router_harness"
# Coordinates of the router under test: every XY direction has a neighbour coordinate.
ROUTER_XY = (1, 1)
# Clock period given to both simulators (only simulated time depends on it).
CLOCK_PERIOD_NS = 10
# Cycles a latency trial waits for its single wavelet.
LATENCY_WINDOW = 8
# Environment variable that hands the plan file to the cocotb process.
PLAN_ENV = "TESSERA_ROUTER_BENCH_PLAN"

# How each simulator waits out a timed window of N cycles.
WAIT_MODES = {
    # cocotb: ClockCycles wakes Python on every rising edge; Timer wakes it once.
    "verilator": ("clockcycles", "timer"),
    # The same Verilator model driven by a generated C++ main (no cocotb, no VPI): a loop of
    # eval() calls. A reference for the model's own speed.
    "verilator-cpp": ("eval",),
    # Amaranth: tick().repeat(N) wakes the testbench every cycle; delay(N * period) once.
    "amaranth": ("tick", "delay"),
}

# Verilator build variants to compare (extra arguments after sim.verilator.BUILD_ARGS).
VERILATOR_VARIANTS = {
    "plain": [],
    "no-inline": ["-fno-inline"],
    "O3": ["-O3", "--x-assign", "fast", "--x-initial", "fast", "-CFLAGS", "-O2"],
    "O3-no-inline": ["-O3", "--x-assign", "fast", "--x-initial", "fast", "-CFLAGS", "-O2",
                     "-fno-inline"],
}
DEFAULT_VERILATOR_VARIANT = "O3"

_R, _N, _E, _S, _W = (Direction.RAMP, Direction.NORTH, Direction.EAST, Direction.SOUTH,
                      Direction.WEST)


def _to(*outputs):
    """One single-output target per output given."""
    return tuple(frozenset({o}) for o in outputs)


@dataclass(frozen=True)
class TrafficPattern:
    """Where each input's always-valid source sends its wavelets.

    Parameters
    ----------
    name : str
    description : str
    targets : dict
        ``{Direction: (frozenset of outputs, ...)}``: each input's choices, picked uniformly at
        random per wavelet (one choice: a fixed destination; several outputs in a set: a
        multicast). Inputs not named stay idle.
    prefer : str
        ``"colored"`` (route-table entries) or ``"addressed"`` (single-wavelet XY packets), used
        when both can express the pattern.
    """
    name: str
    description: str
    targets: dict
    prefer: str = "colored"

    def throughput_bound(self):
        """Upper bound of each output's throughput, indexed by :class:`Direction`.

        An output carries at most one wavelet a cycle, and at most what the inputs offer it
        if each sent one wavelet every cycle: ``min(1, sum over inputs of P(input -> o))``.
        Queueing effects (head-of-line blocking) keep a real router below it.
        """
        offered = [0.0] * NUM_PORTS
        for choices in self.targets.values():
            for outs in choices:
                for o in outs:
                    offered[o] += 1 / len(choices)
        return [min(1.0, x) for x in offered]

    def pairs(self):
        """The distinct (input, outputs) pairs: one color each when colored."""
        return sorted({(d, outs) for d, choices in self.targets.items() for outs in choices},
                      key=lambda p: (p[0], sorted(p[1])))


TRAFFIC_PATTERNS = {p.name: p for p in [
    TrafficPattern(
        "permutation",
        "every output loaded by one always-valid input: RAMP->RAMP, N->S, S->N, E->W, W->E",
        {_R: _to(_R), _N: _to(_S), _S: _to(_N), _E: _to(_W), _W: _to(_E)}),
    TrafficPattern(
        "broadcast",
        "RAMP multicasts every wavelet to all five outputs; other inputs idle",
        {_R: (frozenset(Direction),)}),
    TrafficPattern(
        "hotspot",
        "contention: all five inputs to RAMP; fair round robin gives each 1/5",
        {d: _to(_R) for d in Direction}),
    TrafficPattern(
        "uniform",
        "each input to a uniformly random legal output (turn rule; RAMP to the four mesh "
        "links): N->{S,R}, S->{N,R}, E->{W,N,S,R}, W->{E,N,S,R}, R->{N,E,S,W}",
        {_R: _to(_N, _E, _S, _W), _W: _to(_E, _N, _S, _R), _E: _to(_W, _N, _S, _R),
         _N: _to(_S, _R), _S: _to(_N, _R)},
        prefer="addressed"),
]}


def _destination(output):
    """Coordinates an addressed wavelet at :data:`ROUTER_XY` must carry to leave by ``output``."""
    x, y = ROUTER_XY
    return {_R: (x, y), _E: (x + 1, y), _W: (x - 1, y), _S: (x, y + 1), _N: (x, y - 1)}[output]


def _pattern_kind(pattern, params, wavelets):
    can_color = len(pattern.pairs()) <= params.num_colors
    can_address = all(len(outs) == 1 for _, outs in pattern.pairs())
    want = pattern.prefer if wavelets == "auto" else wavelets
    if want == "colored" and can_color:
        return "colored"
    if want == "addressed" and can_address:
        return "addressed"
    if wavelets == "auto":
        if can_color:
            return "colored"
        if can_address:
            return "addressed"
    raise ValueError(
        f"Traffic pattern {pattern.name!r} cannot use {want} wavelets with these parameters "
        f"(it needs {len(pattern.pairs())} colors, num_colors is {params.num_colors}"
        f"{'' if can_address else ', and a multicast cannot be addressed'})")


def router_plan(params, *, cycles, warmup=64, patterns=None, wavelets="auto", templates=4,
                timed_windows=True):
    """The phases of a router benchmark, as plain JSON-ready data (wire words from the codec).

    Parameters
    ----------
    params : FabricParams
    cycles : int
        Cycles of each measurement window.
    warmup : int
        Cycles each pattern runs before its counters are cleared.
    patterns : iterable of str or None
        Names from :data:`TRAFFIC_PATTERNS` (``None``: all).
    wavelets : str
        ``"auto"`` (each pattern's preference, falling back to what fits), ``"colored"`` or
        ``"addressed"``.
    templates : int
        Wavelet templates per source in the harness.
    timed_windows : bool
        Also time each pattern in every wait mode of the simulator.

    Raises
    ------
    ValueError
        For an unknown pattern, or a pattern the parameters cannot express.
    """
    if not isinstance(cycles, int) or cycles < 1:
        raise ValueError(f"Cycle count must be a positive integer, not {cycles!r}")
    if wavelets not in ("auto", "colored", "addressed"):
        raise ValueError(f"Wavelet kind must be one of auto, colored, addressed, "
                         f"not {wavelets!r}")
    if 2 ** params.coord_bits < 3:
        raise ValueError(f"Router benchmark needs coord_bits >= 2 (neighbour coordinates on "
                         f"both sides of {ROUTER_XY}), not {params.coord_bits}")
    names = list(TRAFFIC_PATTERNS) if patterns is None else list(patterns)
    for name in names:
        if name not in TRAFFIC_PATTERNS:
            raise ValueError(f"Traffic pattern must be one of {', '.join(TRAFFIC_PATTERNS)}, "
                             f"not {name!r}")
    codec = WaveletCodec(params)
    all_outputs = (1 << NUM_PORTS) - 1

    latency = []
    for o in Direction:
        latency.append({
            "output": int(o),
            "route_writes": [codec.route_write_word(0, Route(_R, frozenset({o})))],
            "template": codec.pack(Wavelet(data=0, color=0)),
        })

    phases = []
    for name in names:
        pattern = TRAFFIC_PATTERNS[name]
        kind = _pattern_kind(pattern, params, wavelets)
        colors = {pair: c for c, pair in enumerate(pattern.pairs())}
        route_writes, routes = [], []
        if kind == "colored":
            for (d, outs), c in colors.items():
                route = Route(d, outs)
                route_writes.append(codec.route_write_word(c, route))
                routes.append(f"color {c}: {route!r}")
        slots = [[0] * templates for _ in Direction]
        for d, choices in pattern.targets.items():
            if templates % len(choices):
                raise ValueError(f"Template count must be a multiple of {len(choices)} for "
                                 f"pattern {name!r}, not {templates}")
            for k in range(templates):
                outs = choices[k % len(choices)]
                if kind == "colored":
                    w = Wavelet(data=0, color=colors[(d, outs)])
                else:
                    (o,) = outs
                    w = Wavelet(data=codec.header_data(*_destination(o)), addressed=True,
                                last=True)
                slots[d][k] = codec.pack(w)
        phases.append({
            "name": name,
            "description": pattern.description,
            "wavelets": kind,
            "routes": routes,
            "route_writes": route_writes,
            "templates": slots,
            "enable": sum(1 << d for d in pattern.targets),
            "bound": pattern.throughput_bound(),
        })

    return {
        "x": ROUTER_XY[0], "y": ROUTER_XY[1],
        "template_count": templates,
        "sink_ready": all_outputs,
        "cycles": cycles,
        "warmup": warmup,
        # Enough for every queue to empty through one output.
        "drain": NUM_PORTS * params.queue_depth + 8,
        "latency": latency,
        "patterns": phases,
        "timed_windows": timed_windows,
    }


async def _write_routes(bus, words):
    for word in words:
        bus.set(("config", "payload"), word)
        bus.set(("config", "valid"), 1)
        await bus.tick(1)
    bus.set(("config", "valid"), 0)


async def _clear(bus):
    bus.set("clear", 1)
    await bus.tick(1)
    bus.set("clear", 0)


def _read_array(bus, name):
    return [bus.get((name, int(d))) for d in Direction]


async def run_plan(bus, plan):
    """Run ``plan`` (from :func:`router_plan`) on a harness through ``bus``; return raw figures.

    ``bus`` is a simulator adapter with ``set(path, value)``, ``get(path)``, ``async tick(n)``,
    ``async run(n, mode)`` (returns the wall-clock seconds it took), ``async settle()``
    (after which ``get`` sees the values the last clock edge produced) and ``modes`` (its wait
    modes, the first used for the figures).
    Lists in the result are indexed by :class:`Direction`.
    """
    templates = plan["template_count"]
    bus.set("x", plan["x"])
    bus.set("y", plan["y"])
    bus.set("sink_ready", plan["sink_ready"])
    bus.set("enable", 0)
    bus.set("clear", 0)
    bus.set("one_shot", 1)
    await bus.tick(2)

    latency = []
    for trial in plan["latency"]:
        o = trial["output"]
        await _write_routes(bus, trial["route_writes"])
        for k in range(templates):
            bus.set(("templates", int(_R), k), trial["template"])
        await _clear(bus)
        bus.set("enable", 1 << _R)
        await bus.tick(LATENCY_WINDOW)
        await bus.settle()
        bus.set("enable", 0)
        # Every read happens whatever the values (a replayed run depends on the order).
        seen_accept, seen_leave = bus.get("seen_accept"), bus.get("seen_leave")
        accepted_at, left_at = bus.get(("first_accept", int(_R))), bus.get(("first_leave", o))
        seen = seen_accept >> _R & 1 and seen_leave >> o & 1
        latency.append({
            "cycles": left_at - accepted_at if seen else None,
            "transfers": _read_array(bus, "transfers"),
        })
    bus.set("one_shot", 0)

    patterns = {}
    for phase in plan["patterns"]:
        await _write_routes(bus, phase["route_writes"])
        for d in Direction:
            for k in range(templates):
                bus.set(("templates", int(d), k), phase["templates"][d][k])
        bus.set("enable", phase["enable"])
        await bus.tick(plan["warmup"])
        await _clear(bus)
        await bus.settle()
        misroutes_before = bus.get("misroutes")
        speed = {}
        for mode in bus.modes if plan["timed_windows"] else bus.modes[:1]:
            start_cycles = bus.get("cycles")
            seconds = await bus.run(plan["cycles"], mode)
            await bus.settle()
            speed[mode] = {"cycles": bus.get("cycles") - start_cycles, "seconds": seconds}
            if mode == bus.modes[0]:
                figures = {
                    "cycles": bus.get("cycles"),
                    "transfers": _read_array(bus, "transfers"),
                    "delivered": _read_array(bus, "delivered"),
                    "accepted": _read_array(bus, "accepted"),
                    "misroutes": bus.get("misroutes") - misroutes_before,
                }
        bus.set("enable", 0)
        await bus.tick(plan["drain"])
        patterns[phase["name"]] = dict(figures, speed=speed)
    return {"latency": latency, "patterns": patterns}


def _path(path):
    return (path,) if isinstance(path, str) else tuple(path)


def _harness_value(harness, path):
    """The Amaranth value of a harness port named by ``path`` (``("templates", 0, 1)``)."""
    from amaranth.hdl import Value
    obj = getattr(harness, path[0])
    for step in path[1:]:
        obj = getattr(obj, step) if isinstance(step, str) else obj[step]
    return Value.cast(obj)


class AmaranthBus:
    """:func:`run_plan` adapter for Amaranth's simulator."""
    modes = WAIT_MODES["amaranth"]

    def __init__(self, ctx, harness):
        self._ctx = ctx
        self._values = {}
        self._harness = harness

    def _value(self, path):
        path = _path(path)
        if path not in self._values:
            self._values[path] = _harness_value(self._harness, path)
        return self._values[path]

    def set(self, path, value):
        self._ctx.set(self._value(path), value)

    def get(self, path):
        return int(self._ctx.get(self._value(path)))

    async def tick(self, n):
        await self._ctx.tick().repeat(n)

    async def settle(self):
        pass  # a testbench resumes after a tick with the registers already updated

    async def run(self, n, mode):
        start = time.perf_counter()
        if mode == "tick":
            await self._ctx.tick().repeat(n)
        else:
            await self._ctx.delay(n * CLOCK_PERIOD_NS * 1e-9)
        return time.perf_counter() - start


class CocotbBus:
    """:func:`run_plan` adapter for a cocotb test (the harness ports as cocotb handles)."""
    modes = WAIT_MODES["verilator"]

    def __init__(self, dut):
        self._dut = dut
        self._handles = {}

    def _handle(self, path):
        path = _path(path)
        if path not in self._handles:
            self._handles[path] = getattr(self._dut, "__".join(str(p) for p in path))
        return self._handles[path]

    def set(self, path, value):
        self._handle(path).value = value

    def get(self, path):
        return int(self._handle(path).value)

    async def tick(self, n):
        from cocotb.triggers import ClockCycles
        await ClockCycles(self._dut.clk, n)

    async def settle(self):
        # Resumed at a rising edge, cocotb reads the registers' values from before the edge;
        # a step of the simulator's precision later they hold the edge's results.
        from cocotb.triggers import Timer
        await Timer(1, unit="step")

    async def run(self, n, mode):
        from cocotb.triggers import ClockCycles, Timer
        start = time.perf_counter()
        if mode == "clockcycles":
            await ClockCycles(self._dut.clk, n)
        else:
            await Timer(n * CLOCK_PERIOD_NS, unit="ns")
        return time.perf_counter() - start


class _RecordingBus:
    """:func:`run_plan` adapter that records the plan's operations for a C++ driver.

    Reads return 0 here; the C++ program prints the real values in the same order, and
    :class:`_ReplayBus` hands them to a second pass of :func:`run_plan` (its control flow does
    not depend on what it reads).
    """
    modes = WAIT_MODES["verilator-cpp"]

    def __init__(self):
        self.ops = []

    def set(self, path, value):
        self.ops.append(("set", _path(path), int(value)))

    def get(self, path):
        self.ops.append(("get", _path(path)))
        return 0

    async def tick(self, n):
        self.ops.append(("tick", n))

    async def settle(self):
        pass

    async def run(self, n, mode):
        self.ops.append(("run", n))
        return 1.0


class _ReplayBus:
    """:func:`run_plan` adapter that replays the values and timings a C++ driver printed."""
    modes = WAIT_MODES["verilator-cpp"]

    def __init__(self, values, seconds):
        self._values = iter(values)
        self._seconds = iter(seconds)

    def set(self, path, value):
        pass

    def get(self, path):
        return next(self._values)

    async def tick(self, n):
        pass

    async def settle(self):
        pass

    async def run(self, n, mode):
        return next(self._seconds)


def _drive(coroutine):
    """Run a coroutine that never really waits (the recording and replay buses)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("run_plan waited on something outside the recording bus")


def _verilated_name(path):
    # Verilator's C++ model spells '_' that starts a '__' pair as '___05F'.
    return "__".join(str(p) for p in path).replace("__", "___05F")


def _cpp_driver(harness, ops):
    """C++ ``main`` that replays ``ops`` on the Verilated harness and prints reads and times."""
    lines = [
        "// Generated by tessera.sim.bench.router: replays a router benchmark plan.",
        "#include <chrono>",
        "#include <cstdio>",
        "#include <memory>",
        '#include "Vtop.h"',
        '#include "verilated.h"',
        "",
        "static Vtop *top;",
        "",
        "static void tick(unsigned long n) {",
        "    for (unsigned long i = 0; i < n; ++i) {",
        "        top->clk = 0; top->eval();",
        "        top->clk = 1; top->eval();",
        "    }",
        "}",
        "",
        "int main(int argc, char **argv) {",
        "    auto context = std::make_unique<VerilatedContext>();",
        "    context->commandArgs(argc, argv);",
        "    top = new Vtop{context.get()};",
        "    top->clk = 0; top->rst = 1; tick(2); top->rst = 0;",
    ]
    for op in ops:
        if op[0] == "set":
            _, path, value = op
            name = _verilated_name(path)
            width = len(_harness_value(harness, path))
            if width <= 64:
                lines.append(f"    top->{name} = {value}ULL;")
            else:
                for word in range((width + 31) // 32):
                    bits = (value >> (32 * word)) & 0xFFFFFFFF
                    lines.append(f"    top->{name}[{word}] = {bits}U;")
        elif op[0] == "get":
            name = _verilated_name(op[1])
            lines.append(f'    std::printf("get %llu\\n", (unsigned long long)top->{name});')
        elif op[0] == "tick":
            lines.append(f"    tick({op[1]});")
        else:
            lines += [
                "    {",
                "        auto start = std::chrono::steady_clock::now();",
                f"        tick({op[1]});",
                "        std::chrono::duration<double> took =",
                "            std::chrono::steady_clock::now() - start;",
                '        std::printf("run %.9f\\n", took.count());',
                "    }",
            ]
    lines += ["    top->final();", "    delete top;", "    return 0;", "}", ""]
    return "\n".join(lines)


def run_verilator_cpp(params, plan, *, variant=DEFAULT_VERILATOR_VARIANT, fresh=True,
                      build_root=None, progress=None):
    """Build the harness with Verilator and a generated C++ ``main``, and run ``plan`` on it.

    No cocotb and no VPI: the driver calls ``eval()`` twice a cycle and sets and reads the
    ports directly, so this measures the model's own speed. Arguments as for
    :func:`run_verilator`; returns the same keys.
    """
    from ...hdl.verilog_text import convert
    from ..runner import BUILD_ROOT
    from ..verilator import BUILD_ARGS, setup_verilator

    if variant not in VERILATOR_VARIANTS:
        raise ValueError(f"Verilator variant must be one of {', '.join(VERILATOR_VARIANTS)}, "
                         f"not {variant!r}")
    say = progress or (lambda message: None)
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    harness = RouterHarness(params, templates=plan["template_count"])
    start = time.perf_counter()
    text = convert(harness, name=HARNESS_TOP)
    verilog_seconds = time.perf_counter() - start
    recorder = _RecordingBus()
    _drive(run_plan(recorder, plan))

    build_dir = Path(build_root or Path(BUILD_ROOT) / "bench-router") / f"cpp-{variant}"
    if fresh and build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    # Unchanged sources keep their time stamps, so a kept build is not redone.
    for path, content in ((build_dir / f"{HARNESS_TOP}.v", text),
                          (build_dir / "main.cpp", _cpp_driver(harness, recorder.ops))):
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
    setup_verilator()
    args = [*BUILD_ARGS, *VERILATOR_VARIANTS[variant]]
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 1),
           "-Mdir", "obj", "--top-module", HARNESS_TOP, "--prefix", "Vtop", "-o", "bench",
           *args, f"{HARNESS_TOP}.v", "main.cpp"]
    say(f"building the Verilator model with a C++ driver ({variant})")
    start = time.perf_counter()
    with open(build_dir / "build.log", "w") as log:
        proc = subprocess.run(cmd, cwd=build_dir, stdout=log, stderr=subprocess.STDOUT)
    build_seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"Verilator C++ build failed; see {build_dir / 'build.log'}")
    say(f"built in {build_seconds:.1f} s; running the C++ driver")
    start = time.perf_counter()
    proc = subprocess.run([str(build_dir / "obj" / "bench")], cwd=build_dir,
                          capture_output=True, text=True)
    run_seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"Verilator C++ driver failed: {proc.stderr.strip()}")
    values = [int(l.split()[1]) for l in proc.stdout.splitlines() if l.startswith("get ")]
    seconds = [float(l.split()[1]) for l in proc.stdout.splitlines() if l.startswith("run ")]
    result = _drive(run_plan(_ReplayBus(values, seconds), plan))
    return {
        "verilog_seconds": verilog_seconds,
        "build_seconds": build_seconds,
        "run_seconds": run_seconds,
        "args": args,
        "build_dir": str(build_dir),
        "result": result,
    }


async def start_clock_and_reset(dut, period_ns=CLOCK_PERIOD_NS):
    """Start ``dut.clk`` and hold ``dut.rst`` for two cycles (the cocotb side of a harness)."""
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles
    Clock(dut.clk, period_ns, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0


try:
    import cocotb
except ImportError:  # pragma: no cover - cocotb is a dependency; this only keeps imports light
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def router_benchmark(dut):
        """The cocotb side of :func:`run_verilator`: run the plan file, write the results."""
        plan = json.loads(Path(os.environ[PLAN_ENV]).read_text())
        await start_clock_and_reset(dut)
        result = await run_plan(CocotbBus(dut), plan)
        Path(plan["result_path"]).write_text(json.dumps(result))


def run_amaranth(params, plan):
    """Run ``plan`` on the harness in Amaranth's simulator.

    Returns ``{"setup_seconds": ..., "result": run_plan's figures}``; ``setup_seconds`` is the
    time to elaborate the harness and compile it for the simulator.
    """
    from amaranth.sim import Simulator
    start = time.perf_counter()
    harness = RouterHarness(params, templates=plan["template_count"])
    sim = Simulator(harness)
    sim.add_clock(CLOCK_PERIOD_NS * 1e-9)
    out = {}

    async def testbench(ctx):
        out["setup_seconds"] = time.perf_counter() - start
        out["result"] = await run_plan(AmaranthBus(ctx, harness), plan)

    sim.add_testbench(testbench)
    sim.run()
    return out


def run_verilator(params, plan, *, variant=DEFAULT_VERILATOR_VARIANT, fresh=True,
                  build_root=None, progress=None):
    """Build the harness with Verilator and run ``plan`` on it through cocotb.

    Parameters
    ----------
    variant : str
        Key of :data:`VERILATOR_VARIANTS`: extra Verilator arguments.
    fresh : bool
        Delete an earlier build first, so the build time is that of a clean build.
    build_root : path-like or None
        Where builds go (default: ``build/bench-router`` under the repository's build root).

    Returns ``{"verilog_seconds", "build_seconds", "run_seconds", "args", "build_dir",
    "result"}``.
    """
    from ...hdl.verilog_text import convert
    from ..runner import BUILD_ROOT, build, run_tests
    from ..verilator import BUILD_ARGS

    if variant not in VERILATOR_VARIANTS:
        raise ValueError(f"Verilator variant must be one of {', '.join(VERILATOR_VARIANTS)}, "
                         f"not {variant!r}")
    say = progress or (lambda message: None)
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    start = time.perf_counter()
    text = convert(RouterHarness(params, templates=plan["template_count"]), name=HARNESS_TOP)
    verilog_seconds = time.perf_counter() - start
    root = Path(build_root or Path(BUILD_ROOT) / "bench-router") / variant
    if fresh and root.exists():
        shutil.rmtree(root)
    extra = " ".join(VERILATOR_VARIANTS[variant]) or "no extra arguments"
    say(f"building the Verilator model for cocotb ({variant}: {extra})")
    start = time.perf_counter()
    runner, build_dir = build("router-harness", text, toplevel=HARNESS_TOP,
                              build_args=VERILATOR_VARIANTS[variant], build_root=root)
    build_seconds = time.perf_counter() - start
    say(f"built in {build_seconds:.1f} s; running the plan under Verilator")
    plan_path = Path(build_dir) / "plan.json"
    result_path = Path(build_dir) / "result.json"
    if result_path.exists():
        result_path.unlink()
    plan_path.write_text(json.dumps(dict(plan, result_path=str(result_path))))
    start = time.perf_counter()
    run_tests(runner, build_dir, toplevel=HARNESS_TOP, test_module="tessera.sim.bench.router",
              test_dir=build_dir, extra_env={PLAN_ENV: str(plan_path)})
    run_seconds = time.perf_counter() - start
    return {
        "verilog_seconds": verilog_seconds,
        "build_seconds": build_seconds,
        "run_seconds": run_seconds,
        "args": [*BUILD_ARGS, *VERILATOR_VARIANTS[variant]],
        "build_dir": str(build_dir),
        "result": json.loads(result_path.read_text()),
    }


def _summarise(plan, result):
    """Per-simulator figures from ``run_plan``'s raw counters."""
    latency = [trial["cycles"] for trial in result["latency"]]
    # A latency trial must deliver its one wavelet to its output and nowhere else.
    stray = [sum(t for o, t in enumerate(trial["transfers"]) if o != k) +
             abs(trial["transfers"][k] - 1) for k, trial in enumerate(result["latency"])]
    patterns = {}
    for phase in plan["patterns"]:
        raw = result["patterns"][phase["name"]]
        cycles = raw["cycles"]
        total = sum(raw["delivered"])
        patterns[phase["name"]] = {
            "cycles": cycles,
            "throughput": [t / cycles for t in raw["transfers"]],
            "offered_inputs": [bool(phase["enable"] >> d & 1) for d in Direction],
            "accepted_rate": [a / cycles for a in raw["accepted"]],
            "delivered": raw["delivered"],
            "shares": [d / total if total else 0.0 for d in raw["delivered"]],
            "misroutes": raw["misroutes"],
            "speed": {mode: {**w, "cycles_per_second": w["cycles"] / w["seconds"]}
                      for mode, w in raw["speed"].items()},
        }
    return {"latency": latency, "latency_stray_transfers": stray, "patterns": patterns}


def bench_router(params, *, cycles=200_000, amaranth_cycles=10_000, cpp_cycles=2_000_000,
                 patterns=None, wavelets="auto", variant=DEFAULT_VERILATOR_VARIANT,
                 simulators=("verilator", "verilator-cpp", "amaranth"), fresh=True,
                 timed_windows=True, build_root=None, progress=None):
    """Benchmark one router under Verilator and Amaranth's simulator with the same traffic.

    Parameters
    ----------
    params : FabricParams
    cycles : int
        Cycles of each Verilator measurement window (one per pattern and wait mode).
    amaranth_cycles : int
        The same for Amaranth's simulator (slower, so shorter by default).
    cpp_cycles : int
        The same for the Verilator model under a generated C++ driver (faster, so longer).
    patterns : iterable of str or None
        Names from :data:`TRAFFIC_PATTERNS`; ``None`` runs them all.
    wavelets : str
        ``"auto"``, ``"colored"`` or ``"addressed"`` (see :func:`router_plan`).
    variant : str
        Verilator build variant, a key of :data:`VERILATOR_VARIANTS`.
    simulators : iterable of str
        Any of ``"verilator"`` (cocotb), ``"verilator-cpp"`` (C++ driver), ``"amaranth"``.
    fresh : bool
        Build the Verilator model from scratch (so its build time is a clean build's).
    timed_windows : bool
        Time every wait mode (one extra window per mode); ``False`` times only the first.
    progress : callable or None
        Called with a line of text at each long step.

    Returns
    -------
    dict
        ``config`` (parameters, plan settings, patterns, tool versions, machine), ``build``
        (seconds), and per simulator ``latency`` (cycles per output, indexed by
        :class:`Direction`) and ``patterns`` (per pattern: ``throughput`` per output in
        wavelets/cycle, ``shares`` of delivered wavelets per source, ``speed`` per wait mode).
    """
    simulators = tuple(simulators)
    for s in simulators:
        if s not in WAIT_MODES:
            raise ValueError(f"Simulator must be one of {', '.join(WAIT_MODES)}, not {s!r}")
    say = progress or (lambda message: None)
    window = {"verilator": cycles, "verilator-cpp": cpp_cycles, "amaranth": amaranth_cycles}
    plans = {s: router_plan(params, cycles=window[s], patterns=patterns, wavelets=wavelets,
                            timed_windows=timed_windows) for s in WAIT_MODES}
    plan = plans["verilator"]
    report = {
        "config": {
            "params": params.as_dict(),
            "router_xy": list(ROUTER_XY),
            "cycles": {s: plans[s]["cycles"] for s in simulators},
            "warmup": plan["warmup"],
            "templates": plan["template_count"],
            "patterns": {p["name"]: {"description": p["description"], "wavelets": p["wavelets"],
                                     "routes": p["routes"], "throughput_bound": p["bound"]}
                         for p in plan["patterns"]},
            "verilator_variant": variant if {"verilator", "verilator-cpp"} & set(simulators)
            else None,
            "wait_modes": {s: list(WAIT_MODES[s]) for s in simulators},
            "versions": tool_versions(),
            "machine": machine_info(),
        },
        "build": {},
        "simulators": {},
    }
    if "verilator" in simulators:
        run = run_verilator(params, plans["verilator"], variant=variant, fresh=fresh,
                            build_root=build_root, progress=say)
        report["config"]["verilator_args"] = run["args"]
        report["build"].update(verilog_seconds=run["verilog_seconds"],
                               verilator_build_seconds=run["build_seconds"],
                               verilator_run_seconds=run["run_seconds"])
        report["simulators"]["verilator"] = _summarise(plans["verilator"], run["result"])
        say(f"Verilator run done in {run['run_seconds']:.1f} s")
    if "verilator-cpp" in simulators:
        run = run_verilator_cpp(params, plans["verilator-cpp"], variant=variant, fresh=fresh,
                                build_root=build_root, progress=say)
        report["config"]["verilator_args"] = run["args"]
        report["build"].update(verilog_seconds=run["verilog_seconds"],
                               cpp_build_seconds=run["build_seconds"],
                               cpp_run_seconds=run["run_seconds"])
        report["simulators"]["verilator-cpp"] = _summarise(plans["verilator-cpp"],
                                                           run["result"])
        say(f"C++ driver run done in {run['run_seconds']:.1f} s")
    if "amaranth" in simulators:
        say(f"running the plan in Amaranth's simulator ({amaranth_cycles} cycles a window)")
        start = time.perf_counter()
        run = run_amaranth(params, plans["amaranth"])
        seconds = time.perf_counter() - start
        report["build"].update(amaranth_setup_seconds=run["setup_seconds"],
                               amaranth_run_seconds=seconds)
        report["simulators"]["amaranth"] = _summarise(plans["amaranth"], run["result"])
        say(f"Amaranth run done in {seconds:.1f} s")
    return report


def _si(value):
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def format_router_report(report):
    """The report of :func:`bench_router` as readable text (configuration, then tables)."""
    cfg = report["config"]
    sims = report["simulators"]
    names = [d.name for d in Direction]
    out = ["Router benchmark", ""]
    params = ", ".join(f"{k}={v}" for k, v in cfg["params"].items())
    out.append(f"parameters: {params}")
    out.append(f"router at (x, y) = {tuple(cfg['router_xy'])}; sources always valid, "
               f"outputs always ready; {cfg['templates']} wavelet templates per source, "
               f"warm-up {cfg['warmup']} cycles")
    out.append("measurement window: " + ", ".join(f"{s} {n} cycles"
                                                   for s, n in cfg["cycles"].items()))
    if cfg.get("verilator_args"):
        out.append(f"verilator variant {cfg['verilator_variant']}: "
                   f"{' '.join(cfg['verilator_args'])}")
    out += environment_lines(cfg["versions"], cfg["machine"])
    out.append("patterns:")
    for name, p in cfg["patterns"].items():
        out.append(f"  {name} ({p['wavelets']} wavelets): {p['description']}")
        for route in p["routes"]:
            out.append(f"      {route}")

    out += ["", "Zero-load latency, RAMP input to each output (cycles from acceptance to "
                "departure)"]
    rows = [[s, *[("-" if c is None else c) for c in sims[s]["latency"]]] for s in sims]
    out.append(format_table(["simulator", *names], rows))

    out += ["", "Throughput per output (wavelets/cycle, outputs always ready; 'bound': "
                "min(1, what always-valid inputs offer the output))"]
    rows = []
    for name, pattern in cfg["patterns"].items():
        bound = pattern["throughput_bound"]
        rows.append([name, "bound", "", *[f"{t:.4f}" for t in bound], f"{sum(bound):.3f}", ""])
        for s in sims:
            p = sims[s]["patterns"][name]
            rows.append(["", s, p["cycles"], *[f"{t:.4f}" for t in p["throughput"]],
                         f"{sum(p['throughput']):.3f}", p["misroutes"]])
    out.append(format_table(["pattern", "simulator", "cycles", *names, "total", "misroutes"], rows))

    out += ["", "Share of delivered wavelets by source input (fairness)"]
    rows = []
    for name in cfg["patterns"]:
        for k, s in enumerate(sims):
            p = sims[s]["patterns"][name]
            on = p["offered_inputs"]
            shares = [f"{sh:.4f}" if o else "-" for sh, o in zip(p["shares"], on)]
            delivered = " ".join(str(d) for d, o in zip(p["delivered"], on) if o)
            rows.append(["" if k else name, s, *shares, delivered])
    out.append(format_table(["pattern", "simulator", *names, "wavelets delivered"], rows))

    out += ["", "Simulation speed (simulated cycles per second of wall time; harness + router)"]
    columns = [(s, mode) for s in sims for mode in cfg["wait_modes"][s]]
    ratios = [s for s in ("verilator", "verilator-cpp") if s in sims and "amaranth" in sims]
    rows = []
    for name in cfg["patterns"]:
        speeds = {}
        for s, mode in columns:
            w = sims[s]["patterns"][name]["speed"].get(mode)
            speeds[(s, mode)] = w["cycles_per_second"] if w else None
        best = {s: max((v for (t, _), v in speeds.items() if t == s and v), default=None)
                for s in sims}
        row = [name, *[("-" if v is None else _si(v)) for v in speeds.values()]]
        row += [f"{best[s] / best['amaranth']:.0f}x" for s in ratios]
        rows.append(row)
    header = ["pattern", *[f"{s} {mode}" for s, mode in columns],
              *[f"{s}/amaranth" for s in ratios]]
    out.append(format_table(header, rows))
    if ratios:
        out.append("(ratios: the fastest wait mode of each simulator)")

    b = report["build"]
    out += ["", "Build and set-up time"]
    rows = []
    if "verilog_seconds" in b:
        rows.append(["Amaranth -> Verilog (harness)", f"{b['verilog_seconds']:.2f} s"])
    if "verilator_build_seconds" in b:
        rows.append(["Verilator build for cocotb (verilate + C++ compile, clean)",
                     f"{b['verilator_build_seconds']:.2f} s"])
        rows.append(["Verilator run under cocotb (start-up + all phases)",
                     f"{b['verilator_run_seconds']:.2f} s"])
    if "cpp_build_seconds" in b:
        rows.append(["Verilator build with C++ driver (clean)",
                     f"{b['cpp_build_seconds']:.2f} s"])
        rows.append(["C++ driver run (all phases)", f"{b['cpp_run_seconds']:.2f} s"])
    if "amaranth_setup_seconds" in b:
        rows.append(["Amaranth simulator set-up (elaborate + compile)",
                     f"{b['amaranth_setup_seconds']:.2f} s"])
        rows.append(["Amaranth run (set-up + all phases)", f"{b['amaranth_run_seconds']:.2f} s"])
    out.append(format_table(["step", "time"], rows))
    return "\n".join(out)
