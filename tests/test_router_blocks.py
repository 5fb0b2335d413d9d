"""The router's parts, one at a time, in the Amaranth simulator; then a router; then ``Route``.

Wavelets go on and off the wires through :class:`tessera.sim.wavelets.WaveletCodec`, so these
tests and the hardware share one definition of the formats.
"""

import dataclasses
import random
import re
from collections import deque

import pytest
from amaranth.hdl import unsigned

from tessera.hdl.params import resolve_params
from tessera.hdl.router import (ChannelQueues, Crossbar, PacketLock, RoundRobinArbiter,
                                RouteCompute, Router, RouteTable)
from tessera.hdl.routing import FEEDS, LEGAL_OUTPUTS, Route, RouteError
from tessera.hdl.link import Channel, num_channels, wavelet_channel
from tessera.hdl.wavelet import NUM_PORTS, Direction
from tessera.sim.amaranth_sim import refused, simulate
from tessera.sim.wavelets import Wavelet, WaveletCodec

PARAMS = resolve_params("default")
CODEC = WaveletCodec(PARAMS)
CHANNELS = num_channels(PARAMS)
ALL_READY = 2 ** CHANNELS - 1


def word(ctx, view):
    """The integer on a struct-shaped port (``ctx.get`` of a view gives a struct constant)."""
    return ctx.get(view.as_value())


def put(ctx, view, value):
    ctx.set(view.as_value(), value)


def mask(directions):
    return sum(1 << int(d) for d in directions)


# --- ChannelQueues ------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [0, 1, 3, 6, -4, "4", 4.0, None])
def test_queue_depth_must_be_a_power_of_two_of_at_least_2(depth):
    refused(ValueError, rf"^Queue depth must be a power of two of at least 2, "
                        rf"not {re.escape(repr(depth))}$",
            lambda: ChannelQueues(unsigned(8), unsigned(3), channels=2, depth=depth))


@pytest.mark.parametrize("channels", [0, -1, 2.0, "3"])
def test_queue_channel_count_must_be_positive(channels):
    refused(ValueError, rf"^Channel count must be a positive integer, "
                        rf"not {re.escape(repr(channels))}$",
            lambda: ChannelQueues(unsigned(8), unsigned(3), channels=channels, depth=2))


async def _push(ctx, dut, channel, payload, tag=0):
    ctx.set(dut.w_valid, 1)
    ctx.set(dut.w_channel, channel)
    ctx.set(dut.w_payload, payload)
    ctx.set(dut.w_tag, tag)
    await ctx.tick()
    ctx.set(dut.w_valid, 0)


def test_queue_channel_fills_then_drains_in_order_while_others_stay_ready():
    dut = ChannelQueues(unsigned(8), unsigned(3), channels=3, depth=4)

    async def testbench(ctx):
        assert ctx.get(dut.ready) == 0b111
        for k in range(4):
            assert ctx.get(dut.ready) >> 1 & 1, "not full yet, so ready"
            await _push(ctx, dut, 1, 10 + k, tag=k)
            assert ctx.get(dut.level[1]) == k + 1
        assert ctx.get(dut.ready) == 0b101, "channel 1 full; the others still ready"
        ctx.set(dut.w_valid, 1)
        ctx.set(dut.w_channel, 1)
        ctx.set(dut.w_payload, 99)
        await ctx.tick()
        assert ctx.get(dut.level[1]) == 4, "a write to a full channel is not taken"
        await _push(ctx, dut, 2, 55, tag=7)             # another channel is
        assert ctx.get(dut.level[2]) == 1
        assert ctx.get(dut.head_tag[2]) == 7

        ctx.set(dut.select, 1)
        ctx.set(dut.pop, 1)
        for k in range(4):
            assert ctx.get(dut.head) == 10 + k
            assert ctx.get(dut.head_tag[1]) == k
            await ctx.tick()
            assert ctx.get(dut.level[1]) == 3 - k
        ctx.set(dut.pop, 0)
        ctx.set(dut.select, 2)
        assert ctx.get(dut.head) == 55
        assert [ctx.get(dut.level[c]) for c in range(3)] == [0, 0, 1]
    simulate(dut, testbench)


def test_queue_write_appears_at_head_next_cycle():
    dut = ChannelQueues(unsigned(8), unsigned(3), channels=2, depth=2)

    async def testbench(ctx):
        ctx.set(dut.select, 1)
        ctx.set(dut.w_valid, 1)
        ctx.set(dut.w_channel, 1)
        ctx.set(dut.w_payload, 42)
        assert ctx.get(dut.level[1]) == 0, "no bypass: a write is not at the head the same cycle"
        await ctx.tick()
        ctx.set(dut.w_valid, 0)
        assert (ctx.get(dut.level[1]), ctx.get(dut.head)) == (1, 42)
    simulate(dut, testbench)


def test_queue_push_and_pop_of_one_channel_in_one_cycle_keeps_its_level():
    dut = ChannelQueues(unsigned(8), unsigned(3), channels=2, depth=2)

    async def testbench(ctx):
        await _push(ctx, dut, 0, 7)
        ctx.set(dut.select, 0)
        ctx.set(dut.pop, 1)
        ctx.set(dut.w_valid, 1)
        ctx.set(dut.w_channel, 0)
        ctx.set(dut.w_payload, 8)
        assert ctx.get(dut.head) == 7
        await ctx.tick()
        assert ctx.get(dut.level[0]) == 1
        assert ctx.get(dut.head) == 8
    simulate(dut, testbench)


@pytest.mark.parametrize("depth", [2, 4])
def test_queue_random_traffic_keeps_each_channel_in_order(depth):
    channels = 3
    dut = ChannelQueues(unsigned(8), unsigned(4), channels=channels, depth=depth)
    rng = random.Random(depth)
    sent = [(rng.randrange(channels), rng.randrange(256), rng.randrange(16)) for _ in range(400)]

    async def testbench(ctx):
        model = [deque() for _ in range(channels)]
        received = [[] for _ in range(channels)]
        k = 0
        while k < len(sent) or any(model):
            offer = k < len(sent) and rng.random() < 0.7
            channel, payload, tag = sent[k] if offer else (0, 0, 0)
            select = rng.randrange(channels)
            take = bool(model[select]) and rng.random() < 0.6
            ctx.set(dut.w_valid, offer)
            ctx.set(dut.w_channel, channel)
            ctx.set(dut.w_payload, payload)
            ctx.set(dut.w_tag, tag)
            ctx.set(dut.select, select)
            ctx.set(dut.pop, take)
            for c in range(channels):
                assert ctx.get(dut.level[c]) == len(model[c])
                assert ctx.get(dut.ready) >> c & 1 == (len(model[c]) < depth)
                if model[c]:
                    assert ctx.get(dut.head_tag[c]) == model[c][0][1]
            if model[select]:
                assert ctx.get(dut.head) == model[select][0][0]
            if take:
                received[select].append(model[select].popleft())
            if offer and ctx.get(dut.ready) >> channel & 1:
                model[channel].append((payload, tag))
                k += 1
            await ctx.tick()
        for c in range(channels):
            assert received[c] == [(p, t) for ch, p, t in sent if ch == c]
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


@pytest.mark.parametrize("port", list(Direction))
def test_route_compute_xy_for_every_relative_position(port):
    # From every input: the XY step where the turn rule allows it, a misroute where it does not
    # (from NORTH or SOUTH towards another column, or back the way the packet came).
    dut = RouteCompute(PARAMS, port=port)
    here = (2, 3)

    async def testbench(ctx):
        ctx.set(dut.x, here[0])
        ctx.set(dut.y, here[1])
        ctx.set(dut.arrive, 1)
        for dx in range(6):
            for dy in range(6):
                head = CODEC.packet(dx, dy, [1])[0]
                put(ctx, dut.wavelet, CODEC.pack(head))
                expected = _xy_direction(here, (dx, dy))
                legal = expected in LEGAL_OUTPUTS[port]
                assert ctx.get(dut.outputs) == (mask([expected]) if legal else 0), (dx, dy)
                assert ctx.get(dut.misroute) == (not legal), (dx, dy)
    simulate(dut, testbench)


def test_route_compute_xy_at_coordinate_extremes():
    # Header coordinates are signed over their whole range (hosts sit at -1 and beyond the far
    # edge); tile coordinates run from 0 to the largest positive one.
    dut = RouteCompute(PARAMS, port=Direction.RAMP)
    top = 2 ** (PARAMS.coord_bits - 1) - 1
    low = -2 ** (PARAMS.coord_bits - 1)

    async def testbench(ctx):
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
        ctx.set(dut.arrive, 1)
        put(ctx, dut.wavelet, CODEC.pack(Wavelet(data=123, color=5)))
        _set_route(ctx, dut, multicast)
        assert ctx.get(dut.outputs) == multicast.outputs_mask
        assert ctx.get(dut.misroute) == 0
    simulate(dut, testbench)


@pytest.mark.parametrize("case", ["wrong input", "no outputs", "color beyond num_colors"])
def test_route_compute_misroutes_a_color_it_does_not_route(case):
    dut = RouteCompute(PARAMS, port=Direction.WEST)

    async def testbench(ctx):
        ctx.set(dut.arrive, 1)
        put(ctx, dut.wavelet, CODEC.pack(Wavelet(data=1, color=2)))
        if case == "wrong input":
            _set_route(ctx, dut, Route(Direction.EAST, {Direction.WEST}))
        elif case == "no outputs":
            _set_route(ctx, dut, Route(Direction.WEST, set()))
        else:
            _set_route(ctx, dut, Route(Direction.WEST, {Direction.EAST}), valid=False)
        assert ctx.get(dut.outputs) == 0
        assert ctx.get(dut.misroute) == 1
        ctx.set(dut.arrive, 0)
        assert ctx.get(dut.misroute) == 0, "nothing arrives, nothing misrouted"
    simulate(dut, testbench)


def test_route_compute_packet_body_follows_its_head_until_last():
    dut = RouteCompute(PARAMS, port=Direction.RAMP)

    async def testbench(ctx):
        ctx.set(dut.x, 2)
        ctx.set(dut.y, 2)
        # Body words that, read as headers, would point elsewhere: they must not be.
        west_looking = CODEC.header_data(0, 2)
        packet = CODEC.packet(4, 2, [west_looking, CODEC.header_data(2, 0)])
        put(ctx, dut.wavelet, CODEC.pack(packet[0]))
        assert ctx.get(dut.outputs) == mask([Direction.EAST])
        await ctx.tick()                     # offered, not taken: nothing remembered
        put(ctx, dut.wavelet, CODEC.pack(packet[1]))
        assert ctx.get(dut.outputs) == mask([Direction.WEST]), "not yet in a packet"
        put(ctx, dut.wavelet, CODEC.pack(packet[0]))
        ctx.set(dut.arrive, 1)
        await ctx.tick()                     # the head arrives
        for body in packet[1:]:
            put(ctx, dut.wavelet, CODEC.pack(body))
            ctx.set(dut.arrive, 0)
            assert ctx.get(dut.outputs) == mask([Direction.EAST]), body
            await ctx.tick()                 # a gap in the packet keeps its output
            assert ctx.get(dut.outputs) == mask([Direction.EAST])
            ctx.set(dut.arrive, 1)
            await ctx.tick()
        # After `last`, the next head is routed afresh.
        put(ctx, dut.wavelet, CODEC.pack(CODEC.packet(2, 4)[0]))
        assert ctx.get(dut.outputs) == mask([Direction.SOUTH])
    simulate(dut, testbench)


def test_route_compute_follows_a_request_and_a_reply_packet_separately():
    # The two addressed channels interleave on a link; each packet keeps its own output.
    dut = RouteCompute(PARAMS, port=Direction.RAMP)
    request = CODEC.packet(4, 2, [CODEC.header_data(0, 2)])          # EAST
    reply = [dataclasses.replace(w, ctrl=True)
             for w in CODEC.packet(2, 0, [CODEC.header_data(4, 2)])]   # NORTH

    async def testbench(ctx):
        ctx.set(dut.x, 2)
        ctx.set(dut.y, 2)
        ctx.set(dut.arrive, 1)
        for w, expected in [(request[0], Direction.EAST), (reply[0], Direction.NORTH),
                            (request[1], Direction.EAST), (reply[1], Direction.NORTH)]:
            put(ctx, dut.wavelet, CODEC.pack(w))
            assert ctx.get(dut.outputs) == mask([expected]), w
            await ctx.tick()
    simulate(dut, testbench)


def test_route_compute_single_wavelet_packet_does_not_capture_the_next():
    dut = RouteCompute(PARAMS, port=Direction.RAMP)

    async def testbench(ctx):
        ctx.set(dut.arrive, 1)
        put(ctx, dut.wavelet, CODEC.pack(CODEC.packet(3, 0)[0]))   # head and last
        assert ctx.get(dut.outputs) == mask([Direction.EAST])
        await ctx.tick()
        put(ctx, dut.wavelet, CODEC.pack(CODEC.packet(0, 3)[0]))
        assert ctx.get(dut.outputs) == mask([Direction.SOUTH])
    simulate(dut, testbench)


# --- RouteTable ---------------------------------------------------------------------------------

def _table_write(ctx, dut, color, route):
    ctx.set(dut.config.valid, 1)
    put(ctx, dut.config.payload, CODEC.route_write_word(color, route))


def _table_entry(ctx, dut, port, color):
    ctx.set(dut.color[port], color)
    entry = word(ctx, dut.route[port])
    return entry & 0b111, entry >> 3      # (accept, outputs), as route_layout packs them


def test_route_table_keeps_every_legal_route_and_refuses_every_forbidden_turn():
    dut = RouteTable(PARAMS)
    cases = [(accept, outputs) for accept in Direction for outputs in _subsets(Direction)]

    async def testbench(ctx):
        refused_before = 0
        for k, (accept, outputs) in enumerate(cases):
            color = k % PARAMS.num_colors
            legal = outputs <= LEGAL_OUTPUTS[accept]
            _table_write(ctx, dut, color, Route(accept, outputs, check=False))
            await ctx.tick()
            ctx.set(dut.config.valid, 0)
            got = _table_entry(ctx, dut, Direction.WEST, color)
            if legal:
                assert got == (int(accept), mask(outputs)), (accept, outputs)
                assert ctx.get(dut.refused) == refused_before
            else:
                assert got == (0, 0), f"{accept.name} -> {outputs} must be refused"
                assert ctx.get(dut.refused) == 1
                refused_before = 1
    simulate(dut, testbench)


def test_route_table_looks_up_per_input_and_beyond_num_colors_is_unrouted():
    dut = RouteTable(PARAMS)

    async def testbench(ctx):
        for color in range(PARAMS.num_colors):
            _table_write(ctx, dut, color, Route(Direction.RAMP, {Direction(color % 5)}))
            await ctx.tick()
        ctx.set(dut.config.valid, 0)
        for port in Direction:
            for color in range(2 ** PARAMS.color_bits):
                expected = ((0, mask([Direction(color % 5)])) if color < PARAMS.num_colors
                            else (0, 0))
                assert _table_entry(ctx, dut, port, color) == expected, (port, color)
    simulate(dut, testbench)


# --- PacketLock ---------------------------------------------------------------------------------

def test_packet_lock_holds_a_channel_from_head_to_last_for_its_source_only():
    dut = PacketLock(PARAMS, 3)
    everyone = 0b111

    async def testbench(ctx):
        def send(source, wavelet):
            ctx.set(dut.sent, 1)
            ctx.set(dut.source, 1 << source)
            put(ctx, dut.wavelet, CODEC.pack(wavelet))

        assert [ctx.get(dut.allowed[a]) for a in Channel] == [everyone] * 2
        head, body, tail = CODEC.packet(1, 0, [5, 6])
        send(2, head)                           # source 2 starts a request packet
        await ctx.tick()
        assert ctx.get(dut.allowed[Channel.REQUEST]) == 0b100, "only source 2 until its last"
        assert ctx.get(dut.allowed[Channel.REPLY]) == everyone, "the other kind is free"
        send(0, Wavelet(data=9, color=3))       # a colored wavelet between: no lock
        await ctx.tick()
        assert ctx.get(dut.allowed[Channel.REQUEST]) == 0b100
        send(2, body)
        await ctx.tick()
        assert ctx.get(dut.allowed[Channel.REQUEST]) == 0b100
        ctx.set(dut.sent, 0)                    # a pause inside the packet keeps the lock
        await ctx.tick()
        assert ctx.get(dut.allowed[Channel.REQUEST]) == 0b100
        send(2, tail)
        await ctx.tick()
        assert ctx.get(dut.allowed[Channel.REQUEST]) == everyone, "free after the last"
    simulate(dut, testbench)


# --- RoundRobinArbiter --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, -1, 2.5, "3"])
def test_arbiter_requester_count_must_be_positive(n):
    refused(ValueError, rf"^Requester count must be a positive integer, not {re.escape(repr(n))}$",
            lambda: RoundRobinArbiter(n))


@pytest.mark.parametrize("n", [1, 5, 26])
def test_arbiter_with_everyone_requesting_grants_each_in_turn(n):
    dut = RoundRobinArbiter(n)

    async def testbench(ctx):
        ctx.set(dut.requests, 2 ** n - 1)
        ctx.set(dut.advance, 1)
        order = []
        for _ in range(3 * n):
            grant = ctx.get(dut.grant)
            order.append(grant.bit_length() - 1)
            assert grant & (grant - 1) == 0 and grant, "one-hot"
            await ctx.tick()
        assert order == [k % n for k in range(3 * n)]
    simulate(dut, testbench)


def test_arbiter_without_advance_keeps_its_place():
    dut = RoundRobinArbiter(4)

    async def testbench(ctx):
        ctx.set(dut.requests, 0b1111)
        ctx.set(dut.advance, 1)
        await ctx.tick()                      # 0 granted and advanced past
        ctx.set(dut.advance, 0)
        for _ in range(3):
            assert ctx.get(dut.grant) == 0b0010
            await ctx.tick()
        ctx.set(dut.requests, 0b1001)
        assert ctx.get(dut.grant) == 0b1000, "the first requester at or after the place"
        ctx.set(dut.advance, 1)
        await ctx.tick()
        assert ctx.get(dut.grant) == 0b0001, "then round the ring"
    simulate(dut, testbench)


def test_arbiter_grants_nothing_without_requests():
    dut = RoundRobinArbiter(3)

    async def testbench(ctx):
        ctx.set(dut.advance, 1)
        for _ in range(3):
            assert ctx.get(dut.grant) == 0
            await ctx.tick()
    simulate(dut, testbench)


@pytest.mark.parametrize("n", [5, 10])
def test_arbiter_random_requests_match_a_reference_model(n):
    dut = RoundRobinArbiter(n)
    rng = random.Random(n)

    async def testbench(ctx):
        first = 0
        waited = [0] * n               # other grants advanced past while each one waits
        requests = 0
        for _ in range(2000):
            # Requesters keep requesting until granted (as router inputs do); others come and go.
            grant_before = ctx.get(dut.grant)
            requests = (requests & ~grant_before) | rng.randrange(2 ** n)
            advance = rng.random() < 0.6
            ctx.set(dut.requests, requests)
            ctx.set(dut.advance, advance)
            grant = ctx.get(dut.grant)
            expected = 0
            for k in range(n):
                if requests >> ((first + k) % n) & 1:
                    expected = 1 << ((first + k) % n)
                    break
            assert grant == expected
            for i in range(n):
                if requests >> i & 1 and not grant >> i & 1:
                    waited[i] += bool(advance and grant)
                    assert waited[i] < n, "a waiting requester is passed over at most n-1 times"
                else:
                    waited[i] = 0
            if advance and grant:
                first = grant.bit_length() % n
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
            choice = {o: rng.randrange(len(FEEDS[o])) for o in Direction}
            for o, k in choice.items():
                ctx.set(dut.select[o], k)
            for o, k in choice.items():
                assert word(ctx, dut.outputs[o]) == CODEC.pack(heads[FEEDS[o][k]]), (o, k)
    simulate(dut, testbench)


def test_crossbar_builds_exactly_the_turns_the_rule_allows():
    assert {(i, o) for o in Direction for i in FEEDS[o]} == \
        {(i, o) for i in Direction for o in LEGAL_OUTPUTS[i]}
    assert sum(map(len, FEEDS.values())) == 17
    assert FEEDS[Direction.EAST] == (Direction.RAMP, Direction.WEST)


# --- Router -------------------------------------------------------------------------------------

class _Link:
    """Per-cycle drive and capture of one router's ports, for the router tests.

    Every output channel is ready with probability ``ready_prob`` each cycle, independently;
    ``blocked`` names ``(output, channel)`` pairs that are never ready.
    """

    def __init__(self, dut, rng, *, ready_prob=0.7, send_prob=1.0, blocked=()):
        self.dut = dut
        self.rng = rng
        self.ready_prob = ready_prob
        self.send_prob = send_prob
        self.blocked = set(blocked)
        self.to_send = {d: deque() for d in Direction}
        self.offered = {d: False for d in Direction}
        self.received = {d: [] for d in Direction}
        self.received_at = {d: [] for d in Direction}     # cycle of each delivery
        self.taken = {d: 0 for d in Direction}            # wavelets each input has taken
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
            ready = sum(1 << c for c in range(CHANNELS)
                        if (d, c) not in self.blocked and self.rng.random() < self.ready_prob)
            ctx.set(dut.out[d].ready, ready)
        for d in Direction:
            if self.offered[d] and ctx.get(dut.inp[d].ready) >> _channel(self.to_send[d][0]) & 1:
                self.to_send[d].popleft()
                self.offered[d] = False
                self.taken[d] += 1
            if ctx.get(dut.out[d].valid):
                w = CODEC.unpack(word(ctx, dut.out[d].payload))
                assert ctx.get(dut.out[d].ready) >> _channel(w) & 1, \
                    f"{d.name} offers {w} on a channel that is not ready"
                self.received[d].append(w)
                self.received_at[d].append(self.cycles)
        self.cycles += 1
        await ctx.tick()


def _channel(w):
    return wavelet_channel(PARAMS, addressed=w.addressed, ctrl=w.ctrl, color=w.color)


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
        ctx.set(dut.out[Direction.EAST].ready, ALL_READY)
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


def _blocked_color_run(params):
    """Color 1 goes WEST -> SOUTH and SOUTH never takes it; color 2 goes WEST -> EAST, always
    taken; the blocked color is first on the link. What left EAST, and in which cycles."""
    dut = Router(params)
    codec = WaveletCodec(params)
    channels = num_channels(params)
    routes = {1: Route(Direction.WEST, {Direction.SOUTH}),
              2: Route(Direction.WEST, {Direction.EAST})}
    blocked = [Wavelet(data=k, color=1) for k in range(params.queue_depth)]
    flowing = [Wavelet(data=100 + k, color=2) for k in range(40)]
    result = {}

    async def testbench(ctx):
        for color, route in routes.items():
            ctx.set(dut.config.valid, 1)
            put(ctx, dut.config.payload, codec.route_write_word(color, route))
            await ctx.tick()
        ctx.set(dut.config.valid, 0)
        link = _Link(dut, random.Random(11), ready_prob=1.0,
                     blocked=[(Direction.SOUTH, c) for c in range(channels)])
        link.to_send[Direction.WEST].extend(blocked + flowing)
        for _ in range(60):
            await link.cycle(ctx)
        assert link.received[Direction.SOUTH] == []
        result.update(east=link.received[Direction.EAST], at=link.received_at[Direction.EAST])
    simulate(dut, testbench)
    return flowing, result


def test_a_blocked_color_does_not_stop_another_on_the_same_input():
    # Colors 1 and 2 in channels of their own: color 2 flows at full rate (in the first router,
    # with one queue per input, none of it left: issue 7).
    flowing, got = _blocked_color_run(PARAMS)
    assert got["east"] == flowing
    first = got["at"][0]
    assert got["at"] == list(range(first, first + len(flowing))), "one per cycle"
    assert first == PARAMS.queue_depth + 1, "right behind the blocked ones"


def test_a_blocked_color_does_stop_another_that_shares_its_channel():
    # The control: with one channel for all colors the test above must fail, and does.
    flowing, got = _blocked_color_run(PARAMS.replace(color_channels=1))
    assert got["east"] == []


def test_requests_and_replies_do_not_wait_on_each_other():
    # A reply channel blocked at EAST does not stop requests to EAST, and the reverse.
    here = (1, 1)
    for blocked_kind in Channel:
        dut = Router(PARAMS)
        requests = [w for k in range(6) for w in CODEC.packet(3, 1, [k])]
        replies = [dataclasses.replace(w, ctrl=True) for k in range(6) for w in CODEC.packet(3, 1, [k])]
        traffic = {Channel.REQUEST: requests, Channel.REPLY: replies}

        async def testbench(ctx):
            ctx.set(dut.x, here[0])
            ctx.set(dut.y, here[1])
            link = _Link(dut, random.Random(12), ready_prob=1.0,
                         blocked=[(Direction.EAST, int(blocked_kind))])
            # As much of the blocked kind as its channel holds, then the other kind.
            link.to_send[Direction.WEST].extend(traffic[blocked_kind][:PARAMS.queue_depth]
                                                + traffic[Channel(1 - blocked_kind)])
            for _ in range(60):
                await link.cycle(ctx)
            assert link.received[Direction.EAST] == traffic[Channel(1 - blocked_kind)]
        simulate(dut, testbench)


def test_a_route_rewritten_under_load_affects_only_later_arrivals():
    # A multicast WEST -> {EAST, SOUTH} with SOUTH slow is rewritten to {EAST, NORTH} while
    # its wavelets are queued: those already inside still reach EAST and SOUTH, each once; those
    # that arrive after the write go to EAST and NORTH.
    dut = Router(PARAMS)
    before = Route(Direction.WEST, {Direction.EAST, Direction.SOUTH})
    after = Route(Direction.WEST, {Direction.EAST, Direction.NORTH})
    stream = [Wavelet(data=k, color=3) for k in range(30)]

    async def testbench(ctx):
        await _configure(ctx, dut, {3: before})
        link = _Link(dut, random.Random(13), ready_prob=0.5)
        link.to_send[Direction.WEST].extend(stream)
        for _ in range(12):
            await link.cycle(ctx)
        # The write takes effect for wavelets arriving from the next cycle on.
        ctx.set(dut.config.valid, 1)
        put(ctx, dut.config.payload, CODEC.route_write_word(3, after))
        await link.cycle(ctx)
        ctx.set(dut.config.valid, 0)
        arrived_before = link.taken[Direction.WEST]
        for _ in range(200):
            await link.cycle(ctx)
        assert 0 < arrived_before < len(stream), "the rewrite came under load"
        assert link.received[Direction.EAST] == stream
        assert link.received[Direction.SOUTH] == stream[:arrived_before]
        assert link.received[Direction.NORTH] == stream[arrived_before:]
    simulate(dut, testbench)


def test_a_packet_that_would_turn_from_y_to_x_is_dropped_whole_and_counted():
    # A packet that entered by a north edge port for another column (a host must not send
    # one): the router has no NORTH -> EAST path, so all of it is misrouted; the next packet
    # is routed as usual.
    dut = Router(PARAMS)
    stray = CODEC.packet(3, 4, [1, 2])
    fine = CODEC.packet(1, 4, [3])

    async def testbench(ctx):
        ctx.set(dut.x, 1)
        ctx.set(dut.y, 1)
        link = _Link(dut, random.Random(15), ready_prob=1.0)
        link.to_send[Direction.NORTH].extend(stray + fine)
        for _ in range(12):
            await link.cycle(ctx)
        assert link.received[Direction.SOUTH] == fine
        assert sum(len(v) for v in link.received.values()) == len(fine)
        assert ctx.get(dut.misroutes) == len(stray)
    simulate(dut, testbench)


def test_a_raw_route_write_with_a_forbidden_turn_is_refused_and_its_wavelets_counted():
    # Route is only the Python side of the rule; the hardware enforces it too.
    dut = Router(PARAMS)
    forbidden = Route(Direction.NORTH, {Direction.EAST}, check=False)   # a y -> x turn

    async def testbench(ctx):
        assert ctx.get(dut.route_refused) == 0
        await _configure(ctx, dut, {4: Route(Direction.NORTH, {Direction.SOUTH})})
        await _configure(ctx, dut, {4: forbidden})
        assert ctx.get(dut.route_refused) == 1
        link = _Link(dut, random.Random(14), ready_prob=1.0)
        link.to_send[Direction.NORTH].extend(Wavelet(data=k, color=4) for k in range(3))
        for _ in range(10):
            await link.cycle(ctx)
        assert all(not v for v in link.received.values()), "the refused route left nothing"
        assert ctx.get(dut.misroutes) == 3
        await _configure(ctx, dut, {4: Route(Direction.NORTH, {Direction.SOUTH})})
        assert ctx.get(dut.route_refused) == 1, "sticky"
    simulate(dut, testbench)


def test_inputs_are_not_ready_during_reset():
    from amaranth.hdl import ClockDomain, Module
    router = Router(PARAMS)
    top = Module()
    top.domains.sync = sync = ClockDomain()     # a reset the testbench can drive
    top.submodules.router = router

    async def testbench(ctx):
        ctx.set(sync.rst, 1)
        for d in Direction:
            ctx.set(router.inp[d].valid, 1)
            put(ctx, router.inp[d].payload, CODEC.pack(Wavelet(data=1, color=0)))
        for _ in range(3):
            assert [ctx.get(router.inp[d].ready) for d in Direction] == [0] * NUM_PORTS
            await ctx.tick()
        ctx.set(sync.rst, 0)
        assert [ctx.get(router.inp[d].ready) for d in Direction] == [ALL_READY] * NUM_PORTS
    simulate(top, testbench)


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
