"""The router's parts, one at a time, in the Amaranth simulator; then a router; then ``Route``.

Wavelets go on and off the wires through :class:`tessera.sim.wavelets.WaveletCodec`, so these
tests and the hardware share one definition of the formats.
"""

import random
import re
from collections import deque

import pytest
from amaranth.hdl import unsigned

from tessera.hdl.params import resolve_params
from tessera.hdl.router import Crossbar, InputQueue, RoundRobinArbiter, RouteCompute, Router
from tessera.hdl.routing import LEGAL_OUTPUTS, Route, RouteError
from tessera.hdl.wavelet import NUM_PORTS, Direction
from tessera.sim.amaranth_sim import refused, simulate
from tessera.sim.wavelets import Wavelet, WaveletCodec

PARAMS = resolve_params("default")
CODEC = WaveletCodec(PARAMS)


def word(ctx, view):
    """The integer on a struct-shaped port (``ctx.get`` of a view gives a struct constant)."""
    return ctx.get(view.as_value())


def put(ctx, view, value):
    ctx.set(view.as_value(), value)


def mask(directions):
    return sum(1 << int(d) for d in directions)


# --- InputQueue ---------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [0, 1, 3, 6, -4, "4", 4.0, None])
def test_queue_depth_must_be_a_power_of_two_of_at_least_2(depth):
    refused(ValueError, rf"^Queue depth must be a power of two of at least 2, "
                        rf"not {re.escape(repr(depth))}$",
            lambda: InputQueue(unsigned(8), depth=depth))


def test_queue_fills_then_drains_in_order():
    dut = InputQueue(unsigned(8), depth=4)

    async def testbench(ctx):
        assert (ctx.get(dut.w.ready), ctx.get(dut.r.valid), ctx.get(dut.level)) == (1, 0, 0)
        ctx.set(dut.w.valid, 1)
        for k in range(4):
            assert ctx.get(dut.w.ready) == 1, "not full yet, so ready"
            ctx.set(dut.w.payload, 10 + k)
            await ctx.tick()
            assert ctx.get(dut.level) == k + 1
            assert ctx.get(dut.r.valid) == 1
            assert ctx.get(dut.r.payload) == 10, "the oldest entry is at the head"
        ctx.set(dut.w.payload, 99)
        assert ctx.get(dut.w.ready) == 0, "full, so not ready"
        await ctx.tick()
        assert ctx.get(dut.level) == 4, "a write while full is not taken"
        ctx.set(dut.w.valid, 0)

        ctx.set(dut.r.ready, 1)
        for k in range(4):
            assert ctx.get(dut.r.valid) == 1
            assert ctx.get(dut.r.payload) == 10 + k
            await ctx.tick()
            assert ctx.get(dut.level) == 3 - k
            assert ctx.get(dut.w.ready) == 1
        assert ctx.get(dut.r.valid) == 0
    simulate(dut, testbench)


def test_queue_write_appears_at_head_next_cycle():
    dut = InputQueue(unsigned(8), depth=2)

    async def testbench(ctx):
        ctx.set(dut.w.valid, 1)
        ctx.set(dut.w.payload, 42)
        assert ctx.get(dut.r.valid) == 0, "no bypass: a write is not at the head the same cycle"
        await ctx.tick()
        ctx.set(dut.w.valid, 0)
        assert (ctx.get(dut.r.valid), ctx.get(dut.r.payload)) == (1, 42)
    simulate(dut, testbench)


def test_queue_push_and_pop_when_full_takes_only_the_pop():
    dut = InputQueue(unsigned(8), depth=2)

    async def testbench(ctx):
        ctx.set(dut.w.valid, 1)
        for value in (1, 2):
            ctx.set(dut.w.payload, value)
            await ctx.tick()
        assert ctx.get(dut.level) == 2
        # Full: the writer offers 3 while the reader takes 1. ready is "not full" (no
        # combinational path from r.ready to w.ready), so 3 is refused this cycle.
        ctx.set(dut.w.payload, 3)
        ctx.set(dut.r.ready, 1)
        assert ctx.get(dut.w.ready) == 0
        assert ctx.get(dut.r.payload) == 1
        await ctx.tick()
        assert ctx.get(dut.level) == 1
        ctx.set(dut.r.ready, 0)
        assert ctx.get(dut.w.ready) == 1
        await ctx.tick()                     # now 3 goes in
        ctx.set(dut.w.valid, 0)
        ctx.set(dut.r.ready, 1)
        out = []
        for _ in range(2):
            out.append(ctx.get(dut.r.payload))
            await ctx.tick()
        assert out == [2, 3]
        assert ctx.get(dut.level) == 0
    simulate(dut, testbench)


def test_queue_push_and_pop_when_empty_takes_only_the_push():
    dut = InputQueue(unsigned(8), depth=2)

    async def testbench(ctx):
        ctx.set(dut.r.ready, 1)
        ctx.set(dut.w.valid, 1)
        ctx.set(dut.w.payload, 7)
        assert ctx.get(dut.r.valid) == 0
        await ctx.tick()
        assert ctx.get(dut.level) == 1, "nothing to pop: the push alone counts"
        # Now push 8 and pop 7 in one cycle: the level stays.
        ctx.set(dut.w.payload, 8)
        assert ctx.get(dut.r.payload) == 7
        await ctx.tick()
        assert ctx.get(dut.level) == 1
        assert ctx.get(dut.r.payload) == 8
    simulate(dut, testbench)


@pytest.mark.parametrize("depth", [2, 4, 8])
def test_queue_random_traffic_keeps_order(depth):
    dut = InputQueue(unsigned(8), depth=depth)
    rng = random.Random(depth)
    sent = [rng.randrange(256) for _ in range(300)]

    async def testbench(ctx):
        model = deque()
        received = []
        k = 0
        while len(received) < len(sent):
            offer = k < len(sent) and rng.random() < 0.6
            take = rng.random() < 0.5
            ctx.set(dut.w.valid, offer)
            ctx.set(dut.w.payload, sent[k] if offer else 0)
            ctx.set(dut.r.ready, take)
            assert ctx.get(dut.level) == len(model)
            assert ctx.get(dut.w.ready) == (len(model) < depth)
            assert ctx.get(dut.r.valid) == (len(model) > 0)
            if model:
                assert ctx.get(dut.r.payload) == model[0]
            if take and model:
                received.append(model.popleft())
            if offer and ctx.get(dut.w.ready):
                model.append(sent[k])
                k += 1
            await ctx.tick()
        assert received == sent
    simulate(dut, testbench)


# --- RouteCompute -------------------------------------------------------------------------------

def _xy_direction(here, dest):
    """Dimension order, written out independently of the design: x first, then y."""
    (x, y), (dx, dy) = here, dest
    if dx > x:
        return Direction.EAST
    if dx < x:
        return Direction.WEST
    if dy > y:
        return Direction.SOUTH
    if dy < y:
        return Direction.NORTH
    return Direction.RAMP


def test_route_compute_xy_for_every_relative_position():
    dut = RouteCompute(PARAMS, port=Direction.WEST)
    here = (2, 3)

    async def testbench(ctx):
        ctx.set(dut.x, here[0])
        ctx.set(dut.y, here[1])
        ctx.set(dut.valid, 1)
        for dx in range(6):
            for dy in range(6):
                head = CODEC.packet(dx, dy, [1])[0]
                put(ctx, dut.wavelet, CODEC.pack(head))
                expected = _xy_direction(here, (dx, dy))
                assert ctx.get(dut.outputs) == mask([expected]), (dx, dy)
                assert ctx.get(dut.misroute) == 0
    simulate(dut, testbench)


def test_route_compute_xy_at_coordinate_extremes():
    # Header coordinates are signed over their whole range (hosts sit at -1 and beyond the far
    # edge); tile coordinates run from 0 to the largest positive one.
    dut = RouteCompute(PARAMS, port=Direction.RAMP)
    top = 2 ** (PARAMS.coord_bits - 1) - 1
    low = -2 ** (PARAMS.coord_bits - 1)

    async def testbench(ctx):
        ctx.set(dut.valid, 1)
        for here, dest in [((0, 0), (top, top)), ((top, top), (0, 0)), ((top, 0), (top, top)),
                           ((0, top), (0, 0)), ((top, top), (top, top)), ((0, 0), (-1, 0)),
                           ((0, 0), (0, -1)), ((top, top), (low, low)), ((0, 3), (0, low)),
                           ((top - 1, 0), (top, 0))]:
            ctx.set(dut.x, here[0])
            ctx.set(dut.y, here[1])
            put(ctx, dut.wavelet, CODEC.pack(CODEC.packet(*dest)[0]))
            assert ctx.get(dut.outputs) == mask([_xy_direction(here, dest)]), (here, dest)
    simulate(dut, testbench)


def _set_route(ctx, dut, route, valid=True):
    # The route field of a config write, located by the layout (not by hand).
    put(ctx, dut.route, CODEC.route_write_word(0, route) >> CODEC.route_write["route"].offset)
    ctx.set(dut.route_valid, valid)


def test_route_compute_color_route_from_its_accepted_input():
    dut = RouteCompute(PARAMS, port=Direction.WEST)
    multicast = Route(Direction.WEST, {Direction.EAST, Direction.SOUTH, Direction.RAMP})

    async def testbench(ctx):
        ctx.set(dut.valid, 1)
        put(ctx, dut.wavelet, CODEC.pack(Wavelet(data=123, color=5)))
        _set_route(ctx, dut, multicast)
        assert ctx.get(dut.outputs) == multicast.outputs_mask
        assert ctx.get(dut.misroute) == 0
    simulate(dut, testbench)


@pytest.mark.parametrize("case", ["wrong input", "no outputs", "color beyond num_colors"])
def test_route_compute_misroutes_a_color_it_does_not_route(case):
    dut = RouteCompute(PARAMS, port=Direction.WEST)

    async def testbench(ctx):
        ctx.set(dut.valid, 1)
        put(ctx, dut.wavelet, CODEC.pack(Wavelet(data=1, color=2)))
        if case == "wrong input":
            _set_route(ctx, dut, Route(Direction.EAST, {Direction.WEST}))
        elif case == "no outputs":
            _set_route(ctx, dut, Route(Direction.WEST, set()))
        else:
            _set_route(ctx, dut, Route(Direction.WEST, {Direction.EAST}), valid=False)
        assert ctx.get(dut.outputs) == 0
        assert ctx.get(dut.misroute) == 1
        ctx.set(dut.valid, 0)
        assert ctx.get(dut.misroute) == 0, "no head, nothing misrouted"
    simulate(dut, testbench)


def test_route_compute_packet_body_follows_its_head_until_last():
    dut = RouteCompute(PARAMS, port=Direction.RAMP)

    async def testbench(ctx):
        ctx.set(dut.x, 2)
        ctx.set(dut.y, 2)
        ctx.set(dut.valid, 1)
        # Body words that, read as headers, would point elsewhere: they must not be.
        west_looking = CODEC.header_data(0, 2)
        packet = CODEC.packet(4, 2, [west_looking, CODEC.header_data(2, 0)])
        put(ctx, dut.wavelet, CODEC.pack(packet[0]))
        assert ctx.get(dut.outputs) == mask([Direction.EAST])
        ctx.set(dut.pop, 0)
        await ctx.tick()                     # the head waits: nothing remembered yet
        put(ctx, dut.wavelet, CODEC.pack(packet[1]))
        assert ctx.get(dut.outputs) == mask([Direction.WEST]), "not yet in a packet"
        put(ctx, dut.wavelet, CODEC.pack(packet[0]))
        ctx.set(dut.pop, 1)
        await ctx.tick()                     # the head leaves
        for body in packet[1:]:
            put(ctx, dut.wavelet, CODEC.pack(body))
            assert ctx.get(dut.outputs) == mask([Direction.EAST]), body
            ctx.set(dut.pop, 0)
            await ctx.tick()                 # a stalled body wavelet keeps the packet's output
            assert ctx.get(dut.outputs) == mask([Direction.EAST])
            ctx.set(dut.pop, 1)
            await ctx.tick()
        # After `last`, the next head is routed afresh.
        put(ctx, dut.wavelet, CODEC.pack(CODEC.packet(2, 4)[0]))
        assert ctx.get(dut.outputs) == mask([Direction.SOUTH])
    simulate(dut, testbench)


def test_route_compute_single_wavelet_packet_does_not_capture_the_next():
    dut = RouteCompute(PARAMS, port=Direction.RAMP)

    async def testbench(ctx):
        ctx.set(dut.valid, 1)
        ctx.set(dut.pop, 1)
        put(ctx, dut.wavelet, CODEC.pack(CODEC.packet(3, 0)[0]))   # head and last
        assert ctx.get(dut.outputs) == mask([Direction.EAST])
        await ctx.tick()
        put(ctx, dut.wavelet, CODEC.pack(CODEC.packet(0, 3)[0]))
        assert ctx.get(dut.outputs) == mask([Direction.SOUTH])
    simulate(dut, testbench)


# --- RoundRobinArbiter --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, -1, 2.5, "3"])
def test_arbiter_requester_count_must_be_positive(n):
    refused(ValueError, rf"^Requester count must be a positive integer, not {re.escape(repr(n))}$",
            lambda: RoundRobinArbiter(n))


def test_arbiter_with_everyone_requesting_grants_each_in_turn():
    n = 5
    dut = RoundRobinArbiter(n)

    async def testbench(ctx):
        ctx.set(dut.requests, 2 ** n - 1)
        ctx.set(dut.release, 1)
        order = []
        for _ in range(3 * n):
            grant = ctx.get(dut.grant)
            order.append(grant.bit_length() - 1)
            assert grant & (grant - 1) == 0 and grant, "one-hot"
            await ctx.tick()
        assert order == [k % n for k in range(3 * n)]
    simulate(dut, testbench)


def test_arbiter_holds_a_grant_until_release():
    dut = RoundRobinArbiter(4)

    async def testbench(ctx):
        ctx.set(dut.requests, 0b0100)
        assert ctx.get(dut.grant) == 0b0100
        await ctx.tick()
        # Others arrive and the holder even stops requesting: the grant stays.
        for requests in (0b1111, 0b0011, 0b0000):
            ctx.set(dut.requests, requests)
            assert ctx.get(dut.grant) == 0b0100
            await ctx.tick()
        ctx.set(dut.requests, 0b1111)
        ctx.set(dut.release, 1)
        assert ctx.get(dut.grant) == 0b0100, "still the holder in the release cycle"
        await ctx.tick()
        assert ctx.get(dut.grant) == 0b1000, "then the next one round the ring"
        await ctx.tick()
        assert ctx.get(dut.grant) == 0b0001
    simulate(dut, testbench)


def test_arbiter_grants_nothing_without_requests():
    dut = RoundRobinArbiter(3)

    async def testbench(ctx):
        for _ in range(3):
            assert ctx.get(dut.grant) == 0
            await ctx.tick()
    simulate(dut, testbench)


def test_arbiter_random_requests_match_a_reference_model():
    n = 5
    dut = RoundRobinArbiter(n)
    rng = random.Random(5)

    async def testbench(ctx):
        held, owner, first = False, 0, 0
        waited = [0] * n               # other grants released while each one waits
        requests = 0
        for _ in range(2000):
            # Requesters keep requesting until granted (as router inputs do); others come and go.
            grant_before = ctx.get(dut.grant)
            requests = (requests & ~grant_before) | rng.randrange(2 ** n)
            release = rng.random() < 0.4
            ctx.set(dut.requests, requests)
            ctx.set(dut.release, release)
            grant = ctx.get(dut.grant)
            assert grant & (grant - 1) == 0
            if held:
                assert grant == owner
            else:
                expected = 0
                for k in range(n):
                    if requests >> ((first + k) % n) & 1:
                        expected = 1 << ((first + k) % n)
                        break
                assert grant == expected
            for i in range(n):
                if requests >> i & 1 and not grant >> i & 1:
                    waited[i] += bool(release and grant)
                    assert waited[i] < n, "a waiting requester is passed over at most n-1 times"
                else:
                    waited[i] = 0
            if release:
                held = False
                if grant:
                    first = (grant.bit_length()) % n
            elif grant:
                held, owner = True, grant
            await ctx.tick()
    simulate(dut, testbench)


# --- Crossbar -----------------------------------------------------------------------------------

def test_crossbar_moves_each_selected_head_to_its_output():
    dut = Crossbar(PARAMS)
    rng = random.Random(1)
    heads = {d: Wavelet(data=rng.randrange(2 ** 32), color=int(d), ctrl=bool(d & 1),
                        addressed=bool(d & 2), last=True) for d in Direction}

    async def testbench(ctx):
        for d, w in heads.items():
            put(ctx, dut.heads[d], CODEC.pack(w))
        for _ in range(50):
            choice = {o: rng.choice([None, *Direction]) for o in Direction}
            for o, i in choice.items():
                ctx.set(dut.select[o], 0 if i is None else 1 << int(i))
            for o, i in choice.items():
                got = word(ctx, dut.outputs[o])
                assert got == (0 if i is None else CODEC.pack(heads[i])), (o, i)
    simulate(dut, testbench)


# --- Router -------------------------------------------------------------------------------------

class _Link:
    """Per-cycle drive and capture of one router's ports, for the router tests."""

    def __init__(self, dut, rng, *, ready_prob=0.7, send_prob=1.0):
        self.dut = dut
        self.rng = rng
        self.ready_prob = ready_prob
        self.send_prob = send_prob
        self.to_send = {d: deque() for d in Direction}
        self.offered = {d: False for d in Direction}
        self.received = {d: [] for d in Direction}
        self.received_at = {d: [] for d in Direction}     # cycle of each delivery
        self.cycles = 0

    async def cycle(self, ctx):
        dut = self.dut
        for d in Direction:
            queue = self.to_send[d]
            # Pauses only between offers: once offered, a wavelet stays until taken.
            self.offered[d] = bool(queue) and (self.offered[d]
                                               or self.rng.random() < self.send_prob)
            ctx.set(dut.inp[d].valid, self.offered[d])
            put(ctx, dut.inp[d].payload, CODEC.pack(queue[0]) if queue else 0)
            ctx.set(dut.out[d].ready, self.rng.random() < self.ready_prob)
        for d in Direction:
            if ctx.get(dut.inp[d].valid) and ctx.get(dut.inp[d].ready):
                self.to_send[d].popleft()
                self.offered[d] = False
            if ctx.get(dut.out[d].valid) and ctx.get(dut.out[d].ready):
                self.received[d].append(CODEC.unpack(word(ctx, dut.out[d].payload)))
                self.received_at[d].append(self.cycles)
        self.cycles += 1
        await ctx.tick()


async def _configure(ctx, dut, routes):
    for color, route in routes.items():
        ctx.set(dut.config.valid, 1)
        put(ctx, dut.config.payload, CODEC.route_write_word(color, route))
        await ctx.tick()
    ctx.set(dut.config.valid, 0)


def test_router_multicasts_reach_each_output_once_in_order():
    dut = Router(PARAMS)
    # Two multicasts that share the EAST output, so they also compete for it.
    routes = {3: Route(Direction.RAMP, {Direction.EAST, Direction.SOUTH, Direction.RAMP}),
              4: Route(Direction.WEST, {Direction.EAST, Direction.NORTH})}
    sources = {3: Direction.RAMP, 4: Direction.WEST}
    streams = {color: [Wavelet(data=100 * color + k, color=color, ctrl=(k % 3 == 0))
                       for k in range(40)] for color in routes}

    async def testbench(ctx):
        await _configure(ctx, dut, routes)
        link = _Link(dut, random.Random(3))
        for color, port in sources.items():
            link.to_send[port].extend(streams[color])
        for _ in range(250):
            await link.cycle(ctx)
        for d in Direction:
            for color, route in routes.items():
                got = [w for w in link.received[d] if w.color == color]
                assert got == (streams[color] if d in route.outputs else []), (d, color)
        assert sum(map(len, link.received.values())) == 3 * 40 + 2 * 40, "nothing extra"
        assert ctx.get(dut.misroutes) == 0
    simulate(dut, testbench)


def test_router_addressed_packets_go_xy_and_stay_whole():
    dut = Router(PARAMS)
    here = (1, 1)
    east = CODEC.packet(3, 0, [11, 12, 13])         # x differs: EAST first
    north = CODEC.packet(1, 0, [21, 22])            # same column, smaller y: NORTH
    local = CODEC.packet(1, 1, [31])                # here: RAMP
    east_too = CODEC.packet(2, 1, [41, 42])         # from WEST, competing for EAST

    async def testbench(ctx):
        ctx.set(dut.x, here[0])
        ctx.set(dut.y, here[1])
        link = _Link(dut, random.Random(4))
        link.to_send[Direction.RAMP].extend(east + north)
        link.to_send[Direction.WEST].extend(local + east_too)
        for _ in range(100):
            await link.cycle(ctx)
        # Both packets leave EAST, each whole (the output is held until `last`).
        assert link.received[Direction.EAST] in (east + east_too, east_too + east)
        assert link.received[Direction.NORTH] == north
        assert link.received[Direction.RAMP] == local
        assert link.received[Direction.SOUTH] == link.received[Direction.WEST] == []
    simulate(dut, testbench)


def test_router_packet_with_gaps_is_delivered_once():
    # The sender pauses inside packets: the output stays held for the packet but offers
    # nothing while the next wavelet is missing (no stale or repeated wavelets).
    dut = Router(PARAMS)
    packets = [CODEC.packet(2, 0, [10 * k + j for j in range(k % 4)]) for k in range(12)]

    async def testbench(ctx):
        ctx.set(dut.x, 0)
        ctx.set(dut.y, 0)
        link = _Link(dut, random.Random(8), ready_prob=0.8, send_prob=0.3)
        link.to_send[Direction.RAMP].extend(w for p in packets for w in p)
        for _ in range(300):
            await link.cycle(ctx)
        assert link.received[Direction.EAST] == [w for p in packets for w in p]
    simulate(dut, testbench)


def test_router_sustains_one_wavelet_per_cycle_per_output():
    dut = Router(PARAMS)
    routes = {1: Route(Direction.WEST, {Direction.EAST}),
              2: Route(Direction.NORTH, {Direction.SOUTH, Direction.RAMP})}
    streams = {Direction.WEST: [Wavelet(data=k, color=1) for k in range(30)],
               Direction.NORTH: [Wavelet(data=k, color=2) for k in range(30)]}

    async def testbench(ctx):
        await _configure(ctx, dut, routes)
        link = _Link(dut, random.Random(9), ready_prob=1.0)
        for port, stream in streams.items():
            link.to_send[port].extend(stream)
        for _ in range(40):
            await link.cycle(ctx)
        for out, port in [(Direction.EAST, Direction.WEST), (Direction.SOUTH, Direction.NORTH),
                          (Direction.RAMP, Direction.NORTH)]:
            assert link.received[out] == streams[port]
            # Back to back: the first arrives one cycle after it was offered, then one a cycle.
            assert link.received_at[out] == list(range(1, 31)), out
    simulate(dut, testbench)


def test_router_zero_load_latency_is_one_cycle():
    dut = Router(PARAMS)

    async def testbench(ctx):
        await _configure(ctx, dut, {1: Route(Direction.WEST, {Direction.EAST})})
        ctx.set(dut.out[Direction.EAST].ready, 1)
        ctx.set(dut.inp[Direction.WEST].valid, 1)
        put(ctx, dut.inp[Direction.WEST].payload, CODEC.pack(Wavelet(data=9, color=1)))
        assert ctx.get(dut.out[Direction.EAST].valid) == 0
        await ctx.tick()
        ctx.set(dut.inp[Direction.WEST].valid, 0)
        assert ctx.get(dut.out[Direction.EAST].valid) == 1
        assert CODEC.unpack(word(ctx, dut.out[Direction.EAST].payload)) == Wavelet(data=9,
                                                                                   color=1)
    simulate(dut, testbench)


def test_router_counts_and_discards_misrouted_colors():
    dut = Router(PARAMS)

    async def testbench(ctx):
        await _configure(ctx, dut, {2: Route(Direction.WEST, {Direction.EAST})})
        link = _Link(dut, random.Random(6), ready_prob=1.0)
        link.to_send[Direction.NORTH].extend([Wavelet(data=1, color=2),    # wrong input
                                              Wavelet(data=2, color=5),    # unrouted color
                                              Wavelet(data=3, color=9)])   # >= num_colors
        link.to_send[Direction.WEST].append(Wavelet(data=4, color=2))
        for _ in range(10):
            await link.cycle(ctx)
        assert ctx.get(dut.misroutes) == 3
        assert link.received[Direction.EAST] == [Wavelet(data=4, color=2)]
        assert sum(len(v) for v in link.received.values()) == 1
    simulate(dut, testbench)


# --- Route and the turn rule --------------------------------------------------------------------

def _subsets(directions):
    items = sorted(directions)
    for bits in range(2 ** len(items)):
        yield frozenset(d for k, d in enumerate(items) if bits >> k & 1)


@pytest.mark.parametrize("accept", list(Direction))
def test_route_accepts_every_legal_set_of_outputs(accept):
    for outputs in _subsets(LEGAL_OUTPUTS[accept]):
        route = Route(accept, outputs)
        assert route.accept is accept
        assert route.outputs == outputs
        assert route.outputs_mask == mask(outputs)


def test_turn_table_is_dimension_order():
    # Written out from the rule, not copied from the table.
    x_moves = {Direction.EAST, Direction.WEST}
    y_moves = {Direction.NORTH, Direction.SOUTH}
    opposite = {Direction.EAST: Direction.WEST, Direction.WEST: Direction.EAST,
                Direction.NORTH: Direction.SOUTH, Direction.SOUTH: Direction.NORTH}
    assert LEGAL_OUTPUTS[Direction.RAMP] == set(Direction)
    for arrived in x_moves:
        # Arriving on WEST means moving east: go on east, turn north/south, or leave on RAMP.
        assert LEGAL_OUTPUTS[arrived] == set(Direction) - {arrived}
    for arrived in y_moves:
        assert LEGAL_OUTPUTS[arrived] == {opposite[arrived], Direction.RAMP}


@pytest.mark.parametrize("accept, output", [
    (a, o) for a in Direction for o in Direction if o not in LEGAL_OUTPUTS[a]])
def test_route_refuses_an_illegal_turn(accept, output):
    allowed = ", ".join(sorted(d.name for d in LEGAL_OUTPUTS[accept]))
    message = (f"route outputs must follow the X-then-Y turn rule: from {accept.name} a "
               f"wavelet may leave by {allowed}, not {output.name}")
    with pytest.raises(RouteError, match=f"^{re.escape(message)}$"):
        Route(accept, {output, Direction.RAMP})
    # The same route is buildable on purpose, for tests of what the rule prevents.
    assert Route(accept, {output}, check=False).outputs == {output}


def test_route_names_every_forbidden_output():
    with pytest.raises(RouteError, match=r"^route outputs must follow the X-then-Y turn rule: "
                                         r"from NORTH a wavelet may leave by RAMP, SOUTH, "
                                         r"not EAST, NORTH, WEST$"):
        Route(Direction.NORTH, {Direction.EAST, Direction.WEST, Direction.NORTH})


def test_route_error_is_a_value_error():
    assert issubclass(RouteError, ValueError)


@pytest.mark.parametrize("accept", [7, "EAST", None])
def test_route_accept_must_be_a_direction(accept):
    with pytest.raises(RouteError, match=rf"^accept must be a Direction, "
                                         rf"not {re.escape(repr(accept))}$"):
        Route(accept, set())


@pytest.mark.parametrize("outputs", [{9}, 3, None])
def test_route_outputs_must_be_directions(outputs):
    with pytest.raises(RouteError, match=rf"^outputs must be a set of Directions, "
                                         rf"not {re.escape(repr(outputs))}$"):
        Route(Direction.RAMP, outputs)


def test_route_accepts_integers_and_unrouted_is_empty():
    route = Route(int(Direction.WEST), [int(Direction.EAST)])
    assert route.accept is Direction.WEST and route.outputs == {Direction.EAST}
    assert Route.unrouted().outputs_mask == 0
    assert (repr(Route(Direction.RAMP, {Direction.EAST, Direction.RAMP}))
            == "Route(RAMP -> RAMP|EAST)")


def test_every_port_is_a_direction():
    assert NUM_PORTS == len(Direction) == 5
