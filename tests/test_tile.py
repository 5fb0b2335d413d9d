"""The tile's RAMP side in the Amaranth simulator: memory agent, ramp split, color sink, tile.

The memory agent is tested beside a real :class:`TileMemory` (so reads have the SRAM's one-cycle
latency), driven and watched every cycle; a whole :class:`Tile` shows that ROUTE requests reach
the router's table and that colored wavelets reach the color sink. Requests follow
``docs/edge-protocol.md``; wavelets go on and off the wires through
:class:`tessera.sim.wavelets.WaveletCodec`.
"""

import dataclasses
import random
from collections import deque

import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import wiring

from tessera.hdl.params import resolve_params
from tessera.hdl.routing import Route
from tessera.hdl.sram import TileMemory
from tessera.hdl.link import Channel, num_channels, wavelet_channel
from tessera.hdl.tile import (AgentOp, AgentStatus, MemoryAgent, PacketMerge, RampDemux, Tile,
                              WaveletBuffer, WaveletCounter)
from tessera.hdl.wavelet import Direction
from tessera.sim.amaranth_sim import simulate
from tessera.sim.wavelets import Wavelet, WaveletCodec

PARAMS = resolve_params("default")
CODEC = WaveletCodec(PARAMS)
TOTAL = PARAMS.sram_bytes // PARAMS.word_bytes     # words in a tile's memory
MASK = (1 << PARAMS.data_width) - 1
# Where a reply goes: the host beyond the west edge, with a tag in info.
REPLY_TAG = 0x5A
REPLY_HEADER = CODEC.header_data(-1, 0, REPLY_TAG)


# --- Requests, as a host builds them -----------------------------------------------------------

def op_info(op):
    return op.value


def write_request(addr, words, *, x=0, y=0):
    return CODEC.packet(x, y, [addr, *words], info=op_info(AgentOp.WRITE))


def read_request(addr, count, *, x=0, y=0, reply=REPLY_HEADER):
    return CODEC.packet(x, y, [addr, count, reply], info=op_info(AgentOp.READ))


def route_request(routes, *, x=0, y=0):
    return CODEC.packet(x, y, [CODEC.route_write_word(c, r) for c, r in routes.items()],
                        info=op_info(AgentOp.ROUTE))


def status_request(*, x=0, y=0, reply=REPLY_HEADER):
    return CODEC.packet(x, y, [reply], info=op_info(AgentOp.STATUS))


def reply_packet(words, header=REPLY_HEADER):
    """The wavelets of a reply: the reply header, then ``words``, ``last`` on the final one; all
    in the reply channel (``ctrl`` set)."""
    return [Wavelet(data=d, ctrl=True, addressed=True, last=(k == len(words)))
            for k, d in enumerate([header, *words])]


# --- Simulation harness ------------------------------------------------------------------------

class AgentBench(Elaboratable):
    """A memory agent wired to a tile memory; the rest of its ports are the testbench's."""

    def __init__(self, params=PARAMS):
        self.agent = MemoryAgent(params)
        self.memory = TileMemory(params)

    def elaborate(self, platform):
        m = Module()
        m.submodules.agent = agent = self.agent
        m.submodules.memory = memory = self.memory
        wiring.connect(m, agent.memory, memory.agent)
        return m


def clocked(dut):
    """``dut`` inside a module with a ``sync`` domain, so a testbench can tick a design that
    has no clock of its own."""
    m = Module()
    m.domains.sync = ClockDomain()
    m.submodules.dut = dut
    return m


class Ports:
    """Per-cycle drive of input streams and capture of output streams.

    ``sources``: ``{name: stream}`` driven from :attr:`to_send` (with random pauses between
    wavelets when ``send_prob < 1``); ``sinks``: ``{name: stream}`` taken with ``ready`` high
    with probability ``ready_prob[name]`` (default 1). Wavelet streams are packed and unpacked by
    the codec; ``raw`` names streams whose payload is kept as an integer. Every cycle of every
    sink is logged as ``(valid, ready, payload)`` for timing checks. A port whose ``ready`` has
    a bit per channel (a link) moves a wavelet when its channel's bit is set; a sink link has
    each channel ready independently.
    """

    def __init__(self, sources, sinks, *, rng=None, send_prob=1.0, ready_prob=None, raw=()):
        self.sources = sources
        self.sinks = sinks
        self.rng = rng or random.Random(0)
        self.send_prob = send_prob
        self.ready_prob = dict(ready_prob or {})
        self.ready_mask = {}        # {sink name: channels that may be ready}, default all
        self.raw = set(raw)
        self.to_send = {name: deque() for name in sources}
        self.offered = {name: False for name in sources}
        self.received = {name: [] for name in sinks}
        self.trace = {name: [] for name in sinks}
        self.cycles = 0

    def send(self, name, wavelets):
        self.to_send[name].extend(wavelets)

    def _pack(self, name, value):
        return value if name in self.raw else CODEC.pack(value)

    def _unpack(self, name, word):
        return word if name in self.raw else CODEC.unpack(word)

    async def cycle(self, ctx):
        for name, port in self.sources.items():
            queue = self.to_send[name]
            # Pauses only between wavelets: once offered, a wavelet stays until taken.
            self.offered[name] = bool(queue) and (self.offered[name]
                                                  or self.rng.random() < self.send_prob)
            ctx.set(port.valid, self.offered[name])
            if queue:
                ctx.set(port.payload.as_value(), self._pack(name, queue[0]))
        for name, port in self.sinks.items():
            prob = self.ready_prob.get(name, 1.0)
            ctx.set(port.ready, sum(1 << c for c in range(len(port.ready))
                                    if self.rng.random() < prob)
                    & self.ready_mask.get(name, -1) & (2 ** len(port.ready) - 1))
        for name, port in self.sources.items():
            if ctx.get(port.valid) and self._moves(ctx, name, port,
                                                   ctx.get(port.payload.as_value())):
                self.to_send[name].popleft()
                self.offered[name] = False
        for name, port in self.sinks.items():
            valid = ctx.get(port.valid)
            payload = ctx.get(port.payload.as_value())
            ready = self._moves(ctx, name, port, payload)
            self.trace[name].append((valid, ready, payload))
            if valid and ready:
                self.received[name].append(self._unpack(name, payload))
        self.cycles += 1
        await ctx.tick()

    def _moves(self, ctx, name, port, payload):
        """Whether ``port`` takes ``payload`` this cycle (as far as its ``ready`` says)."""
        ready = ctx.get(port.ready)
        return ready if len(port.ready) == 1 or name in self.raw else \
            ready >> _channel(CODEC.unpack(payload)) & 1

    async def run_until(self, ctx, done, *, limit=2000):
        """Run cycles until ``done()`` (checked between cycles); fail after ``limit``."""
        for _ in range(limit):
            if done():
                return
            await self.cycle(ctx)
        raise AssertionError(f"not done after {limit} cycles")

    async def settle(self, ctx, cycles=8):
        for _ in range(cycles):
            await self.cycle(ctx)

    def replies(self, name="out", *, ended=True):
        """The packets received on ``name``, split at ``last``; with ``ended=False`` a packet
        still arriving is left out instead of failing."""
        packets, current = [], []
        for w in self.received[name]:
            current.append(w)
            if w.last:
                packets.append(current)
                current = []
        assert not (ended and current), f"a reply on {name} never ended: {current}"
        return packets


def _channel(w):
    return wavelet_channel(PARAMS, addressed=w.addressed, ctrl=w.ctrl, color=w.color)


def agent_ports(bench, **kwargs):
    agent = bench.agent
    return Ports({"inp": agent.inp}, {"out": agent.out, "config": agent.config},
                 raw={"config"}, **kwargs)


async def request(ctx, ports, wavelets, *, replies=0, limit=2000):
    """Send one request and run until it has been taken and ``replies`` more packets came."""
    before = len(ports.replies())
    ports.send("inp", wavelets)
    await ports.run_until(ctx, lambda: not ports.to_send["inp"]
                          and len(ports.replies(ended=False)) >= before + replies, limit=limit)
    return ports.replies()[before:]


def data_words(reply):
    return [w.data for w in reply[2:]]


def status_of(ctx, bench):
    return AgentStatus(ctx.get(bench.agent.status))


# --- Memory agent: writes and reads ------------------------------------------------------------

def test_write_runs_then_read_them_back():
    bench = AgentBench()
    rng = random.Random(1)
    runs = {0: 5, 100: 17, TOTAL - 9: 9, 511: 1}    # first word, middle, last word, a single

    async def testbench(ctx):
        ports = agent_ports(bench)
        written = {}
        for addr, n in runs.items():
            words = [rng.getrandbits(PARAMS.data_width) for _ in range(n)]
            written[addr] = words
            await request(ctx, ports, write_request(addr, words))
        for addr, words in written.items():
            (reply,) = await request(ctx, ports, read_request(addr, len(words)), replies=1)
            assert reply == reply_packet([0, *words]), f"read of {len(words)} at {addr}"
        # A read of nothing replies with its status alone.
        (reply,) = await request(ctx, ports, read_request(7, 0), replies=1)
        assert reply == reply_packet([0])
        assert status_of(ctx, bench) == 0
        assert ports.received["config"] == []
    simulate(bench, testbench)


def test_write_stores_one_word_per_cycle():
    bench = AgentBench()
    words = list(range(40, 72))

    async def testbench(ctx):
        ports = agent_ports(bench)
        ports.send("inp", write_request(3, words))
        sent = 0
        while ports.to_send["inp"]:
            await ports.cycle(ctx)
            sent += 1
        assert sent == len(words) + 2, "the agent took the request one wavelet per cycle"
        (reply,) = await request(ctx, ports, read_request(3, len(words)), replies=1)
        assert data_words(reply) == words
    simulate(bench, testbench)


def assert_streams(trace, what):
    """From the reply's head to its last wavelet, every cycle with ``ready`` moved a wavelet;
    a wavelet offered and not taken was offered again, unchanged, in the next cycle."""
    start = next(k for k, (valid, _, _) in enumerate(trace) if valid)
    end = max(k for k, (valid, ready, payload) in enumerate(trace)
              if valid and ready and CODEC.unpack(payload).last)
    for k in range(start, end + 1):
        valid, ready, payload = trace[k]
        assert valid or not ready, f"{what}: bubble in cycle {k - start} of the reply"
        if valid and not ready:
            assert trace[k + 1][0] and trace[k + 1][2] == payload, \
                f"{what}: wavelet withdrawn or changed in cycle {k - start + 1}"


def test_read_reply_streams_one_word_per_cycle():
    bench = AgentBench()
    words = [(0x1234_0000 + 3 * k) & MASK for k in range(64)]

    async def testbench(ctx):
        ports = agent_ports(bench)
        await request(ctx, ports, write_request(200, words))
        ports.trace["out"].clear()
        (reply,) = await request(ctx, ports, read_request(200, len(words)), replies=1)
        assert data_words(reply) == words
        # Head, status and every word in consecutive cycles.
        moved = [k for k, (valid, ready, _) in enumerate(ports.trace["out"]) if valid and ready]
        assert moved == list(range(moved[0], moved[0] + len(words) + 2)), moved
        assert_streams(ports.trace["out"], "unstalled read")
    simulate(bench, testbench)


@pytest.mark.parametrize("ready_prob", [0.2, 0.5, 0.8])
def test_read_reply_with_random_stalls(ready_prob):
    """Random stalls on the reply: the skid register keeps every word, in order, once; the
    reply moves in every cycle the output is ready and never changes an offered wavelet."""
    bench = AgentBench()
    rng = random.Random(f"stalls/{ready_prob}")
    words = [rng.getrandbits(PARAMS.data_width) for _ in range(48)]

    async def testbench(ctx):
        ports = agent_ports(bench, rng=rng, ready_prob={"out": ready_prob})
        await request(ctx, ports, write_request(TOTAL - len(words), words))
        for n in (1, 2, 3, len(words)):
            ports.trace["out"].clear()
            (reply,) = await request(ctx, ports, read_request(TOTAL - n, n), replies=1,
                                     limit=5000)
            assert data_words(reply) == words[-n:], f"read of {n} with stalls"
            assert_streams(ports.trace["out"], f"read of {n}, ready {ready_prob}")
    simulate(bench, testbench)


def test_requests_with_pauses_inside_them():
    """The network may pause between a request's wavelets; nothing changes."""
    bench = AgentBench()
    rng = random.Random(5)
    words = [rng.getrandbits(PARAMS.data_width) for _ in range(20)]

    async def testbench(ctx):
        ports = agent_ports(bench, rng=rng, send_prob=0.3, ready_prob={"out": 0.6})
        await request(ctx, ports, write_request(50, words))
        (reply,) = await request(ctx, ports, read_request(50, 20), replies=1)
        assert data_words(reply) == words
    simulate(bench, testbench)


# --- Memory agent: errors ----------------------------------------------------------------------

def test_out_of_range_write_skips_words_and_flags():
    bench = AgentBench()

    async def testbench(ctx):
        ports = agent_ports(bench)
        await request(ctx, ports, write_request(0, [0xA0, 0xA1, 0xA2]))
        assert status_of(ctx, bench) == 0
        # Two words fit, three do not; the address must not wrap onto words 0, 1, 2.
        await request(ctx, ports, write_request(TOTAL - 2, [1, 2, 3, 4, 5]))
        assert status_of(ctx, bench) == AgentStatus.WRITE_RANGE
        (reply,) = await request(ctx, ports, read_request(TOTAL - 2, 2), replies=1)
        assert data_words(reply) == [1, 2]
        (reply,) = await request(ctx, ports, read_request(0, 3), replies=1)
        assert data_words(reply) == [0xA0, 0xA1, 0xA2], "an out-of-range write wrapped"
        # Far beyond the memory, and at the very top of the address space.
        await request(ctx, ports, write_request(MASK, [9, 9]))
        (reply,) = await request(ctx, ports, read_request(0, 3), replies=1)
        assert data_words(reply) == [0xA0, 0xA1, 0xA2]
        assert status_of(ctx, bench) == AgentStatus.WRITE_RANGE, "sticky, nothing else"
    simulate(bench, testbench)


@pytest.mark.parametrize(("addr", "count"), [
    (TOTAL - 1, 2),         # one word too many
    (TOTAL, 1),             # starts beyond
    (0, TOTAL + 1),         # too long
    (MASK, 2),              # would wrap a data_width-bit adder
    (1, MASK),              # likewise
])
def test_out_of_range_read_replies_error_and_no_data(addr, count):
    bench = AgentBench()

    async def testbench(ctx):
        ports = agent_ports(bench)
        (reply,) = await request(ctx, ports, read_request(addr, count), replies=1)
        assert reply == reply_packet([int(AgentStatus.READ_RANGE)])
        assert status_of(ctx, bench) == AgentStatus.READ_RANGE
        # The agent serves the next request normally; the whole memory can be read.
        (reply,) = await request(ctx, ports, read_request(0, 2), replies=1)
        assert reply[1].data == 0 and len(data_words(reply)) == 2
        (reply,) = await request(ctx, ports, read_request(0, TOTAL), replies=1,
                                 limit=TOTAL + 100)
        assert reply[1].data == 0 and len(data_words(reply)) == TOTAL
    simulate(bench, testbench)


MALFORMED = {
    # name: (request, replies expected)
    "write head only": (CODEC.packet(0, 0, [], info=AgentOp.WRITE.value), 0),
    "read head only": (CODEC.packet(0, 0, [], info=AgentOp.READ.value), 0),
    "read without count": (CODEC.packet(0, 0, [4], info=AgentOp.READ.value), 0),
    "read without reply header": (CODEC.packet(0, 0, [4, 1], info=AgentOp.READ.value), 0),
    "status head only": (CODEC.packet(0, 0, [], info=AgentOp.STATUS.value), 0),
    "read with extra words": (read_request(4, 1)[:-1]
                              + CODEC.packet(0, 0, [REPLY_HEADER, 7, 8])[1:], 1),
    "status with extra words": (CODEC.packet(0, 0, [REPLY_HEADER, 1, 2, 3],
                                             info=AgentOp.STATUS.value), 1),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_is_flagged_and_the_agent_recovers(case):
    packet, replies = MALFORMED[case]
    bench = AgentBench()

    async def testbench(ctx):
        ports = agent_ports(bench)
        await request(ctx, ports, write_request(4, [0x44]))
        got = await request(ctx, ports, packet, replies=replies)
        await ports.settle(ctx)
        assert len(ports.replies()) == replies, f"{case}: wrong number of replies"
        assert status_of(ctx, bench) == AgentStatus.MALFORMED
        if case == "read with extra words":
            assert got[0] == reply_packet([0, 0x44])
        if case == "status with extra words":
            assert got[0][1].data == AgentStatus.MALFORMED
        # The next request is served as if nothing had happened, and memory is untouched.
        (reply,) = await request(ctx, ports, read_request(4, 1), replies=1)
        assert reply == reply_packet([0, 0x44])
        assert ports.received["config"] == []
    simulate(bench, testbench)


def test_empty_route_request_is_not_malformed():
    bench = AgentBench()

    async def testbench(ctx):
        ports = agent_ports(bench)
        await request(ctx, ports, CODEC.packet(0, 0, [], info=AgentOp.ROUTE.value))
        await request(ctx, ports, write_request(9, []))   # a write of no words: harmless too
        await ports.settle(ctx)
        assert status_of(ctx, bench) == 0
        assert ports.received["config"] == [] and ports.replies() == []
    simulate(bench, testbench)


# --- Memory agent: route and status requests ---------------------------------------------------

def test_route_request_writes_config_in_order_with_backpressure():
    bench = AgentBench()
    routes = {0: Route(Direction.WEST, {Direction.EAST, Direction.RAMP}),
              5: Route(Direction.NORTH, {Direction.SOUTH}),
              7: Route.unrouted()}

    async def testbench(ctx):
        ports = agent_ports(bench, ready_prob={"config": 0.4}, rng=random.Random(2))
        await request(ctx, ports, route_request(routes))
        await request(ctx, ports, write_request(1, [5]))   # the agent is back for requests
        assert ports.received["config"] == [CODEC.route_write_word(c, r)
                                            for c, r in routes.items()]
        assert ports.replies() == [] and status_of(ctx, bench) == 0
    simulate(bench, testbench)


def test_status_reply_fields():
    bench = AgentBench()
    header = CODEC.header_data(-1, 3, 0xBEE)

    async def testbench(ctx):
        agent = bench.agent
        ctx.set(agent.colored_count, 12345)
        ctx.set(agent.colored_checksum, 0xDEAD_BEEF)
        ctx.set(agent.misroutes, 777)
        ports = agent_ports(bench, ready_prob={"out": 0.5})
        (reply,) = await request(ctx, ports, status_request(reply=header), replies=1)
        assert reply == reply_packet([0, 12345, 0xDEAD_BEEF, 777], header=header)
        await request(ctx, ports, write_request(TOTAL, [1]))
        await request(ctx, ports, read_request(TOTAL, 1), replies=1)
        (reply,) = await request(ctx, ports, status_request(reply=header), replies=1)
        assert reply[1].data == AgentStatus.WRITE_RANGE | AgentStatus.READ_RANGE
    simulate(bench, testbench)


# --- The RAMP side: RampDemux, PacketMerge, WaveletCounter ------------------------------------

def _mixed_traffic(rng, count, *, source=0):
    """Requests, replies and colored wavelets in random order; every word is unique to
    ``source`` (headers carry it in ``info``, other words in the bits above 16)."""
    wavelets = []
    tag = (source + 1) << 16
    for k in range(count):
        kind = rng.random()
        info = source * 4096 + k
        if kind < 0.35:
            wavelets += CODEC.packet(1, 1, [tag + 2 * k, tag + 2 * k + 1], info=info)
        elif kind < 0.6:
            wavelets += [dataclasses.replace(w, ctrl=True)
                         for w in CODEC.packet(-1, 0, [tag + 2 * k], info=info)]
        else:
            wavelets.append(Wavelet(data=tag + 2 * k, color=k % 8, ctrl=bool(k % 3 == 0)))
    return wavelets


def test_ramp_demux_sends_requests_to_the_agent_and_the_rest_to_the_core_side():
    dut = RampDemux(PARAMS)
    rng = random.Random(3)
    wavelets = _mixed_traffic(rng, 60)

    async def testbench(ctx):
        ports = Ports({"inp": dut.inp}, {"agent": dut.agent, "core": dut.core}, rng=rng,
                      send_prob=0.7, ready_prob={"agent": 0.5, "core": 0.5})
        ports.send("inp", wavelets)
        await ports.run_until(ctx, lambda: not ports.to_send["inp"])
        request = lambda w: _channel(w) == Channel.REQUEST   # noqa: E731
        assert ports.received["agent"] == [w for w in wavelets if request(w)]
        assert ports.received["core"] == [w for w in wavelets if not request(w)]
        # Each side only ever offered what was its own.
        for name in ("agent", "core"):
            for valid, _, payload in ports.trace[name]:
                assert not valid or request(CODEC.unpack(payload)) == (name == "agent")
    simulate(clocked(dut), testbench)


def test_ramp_demux_ready_is_per_channel():
    # The agent not ready stops requests only; a color the core side refuses stops only it.
    dut = RampDemux(PARAMS)

    async def testbench(ctx):
        ctx.set(dut.agent.ready, 0)
        ctx.set(dut.core.ready, 0b0101)          # the reply channel and color channel 0
        assert ctx.get(dut.inp.ready) == 0b0100
        ctx.set(dut.agent.ready, 1)
        assert ctx.get(dut.inp.ready) == 0b0101
    simulate(clocked(dut), testbench)


def _assert_packets_whole(out, source_of):
    """Fail if an addressed packet on the link is interleaved with another of its channel."""
    open_packet = {}
    for w in out:
        if not w.addressed:
            continue
        kind = Channel(int(w.ctrl))
        owner = open_packet.get(kind)
        assert owner in (None, source_of[w]), \
            f"a {kind.name} packet of source {owner} is interleaved with source {source_of[w]}"
        open_packet[kind] = None if w.last else source_of[w]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_packet_merge_keeps_every_packet_whole_and_each_source_in_order(seed):
    dut = PacketMerge(PARAMS, 2)
    rng = random.Random(seed)
    streams = [_mixed_traffic(rng, 60, source=s) for s in range(2)]
    source_of = {w: s for s in range(2) for w in streams[s]}
    assert len(source_of) == sum(map(len, streams)), "every wavelet unique"

    async def testbench(ctx):
        ports = Ports({"a": dut.sources[0], "b": dut.sources[1]}, {"out": dut.out}, rng=rng,
                      send_prob=0.6, ready_prob={"out": 0.5})
        ports.send("a", streams[0])
        ports.send("b", streams[1])
        await ports.run_until(ctx, lambda: not ports.to_send["a"] and not ports.to_send["b"])
        out = ports.received["out"]
        for s in range(2):
            assert [w for w in out if source_of[w] == s] == streams[s], f"source {s}"
        assert len(out) == sum(map(len, streams)), "nothing extra"
        _assert_packets_whole(out, source_of)
        for valid, ready, _ in ports.trace["out"]:
            assert not valid or ready, "every valid is a transfer"
    simulate(clocked(dut), testbench)


def test_packet_merge_a_stalled_packet_stops_only_its_channel():
    # Source a is inside a reply when the reply channel stops: source b's colored wavelets and
    # its request packet pass meanwhile; then the reply finishes, whole.
    dut = PacketMerge(PARAMS, 2)
    reply = [dataclasses.replace(w, ctrl=True) for w in CODEC.packet(-1, 0, [1, 2, 3])]
    other = [Wavelet(data=k, color=2) for k in range(3)] + CODEC.packet(1, 1, [7])

    async def testbench(ctx):
        ports = Ports({"a": dut.sources[0], "b": dut.sources[1]}, {"out": dut.out})
        ports.send("a", reply)
        await ports.cycle(ctx)                    # the reply's head goes
        ports.send("b", other)
        ports.ready_mask["out"] = ~(1 << Channel.REPLY)
        await ports.run_until(ctx, lambda: not ports.to_send["b"])
        assert ports.received["out"] == reply[:1] + other
        del ports.ready_mask["out"]
        await ports.run_until(ctx, lambda: not ports.to_send["a"])
        assert ports.received["out"] == reply[:1] + other + reply[1:]
    simulate(clocked(dut), testbench)


def test_wavelet_counter_counts_only_transfers_and_sums_mod_data_width():
    dut = WaveletCounter(PARAMS)
    data = [MASK, MASK, 5, 0, 123456]

    async def testbench(ctx):
        link = dut.link
        for k, d in enumerate(data):
            put = Wavelet(data=d, color=1)
            ctx.set(link.valid, 1)
            ctx.set(link.payload.as_value(), CODEC.pack(put))
            ctx.set(link.ready, 0)                # offered, not taken: not counted
            await ctx.tick()
            ctx.set(link.ready, 1 << _channel(put))
            await ctx.tick()
        ctx.set(link.valid, 0)
        await ctx.tick()
        assert ctx.get(dut.count) == len(data)
        assert ctx.get(dut.checksum) == sum(data) & MASK
    simulate(clocked(dut), testbench)


@pytest.mark.parametrize("send_prob,ready_prob", [(1.0, 1.0), (0.7, 0.5), (1.0, 0.3)])
def test_wavelet_buffer_keeps_order_and_its_handshakes_registered(send_prob, ready_prob):
    """Every wavelet once, in order, under random pauses and stalls; unstalled it moves one
    wavelet per cycle; and neither side's handshake changes within a cycle when the other's
    does (both come from registers)."""
    dut = WaveletBuffer(PARAMS)
    rng = random.Random(f"buffer/{send_prob}/{ready_prob}")
    sent = [Wavelet(data=rng.getrandbits(PARAMS.data_width), addressed=True,
                    last=rng.random() < 0.2) for _ in range(200)]

    async def testbench(ctx):
        ports = Ports({"inp": dut.inp}, {"out": dut.out}, rng=rng, send_prob=send_prob,
                      ready_prob={"out": ready_prob})
        ports.send("inp", sent)
        while len(ports.received["out"]) < len(sent):
            # Within the cycle: out.ready does not reach inp.ready, inp.valid not out.valid.
            before = (ctx.get(dut.inp.ready), ctx.get(dut.out.valid))
            for valid, ready in ((0, 0), (1, 1), (0, 1), (1, 0)):
                ctx.set(dut.inp.valid, valid)
                ctx.set(dut.out.ready, ready)
                assert (ctx.get(dut.inp.ready), ctx.get(dut.out.valid)) == before
            await ports.cycle(ctx)
            assert ports.cycles < 20 * len(sent), "the buffer stopped moving"
        assert ports.received["out"] == sent
        if send_prob == ready_prob == 1.0:
            assert ports.cycles == len(sent) + 1, "one wavelet per cycle, one cycle through"
    simulate(clocked(dut), testbench)


# --- A whole tile --------------------------------------------------------------------------------

def tile_ports(tile, **kwargs):
    return Ports({"west": tile.west_in, "north": tile.north_in},
                 {"west": tile.west_out, "east": tile.east_out, "south": tile.south_out,
                  "north": tile.north_out}, **kwargs)


def test_tile_route_request_reaches_the_router_table():
    """A ROUTE request through the mesh port sets the router's table: the color then goes
    where routed (a multicast to EAST and the tile's own color sink); a color left unrouted
    is counted as a misroute. STATUS reports the sink's count and checksum and the misroutes.
    """
    tile = Tile(PARAMS)
    colored = [Wavelet(data=1000 + k, color=3) for k in range(10)]

    async def testbench(ctx):
        ctx.set(tile.x, 0)
        ctx.set(tile.y, 0)
        ports = tile_ports(tile, rng=random.Random(6), ready_prob={"west": 0.7})
        ports.send("west", route_request({3: Route(Direction.WEST, {Direction.EAST,
                                                                    Direction.RAMP})}))
        # Routes are fixed as wavelets arrive: the status reply says the route is in place.
        ports.send("west", status_request())
        await ports.run_until(ctx, lambda: len(ports.received["west"]) == 5)
        ports.send("west", colored)
        ports.send("west", [Wavelet(data=1, color=4)])       # unrouted: a misroute
        ports.send("west", status_request())
        await ports.run_until(ctx, lambda: len(ports.received["west"]) == 10)
        await ports.settle(ctx)
        assert ports.received["east"] == colored
        assert ports.received["west"][5:] == reply_packet(
            [0, len(colored), sum(w.data for w in colored), 1])
        assert ports.received["south"] == ports.received["north"] == []
    simulate(tile, testbench)


def test_tile_reports_a_refused_route_in_its_status():
    tile = Tile(PARAMS)
    forbidden = Route(Direction.SOUTH, {Direction.WEST}, check=False)   # a y -> x turn

    async def testbench(ctx):
        ports = tile_ports(tile)
        ports.send("west", route_request({2: forbidden}))
        ports.send("west", [Wavelet(data=5, color=2)])
        ports.send("west", status_request())
        await ports.run_until(ctx, lambda: len(ports.received["west"]) == 5)
        assert AgentStatus(ctx.get(tile.status)) == AgentStatus.ROUTE_REFUSED
        # The wavelet came from WEST, not SOUTH: a misroute either way; nothing reached SOUTH.
        assert ports.received["west"] == reply_packet([AgentStatus.ROUTE_REFUSED, 0, 0, 1])
        assert ports.received["south"] == []
    simulate(tile, testbench)


def test_tile_write_and_read_through_the_mesh():
    """Requests arriving from the north for a tile at (2, 1) are served; the reply to the west
    edge leaves by the west port, and memory is the tile's own."""
    tile = Tile(PARAMS)
    words = [7, 8, 9, MASK]

    async def testbench(ctx):
        ctx.set(tile.x, 2)
        ctx.set(tile.y, 1)
        ports = tile_ports(tile)
        ports.send("north", write_request(TOTAL - 4, words, x=2, y=1))
        ports.send("north", read_request(TOTAL - 4, 4, x=2, y=1,
                                         reply=CODEC.header_data(-1, 1, 9)))
        await ports.run_until(ctx, lambda: len(ports.received["west"]) == 6)
        assert ports.received["west"] == reply_packet([0, *words],
                                                      header=CODEC.header_data(-1, 1, 9))
        assert ctx.get(tile.status) == 0
    simulate(tile, testbench)



def test_a_tile_with_a_core_loads_runs_and_reports_through_the_mesh():
    """The host's whole path to a core: the program written to program memory through the
    memory agent, routes into and out of the core, START, colored wavelets in from the west,
    the core's wavelets out to the east, then the core's status and the memory read back."""
    from tessera.hdl.core.isa import CORE_REGS_BASE, PROGRAM_BASE, CoreControl, CoreReg
    from tessera.sim.asm import assemble
    image = assemble("""
.task rx, data, color=3
rx: csr r1, wdata
    addi r1, r1, 100
    send r1, 4
    ld r2, 50(r0)
    addi r2, r2, 1
    st r2, 50(r0)
    li r3, 5
    bne r2, r3, more
    halt
more: ret
""", PARAMS)
    tile = Tile(PARAMS, core=True)
    inputs = [Wavelet(data=k, color=3) for k in range(5)]

    async def testbench(ctx):
        ports = tile_ports(tile, rng=random.Random(2), ready_prob={"east": 0.6})
        ports.send("west", write_request(PROGRAM_BASE, image.words))
        ports.send("west", route_request({3: Route(Direction.WEST, {Direction.RAMP}),
                                          4: Route(Direction.RAMP, {Direction.EAST})}))
        ports.send("west", write_request(CORE_REGS_BASE + CoreReg.CONTROL,
                                         [CoreControl.START]))
        ports.send("west", status_request())
        await ports.run_until(ctx, lambda: len(ports.received["west"]) == 5)
        ports.send("west", inputs)
        await ports.run_until(ctx, lambda: len(ports.received["east"]) == 5)
        ports.send("west", read_request(CORE_REGS_BASE + CoreReg.STATUS, 2))
        ports.send("west", read_request(50, 1))
        ports.send("west", read_request(CORE_REGS_BASE + CoreReg.TASKS_RUN, 2))
        await ports.run_until(ctx, lambda: len(ports.received["west"]) == 5 + 4 + 3 + 4)
        assert ports.received["east"] == [Wavelet(data=k + 100, color=4) for k in range(5)]
        replies = ports.received["west"][5:]
        assert replies[:4] == reply_packet([0, 0b010, 0])        # done, no fault, pc 0
        assert replies[4:7] == reply_packet([0, 5])
        tasks_run, instructions = replies[9].data, replies[10].data
        assert tasks_run == 5 and instructions == 5 * 9     # 8 and a ret or a halt
        assert ctx.get(tile.status) == 0
    simulate(tile, testbench)
