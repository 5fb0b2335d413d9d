"""cocotb testbench of the mesh router (``hdl/router.py``, top module ``tessera_router``).

Run by ``tests/test_router_verilator.py``, once per parameter set; the set arrives as JSON of
``FabricParams.as_dict()`` in ``TESSERA_PARAMS``. Every test resets the router, drives all five
inputs with :class:`~tessera.sim.streams.WaveletSource`, takes all five outputs with
:class:`~tessera.sim.streams.WaveletSink`, and checks every arrival against a model of the
router (route table + XY order) in a :class:`~tessera.sim.streams.Scoreboard`: nothing lost,
nothing extra, nothing reordered per (input, color), packets never interleaved on an output.
Misrouted wavelets must show in ``misroutes`` and nowhere else. A watchdog fails a test that
stops moving wavelets, naming the stuck ports.

Random choices come from ``random.Random(f"{cocotb.RANDOM_SEED}/{test}")``: a run is
reproduced by its seed (``COCOTB_RANDOM_SEED``; the log's first lines show it).
"""

import functools
import itertools
import json
import os
import random

import cocotb
from cocotb.triggers import ClockCycles

from tessera.hdl.params import FabricParams
from tessera.hdl.routing import FEEDS, LEGAL_OUTPUTS, Route
from tessera.hdl.wavelet import Direction
from tessera.sim.streams import (ClockDomain, Scoreboard, TagCodec, WaveletSink, WaveletSource,
                                 Watchdog, WatchdogTimeout, always, never, random_bools,
                                 wait_drained)
from tessera.sim.wavelets import WaveletCodec

PERIOD_NS = 10
# Coordinates of the router under test: mid-mesh, so destinations lie on every side.
ROUTER_XY = (2, 2)
# A wavelet's tag holds the Direction of the input it was sent on.
SOURCE_BITS = 3
# Backstop only: the watchdog (2000 cycles without progress) fails a stuck test long before.
TIMEOUT = dict(timeout_time=5, timeout_unit="ms")

# Pairs with distinct inputs and distinct outputs that the turn rule allows for colors.
PERMUTATION = [(Direction.RAMP, Direction.RAMP), (Direction.NORTH, Direction.SOUTH),
               (Direction.SOUTH, Direction.NORTH), (Direction.EAST, Direction.WEST),
               (Direction.WEST, Direction.EAST)]


def params_from_env():
    return FabricParams(**json.loads(os.environ["TESSERA_PARAMS"]))


def xy_output(dest, here=ROUTER_XY):
    """The model of dimension-order routing: the output a header to ``dest`` takes here."""
    (x, y), (mx, my) = dest, here
    if x != mx:
        return Direction.EAST if x > mx else Direction.WEST
    if y != my:
        return Direction.SOUTH if y > my else Direction.NORTH
    return Direction.RAMP


def subsets(directions):
    """Every non-empty subset of ``directions``."""
    directions = sorted(directions)
    return [frozenset(c) for n in range(1, len(directions) + 1)
            for c in itertools.combinations(directions, n)]


class TB:
    """The router, its clock and reset, a source per input, a sink per output, and the model.

    Parameters
    ----------
    dut : handle
    name : str
        Seeds this test's random choices (with cocotb's seed).
    idle : float
        Probability of an idle cycle before each wavelet, on every input.
    backpressure : float
        Probability that an output is not ready, every cycle, on every output.
    per_channel : bool
        Draw the backpressure for each channel of each output on its own.
    watchdog : int
        Cycles without progress that fail the test.
    """

    def __init__(self, dut, name, *, idle=0.0, backpressure=0.0, per_channel=False,
                 watchdog=2000):
        self.dut = dut
        self.params = params_from_env()
        self.codec = WaveletCodec(self.params)
        width = len(dut.inp__0__payload)
        assert width == self.codec.width, (f"TESSERA_PARAMS gives {self.codec.width}-bit "
                                           f"wavelets, the design has {width}-bit ones")
        self.tag = TagCodec(self.codec, source_bits=SOURCE_BITS)
        self.rng = random.Random(f"{cocotb.RANDOM_SEED}/{name}")
        self.idle = idle
        self.backpressure = backpressure
        self.per_channel = per_channel
        self.watchdog_limit = watchdog
        self.clock = ClockDomain(dut.clk, PERIOD_NS).start()
        self.scoreboard = Scoreboard(self.tag, sources=Direction)
        # The route table as the model knows it: color -> Route.
        self.routes = {}
        self.expected_misroutes = 0
        self.sources = self.sinks = self.watchdog = None

    @property
    def num_colors(self):
        return self.params.num_colors

    async def reset(self):
        """Reset the router and the model (route table, misroute count).

        With ports started, call it only when drained: reset empties the router's queues.
        """
        dut = self.dut
        if self.sources is not None:
            assert not self.scoreboard.outstanding(), "reset would drop expected wavelets"
        dut.rst.value = 1
        dut.config__valid.value = 0
        dut.x.value, dut.y.value = ROUTER_XY
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await self.clock.edge
        self.routes = {}
        self.expected_misroutes = 0

    async def start(self, *, watch=True):
        """Reset the router, then start sources, sinks and (unless ``watch=False``) watchdog.

        The ports start after reset, so nothing a previous test left in the router is seen.
        """
        for d in Direction:
            getattr(self.dut, f"inp__{d.value}__valid").value = 0
        await self.reset()
        dut = self.dut
        self.sources = [
            WaveletSource(dut, f"inp__{d.value}", self.codec, self.clock, key=d,
                          name=f"inp {d.name}",
                          idle=random_bools(self.idle, seed=self.rng.random()))
            for d in Direction]
        self.sinks = [
            WaveletSink(dut, f"out__{d.value}", self.codec, self.clock, key=d,
                        name=f"out {d.name}",
                        backpressure=random_bools(self.backpressure, seed=self.rng.random()),
                        per_channel=self.per_channel, strict=True,
                        callback=functools.partial(self.scoreboard.receive, d))
            for d in Direction]
        self.watchdog = Watchdog(self.clock, sources=self.sources, sinks=self.sinks,
                                 scoreboard=self.scoreboard, limit=self.watchdog_limit)
        if watch:
            self.watchdog.start()

    async def set_routes(self, routes):
        """Write route-table entries (``{color: Route}``) through ``config``, one per cycle."""
        for color, route in routes.items():
            self.dut.config__payload.value = self.codec.route_write_word(color, route)
            self.dut.config__valid.value = 1
            await self.clock.edge
            assert self.dut.config__ready.value, "config must always be ready"
            self.routes[color] = route
        self.dut.config__valid.value = 0

    def color_outputs(self, inp, color):
        """Where the model sends ``color`` arriving on ``inp`` (empty: misrouted)."""
        route = self.routes.get(color)
        return route.outputs if route is not None and route.accept == inp else frozenset()

    def send_colored(self, inp, color, count=1):
        """Queue ``count`` colored wavelets on ``inp`` and expect them where the model says."""
        outputs = self.color_outputs(inp, color)
        wavelets = [self.tag.colored(inp, color, ctrl=self.rng.random() < 0.25)
                    for _ in range(count)]
        for w in wavelets:
            for out in outputs:
                self.scoreboard.expect(inp, out, w)
        if not outputs:
            self.expected_misroutes += count
        self.sources[inp].send(*wavelets)
        return wavelets

    def send_packet(self, inp, dest, length, *, reply=False):
        """Queue an addressed packet (head + ``length`` wavelets) to tile ``dest`` on ``inp``;
        a request, or with ``reply`` a reply."""
        # Any color, even beyond num_colors: an addressed packet ignores it.
        color = self.rng.randrange(2 ** self.params.color_bits)
        packet = self.tag.packet(inp, *dest, length, color=color, reply=reply)
        out = xy_output(dest)
        if out in LEGAL_OUTPUTS[inp]:
            for w in packet:
                self.scoreboard.expect(inp, out, w)
        else:
            # A step that breaks the turn rule (NORTH or SOUTH in, towards another column, or
            # back the way it came): the router has no such path; the packet is misrouted.
            self.expected_misroutes += len(packet)
        self.sources[inp].send(*packet)
        return packet

    def destinations(self, out):
        """Tiles whose headers XY order sends to ``out``: a neighbour and a far corner."""
        # Header coordinates are signed: -1 is a host beyond the west or north edge.
        (mx, my), top = ROUTER_XY, 2 ** (self.params.coord_bits - 1) - 1
        return {
            Direction.RAMP: [(mx, my)],
            Direction.EAST: [(mx + 1, my), (top, 0)],
            Direction.WEST: [(mx - 1, my), (-1, top)],
            Direction.SOUTH: [(mx, my + 1), (mx, top)],
            Direction.NORTH: [(mx, my - 1), (mx, -1)],
        }[out]

    def misroutes(self):
        return self.dut.misroutes.value.to_unsigned()

    async def drain(self):
        """Wait for every expected wavelet; check nothing else came and ``misroutes``."""
        await wait_drained(self.clock, self.sources, self.scoreboard)
        assert self.misroutes() == self.expected_misroutes, \
            f"misroutes is {self.misroutes()}, expected {self.expected_misroutes}"

    async def finish(self):
        await self.drain()
        self.watchdog.stop()

    def stamps(self, out):
        """Cycles in which ``out`` took a wavelet."""
        return [cycle for cycle, _ in self.sinks[out].received]


def assert_back_to_back(stamps, what):
    """One wavelet per cycle: the cycles are consecutive."""
    assert stamps, f"{what}: nothing arrived"
    gaps = [(a, b) for a, b in zip(stamps, stamps[1:]) if b != a + 1]
    assert not gaps, (f"{what}: {len(stamps)} wavelets over {stamps[-1] - stamps[0] + 1} "
                      f"cycles, gaps after cycles {[a for a, _ in gaps][:8]}")


# -- Colored routing ----------------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
@cocotb.parametrize(inp=list(Direction))
async def colored_every_output(dut, inp):
    """Colored traffic from ``inp`` reaches each output the turn rule allows, and only it."""
    tb = TB(dut, f"colored/{inp.name}", idle=0.2, backpressure=0.2)
    await tb.start()
    for k, out in enumerate(sorted(LEGAL_OUTPUTS[inp])):
        color = k % tb.num_colors
        await tb.set_routes({color: Route(inp, {out})})
        tb.send_colored(inp, color, count=6)
        await tb.drain()
        assert len(tb.sinks[out].received) >= 6
    await tb.finish()


@cocotb.test(**TIMEOUT)
@cocotb.parametrize(backpressure=[0.0, 0.5])
async def multicast_every_subset(dut, backpressure):
    """RAMP multicasts to each of the 31 output subsets: each output exactly once, in order.

    With backpressure the outputs of one multicast take it in different cycles, so the
    router must remember which already have.
    """
    tb = TB(dut, f"multicast/{backpressure}", backpressure=backpressure)
    await tb.start()
    all_subsets = subsets(Direction)
    assert len(all_subsets) == 31
    for first in range(0, len(all_subsets), tb.num_colors):
        batch = dict(enumerate(all_subsets[first:first + tb.num_colors]))
        await tb.set_routes({c: Route(Direction.RAMP, outs) for c, outs in batch.items()})
        colors = [c for c in batch for _ in range(4)]
        tb.rng.shuffle(colors)
        for color in colors:
            tb.send_colored(Direction.RAMP, color)
        await tb.drain()
    for out in Direction:
        assert len(tb.sinks[out].received) == 16 * 4, f"{out.name}: in 16 of the 31 subsets"
    await tb.finish()


@cocotb.test(**TIMEOUT)
async def route_rewrite(dut):
    """A color's route rewritten at run time, while other colors flow, takes effect at once.

    Color A goes RAMP -> NORTH+EAST, drains, and is rewritten to EAST -> WEST+NORTH+RAMP while
    color B streams WEST -> EAST+SOUTH and color C streams RAMP -> RAMP throughout. After the
    rewrite A arrives only at its new outputs; A sent on its old input is misrouted.
    """
    tb = TB(dut, "rewrite", idle=0.2, backpressure=0.2)
    await tb.start()
    a, b, c = 0, 1, 2
    await tb.set_routes({
        a: Route(Direction.RAMP, {Direction.NORTH, Direction.EAST}),
        b: Route(Direction.WEST, {Direction.EAST, Direction.SOUTH}),
        c: Route(Direction.RAMP, {Direction.RAMP}),
    })
    tb.send_colored(Direction.WEST, b, count=200)
    tb.send_colored(Direction.RAMP, a, count=20)
    tb.send_colored(Direction.RAMP, c, count=200)
    while tb.scoreboard.outstanding(order_class=a):
        await ClockCycles(dut.clk, 1)
    # The rewrite must happen under traffic of the other colors, on A's old and new inputs.
    assert tb.sources[Direction.WEST].pending and tb.sources[Direction.RAMP].pending
    await tb.set_routes({a: Route(Direction.EAST, {Direction.WEST, Direction.NORTH,
                                                   Direction.RAMP})})
    tb.send_colored(Direction.EAST, a, count=20)
    tb.send_colored(Direction.RAMP, a, count=3)   # old input: misrouted now
    await tb.finish()
    assert len(tb.sinks[Direction.WEST].received) == 20
    assert tb.expected_misroutes == 3


# -- Addressed packets --------------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
@cocotb.parametrize(inp=list(Direction))
async def addressed_every_output(dut, inp):
    """Packets from ``inp`` go where their header says under XY order, for every output the
    turn rule allows from ``inp``; a header asking for another (NORTH in, EAST out: traffic that
    XY-consistent sources never produce) has its packet misrouted, every wavelet counted."""
    tb = TB(dut, f"addressed/{inp.name}", idle=0.2, backpressure=0.2)
    await tb.start()
    dests = [dest for out in Direction for dest in tb.destinations(out)] * 2
    tb.rng.shuffle(dests)
    for dest in dests:
        tb.send_packet(inp, dest, length=tb.rng.randrange(4))
    await tb.drain()
    for out in Direction:
        if out in LEGAL_OUTPUTS[inp]:
            assert tb.stamps(out), f"{out.name} got no packet from {inp.name}"
        else:
            assert not tb.stamps(out), f"{out.name} got a packet from {inp.name}"
    assert tb.expected_misroutes > 0 or LEGAL_OUTPUTS[inp] == set(Direction)
    await tb.finish()


@cocotb.test(**TIMEOUT)
@cocotb.parametrize(out=list(Direction))
async def packets_do_not_interleave(dut, out):
    """Every input that may reach ``out`` sends multi-wavelet packets to it at once, with pauses
    inside them and backpressure; RAMP mixes colored wavelets to ``out`` in. Each packet must
    arrive whole (colored wavelets may come between its wavelets: another channel)."""
    tb = TB(dut, f"interleave/{out.name}", idle=0.3, backpressure=0.3)
    await tb.start()
    await tb.set_routes({0: Route(Direction.RAMP, {out})})
    dests = tb.destinations(out)
    for k in range(6):
        for inp in FEEDS[out]:
            tb.send_packet(inp, dests[k % len(dests)], length=tb.rng.randrange(1, 6))
        tb.send_colored(Direction.RAMP, 0, count=2)
    await tb.finish()
    heads = {tb.tag.header_source(w.data)
             for _, w in tb.sinks[out].received if w.addressed}
    assert len(heads) >= 2, "the test needs packets from several inputs to contend"


# -- Mixed random traffic -----------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
@cocotb.parametrize((("idle", "backpressure"), [(0.0, 0.0), (0.3, 0.3), (0.1, 0.7)]))
async def random_traffic(dut, idle, backpressure):
    """Long random traffic on every input: every color (random legal unicast and multicast
    routes, one color left unrouted), request and reply packets to random tiles, and misrouted
    wavelets, under random idle and backpressure drawn for every channel of every output on its
    own. The scoreboard must end drained."""
    tb = TB(dut, f"random/{idle}/{backpressure}", idle=idle, backpressure=backpressure,
            per_channel=True)
    await tb.start()
    rng = tb.rng
    routed = range(tb.num_colors - 1) if tb.num_colors > 1 else range(1)
    routes = {}
    for color in routed:
        accept = rng.choice(list(Direction))
        routes[color] = Route(accept, rng.choice(subsets(LEGAL_OUTPUTS[accept])))
    await tb.set_routes(routes)
    all_colors = range(2 ** tb.params.color_bits)
    top = 2 ** (tb.params.coord_bits - 1) - 1
    for _ in range(1000):
        for inp in Direction:
            mine = [c for c in routes if routes[c].accept == inp]
            others = [c for c in all_colors if c not in mine]
            pick = rng.random()
            if pick < 0.55 and mine:
                tb.send_colored(inp, rng.choice(mine))
            elif pick < 0.85:
                tb.send_packet(inp, (rng.randint(-top - 1, top), rng.randint(-top - 1, top)),
                               length=rng.randrange(5), reply=rng.random() < 0.5)
            else:
                tb.send_colored(inp, rng.choice(others))
    await tb.finish()
    assert tb.expected_misroutes > 0


@cocotb.test(**TIMEOUT)
async def misroutes_counted(dut):
    """Wavelets on the wrong input, of an unrouted color, of a route with no outputs, or of a
    color beyond num_colors are counted in ``misroutes`` (up to five in one cycle) and never
    delivered; routed traffic queued behind them still flows."""
    tb = TB(dut, "misroutes")
    await tb.start()
    good, empty, unrouted = 0, 1, tb.num_colors - 1
    await tb.set_routes({good: Route(Direction.RAMP, {Direction.EAST}),
                         empty: Route(Direction.RAMP, frozenset())})
    bad = [empty, unrouted, *range(tb.num_colors, 2 ** tb.params.color_bits)]
    # All five inputs misroute in the same cycles (no idle): the count adds up to five a cycle.
    for k in range(8):
        for inp in Direction:
            tb.send_colored(inp, good if inp != Direction.RAMP else bad[k % len(bad)])
        tb.send_colored(Direction.RAMP, good)
    await tb.drain()
    assert tb.expected_misroutes == 4 * 8 + 8
    # One more: the count moves by exactly one.
    before = tb.misroutes()
    tb.send_colored(Direction.SOUTH, good)
    await tb.finish()
    assert tb.misroutes() == before + 1


@cocotb.test(**TIMEOUT)
async def reset_clears_route_table(dut):
    """Reset returns every route to "not routed" and ``misroutes`` to zero."""
    tb = TB(dut, "reset")
    await tb.start()
    await tb.set_routes({c: Route(Direction.RAMP, {Direction.EAST})
                         for c in range(tb.num_colors)})
    for color in range(tb.num_colors):
        tb.send_colored(Direction.RAMP, color)
        tb.send_colored(Direction.WEST, color)   # misrouted: wrong input
    await tb.drain()
    assert tb.misroutes() == tb.num_colors
    await tb.reset()
    assert tb.misroutes() == 0
    for color in range(tb.num_colors):
        tb.send_colored(Direction.RAMP, color)   # the model has no routes: misrouted
    await tb.finish()
    assert tb.expected_misroutes == tb.num_colors


@cocotb.test(**TIMEOUT)
async def misroutes_saturate(dut):
    """``misroutes`` stops at 65535 rather than wrapping (five misroutes a cycle)."""
    tb = TB(dut, "saturate")
    await tb.start()
    limit = 2 ** 16 - 1
    per_input = limit // len(Direction) + 8
    for inp in Direction:
        # Color 0 is unrouted after reset. The same wavelet repeated: none is expected anywhere.
        tb.sources[inp].send(*[tb.tag.colored(inp, 0)] * per_input)
    tb.expected_misroutes = limit
    await tb.finish()


# -- Timing ---------------------------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
async def zero_load_latency(dut):
    """A wavelet accepted on an input in cycle t is taken from its output in cycle t + 1, for
    every legal (input, output) pair, colored and addressed."""
    tb = TB(dut, "latency")
    await tb.start()
    for inp in Direction:
        for out in sorted(LEGAL_OUTPUTS[inp]):
            await tb.set_routes({0: Route(inp, {out})})
            tb.send_colored(inp, 0)
            await tb.drain()
            sent, got = tb.sources[inp].sent[-1][0], tb.sinks[out].received[-1][0]
            assert got - sent == 1, f"colored {inp.name}->{out.name}: {got - sent} cycles"
        for out in sorted(LEGAL_OUTPUTS[inp]):
            tb.send_packet(inp, tb.destinations(out)[0], length=0)
            await tb.drain()
            sent, got = tb.sources[inp].sent[-1][0], tb.sinks[out].received[-1][0]
            assert got - sent == 1, f"addressed {inp.name}->{out.name}: {got - sent} cycles"
    await tb.finish()


@cocotb.test(**TIMEOUT)
@cocotb.parametrize(kind=["colored", "addressed", "multicast"])
async def full_throughput(dut, kind):
    """Unblocked, every output carries one wavelet per cycle: five disjoint streams at once
    (colored: as many as there are colors), packets back to back, or one multicast to all."""
    tb = TB(dut, f"throughput/{kind}")
    await tb.start()
    n = 48
    if kind == "colored":
        pairs = PERMUTATION[:tb.num_colors]
        await tb.set_routes({c: Route(inp, {out}) for c, (inp, out) in enumerate(pairs)})
        for color, (inp, _) in enumerate(pairs):
            tb.send_colored(inp, color, count=n)
    elif kind == "addressed":
        pairs = PERMUTATION
        for inp, out in pairs:
            for _ in range(n // 4):
                tb.send_packet(inp, tb.destinations(out)[0], length=3)
    else:
        pairs = [(Direction.RAMP, out) for out in Direction]
        await tb.set_routes({0: Route(Direction.RAMP, set(Direction))})
        tb.send_colored(Direction.RAMP, 0, count=n)
    await tb.finish()
    for inp, out in pairs:
        assert len(tb.stamps(out)) == n
        assert_back_to_back(tb.stamps(out), f"{kind} {inp.name}->{out.name} at the output")
        assert_back_to_back([c for c, _ in tb.sources[inp].sent], f"{kind} {inp.name} input")


@cocotb.test(**TIMEOUT)
@cocotb.parametrize(kind=["colored", "addressed"])
async def contention_round_robin(dut, kind):
    """Four inputs saturating one output (SOUTH) share it in strict rotation with no idle
    cycle: each of any four consecutive grants goes to a different input."""
    tb = TB(dut, f"contention/{kind}")
    await tb.start()
    out = Direction.SOUTH
    inputs = [Direction.RAMP, Direction.NORTH, Direction.EAST, Direction.WEST]
    n = 32
    if kind == "colored":
        await tb.set_routes({c: Route(inp, {out}) for c, inp in enumerate(inputs)})
        for color, inp in enumerate(inputs):
            tb.send_colored(inp, color, count=n)
    else:
        for inp in inputs:
            for _ in range(n // 2):
                tb.send_packet(inp, tb.destinations(out)[0], length=1)
    await tb.finish()
    assert_back_to_back(tb.stamps(out), f"{kind} contention at {out.name}")
    # Who won each grant: every wavelet, or every packet's head (packets of two wavelets
    # arrive whole, as the scoreboard checked, so heads are at even positions).
    received = [w for _, w in tb.sinks[out].received]
    grants = ([tb.tag.source(w.data) for w in received] if kind == "colored"
              else [tb.tag.header_source(w.data) for w in received[::2]])
    busy = grants[:len(grants) - 2 * len(inputs)]   # while every input still waits
    for k in range(len(busy) - len(inputs) + 1):
        window = busy[k:k + len(inputs)]
        assert len(set(window)) == len(inputs), \
            f"grants {k}..{k + len(inputs) - 1} went to {[Direction(s).name for s in window]}"


@cocotb.test(**TIMEOUT)
@cocotb.parametrize(kind=["colored", "addressed", "multicast"])
async def blocked_output_isolation(dut, kind):
    """With SOUTH blocked and a stream stuck behind it, traffic between other inputs and
    outputs (other colors, other packets) keeps one wavelet per cycle; after SOUTH frees,
    everything arrives. Multicast: RAMP -> EAST+SOUTH stalls on SOUTH after EAST took its
    head once, and EAST keeps serving WEST."""
    tb = TB(dut, f"blocked/{kind}")
    await tb.start()
    blocked, n = Direction.SOUTH, 40
    stuck_count = tb.params.queue_depth + 3
    tb.sinks[blocked].set_backpressure(always())
    if kind == "multicast":
        stuck = Direction.RAMP
        free = [(Direction.WEST, Direction.EAST), (Direction.EAST, Direction.WEST)]
    else:
        stuck = Direction.NORTH
        free = [(Direction.EAST, Direction.WEST), (Direction.RAMP, Direction.RAMP),
                (Direction.WEST, Direction.EAST)]
    if kind == "addressed":
        for _ in range(stuck_count // 2 + 1):
            tb.send_packet(stuck, tb.destinations(blocked)[0], length=1)
        for inp, out in free:
            for _ in range(n // 2):
                tb.send_packet(inp, tb.destinations(out)[0], length=1)
    else:
        stuck_outputs = {blocked, Direction.EAST} if kind == "multicast" else {blocked}
        routes = {0: Route(stuck, stuck_outputs)}
        routes.update({c: Route(inp, {out}) for c, (inp, out) in enumerate(free, start=1)})
        await tb.set_routes(routes)
        tb.send_colored(stuck, 0, count=stuck_count)
        for color, (inp, _) in enumerate(free, start=1):
            tb.send_colored(inp, color, count=n)
    while any(tb.scoreboard.outstanding(source=inp, dest=out) for inp, out in free):
        await ClockCycles(dut.clk, 4)
    assert not tb.sinks[blocked].received
    assert tb.sources[stuck].stalled, f"{stuck.name} should be stalled behind {blocked.name}"
    for inp, out in free:
        assert_back_to_back(tb.stamps(out), f"{inp.name}->{out.name} beside blocked "
                                            f"{blocked.name}")
    tb.sinks[blocked].set_backpressure(never())
    await tb.finish()


@cocotb.test(**TIMEOUT)
async def blocked_color_beside_another_on_one_input(dut):
    """Color 0 goes NORTH -> SOUTH and SOUTH takes nothing; color 1 goes NORTH -> RAMP on the
    same input, behind it. In channels of their own, color 1 flows at one wavelet a cycle;
    sharing a channel (``color_channels`` 1), it is stuck behind color 0 (the rule the
    parameter trades away)."""
    tb = TB(dut, "blocked-color")
    await tb.start()
    p = tb.params
    blocked, flowing = 0, 1
    await tb.set_routes({blocked: Route(Direction.NORTH, {Direction.SOUTH}),
                         flowing: Route(Direction.NORTH, {Direction.RAMP})})
    tb.sinks[Direction.SOUTH].set_backpressure(always())
    # As many of the blocked color as its channel holds, so the input itself never stalls.
    tb.send_colored(Direction.NORTH, blocked, count=p.queue_depth)
    tb.send_colored(Direction.NORTH, flowing, count=30)
    shared = blocked % p.color_channels == flowing % p.color_channels
    await ClockCycles(dut.clk, 60)
    ramp = tb.stamps(Direction.RAMP)
    if shared:
        assert ramp == [], "a shared channel holds the flowing color behind the blocked one"
    else:
        assert len(ramp) == 30
        assert_back_to_back(ramp, "color 1 beside blocked color 0")
    tb.sinks[Direction.SOUTH].set_backpressure(never())
    await tb.finish()


@cocotb.test(**TIMEOUT)
async def route_rewrite_under_load(dut):
    """A multicast RAMP -> {EAST, SOUTH} is half delivered (EAST took it, SOUTH is blocked) when
    its route is rewritten to {EAST, NORTH}: the wavelets inside still reach SOUTH, once, and
    those that arrive after the write go to EAST and NORTH (issue 7's finding: they went to
    NORTH and never to SOUTH)."""
    tb = TB(dut, "rewrite")
    await tb.start()
    before = Route(Direction.RAMP, {Direction.EAST, Direction.SOUTH})
    after = Route(Direction.RAMP, {Direction.EAST, Direction.NORTH})
    await tb.set_routes({0: before})
    tb.sinks[Direction.SOUTH].set_backpressure(always())
    inside = tb.send_colored(Direction.RAMP, 0, count=tb.params.queue_depth)
    await tb.sources[Direction.RAMP].wait_taken(len(inside))
    await ClockCycles(dut.clk, 4)
    # EAST took the first (the rest wait behind it in their channel); SOUTH took none.
    assert [w for _, w in tb.sinks[Direction.EAST].received] == inside[:1]
    assert not tb.sinks[Direction.SOUTH].received
    await tb.set_routes({0: after})
    tb.send_colored(Direction.RAMP, 0, count=30)
    await ClockCycles(dut.clk, 10)
    tb.sinks[Direction.SOUTH].set_backpressure(never())
    await tb.finish()
    assert [w for _, w in tb.sinks[Direction.SOUTH].received] == inside


# -- The test tools themselves -----------------------------------------------------------------

@cocotb.test(**TIMEOUT)
async def watchdog_names_stuck_port(dut):
    """A blocked output makes the watchdog fail within its limit, naming the stuck ports."""
    limit = 100
    tb = TB(dut, "watchdog", watchdog=limit)
    await tb.start(watch=False)
    depth = tb.params.queue_depth
    await tb.set_routes({0: Route(Direction.NORTH, {Direction.SOUTH})})
    tb.sinks[Direction.SOUTH].set_backpressure(always())
    tb.send_colored(Direction.NORTH, 0, count=depth + 2)
    start = tb.clock.cycle()
    try:
        await tb.watchdog.watch()
    except WatchdogTimeout as e:
        message = str(e)
    waited = tb.clock.cycle() - start
    assert limit <= waited <= limit + 3 * tb.watchdog.interval, f"fired after {waited} cycles"
    assert message.startswith("no progress for "), message
    assert message.endswith(
        f"out SOUTH has {depth + 2} wavelets outstanding, held not ready; "
        f"inp NORTH has 2 wavelets queued, valid but not ready"), message
    tb.sinks[Direction.SOUTH].set_backpressure(never())
    tb.watchdog.start()
    await tb.finish()
