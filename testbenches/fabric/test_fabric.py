"""cocotb testbench of a whole fabric (``hdl/fabric.py``, top module ``tessera_fabric``).

Run by ``tests/test_fabric_verilator.py``, once per fabric shape; the parameter set arrives as
JSON of ``FabricParams.as_dict()`` in ``TESSERA_PARAMS``. Every test talks to the fabric only
through its edge ports, with :class:`tessera.sim.host.Host` (the host side of
``docs/edge-protocol.md``): loads and reads back every tile, runs random requests and transit
traffic under random stalls, configures multicast color routes along a row and a column and
checks with STATUS that each tile got each wavelet once, checks that out-of-range addresses
are refused, and that the watchdog names a stuck port and the tile beside it.

Random choices come from ``random.Random(f"{cocotb.RANDOM_SEED}/{test}")``: a run is
reproduced by its seed (``COCOTB_RANDOM_SEED``; the log's first lines show it).
"""

import json
import os
import random
import re

import cocotb
from cocotb.triggers import ClockCycles

from tessera.hdl.core.isa import Fault
from tessera.hdl.params import FabricParams
from tessera.hdl.routing import Route
from tessera.hdl.tile import AgentStatus
from tessera.hdl.wavelet import Direction
from tessera.sim.host import SIDES, EdgePort, Host, HostWatchdog, ReadRangeError, gather
from tessera.sim.streams import Scoreboard, TagCodec, WatchdogTimeout, always, never
from tessera.sim.wavelets import Wavelet

# Backstop only: the host's watchdog fails a stuck test long before.
TIMEOUT = dict(timeout_time=10, timeout_unit="ms")
# A wavelet's tag holds the index of the edge port it was sent from (at most 4 * 127 ports
# would need 9 bits; tested shapes have at most 16).
SOURCE_BITS = 5


def params_from_env():
    return FabricParams(**json.loads(os.environ["TESSERA_PARAMS"]))


def tiles_have_cores():
    """The fabric was built with a compute core in every tile (``TESSERA_FABRIC_CORES``)."""
    return os.environ.get("TESSERA_FABRIC_CORES", "0") == "1"


async def consume_colors(host, tiles, colors):
    """With cores in the tiles, the RAMP side is a core, not a sink: wavelets of a color wait
    in its queue for a consumer (docs/isa.md, deadlock rules). Give every tile in ``tiles`` a
    started program whose data tasks take ``colors`` and whose local task ``ctl`` takes the
    control wavelets; returns ``ctl``'s id (the low 6 bits of a control wavelet name it)."""
    from tessera.sim.program import Program
    program = Program(host.params)
    for color in colors:
        program.task(f"rx{color}", "data", color=color)
    control = program.task("ctl")
    for color in colors:
        program.label(f"rx{color}")
        program.ret()
    program.label("ctl")
    program.ret()
    image = program.build()
    await gather(*(host.load_program(pe, image) for pe in tiles))
    await gather(*(host.start_core(pe) for pe in tiles))
    return control


async def start(dut, name, **host_options):
    """A reset fabric, a :class:`Host` on it and this test's random generator."""
    params = params_from_env()
    rng = random.Random(f"{cocotb.RANDOM_SEED}/{name}")
    host = Host(dut, params, seed=rng.random(), **host_options)
    await host.reset()
    assert host.fabric_status() == 0, "status must be clear after reset"
    return host, rng


def pattern(host, pe, addr):
    """A word unique to ``(pe, addr)`` over the whole fabric, with high bits set too."""
    x, y = pe
    addr_bits = (host.total_words - 1).bit_length()
    index = y * host.params.cols + x
    return ((index << addr_bits | addr) ^ 0xA5A5_A5A5_A5A5_A5A5) & host.word_mask


def spread(host, pe):
    """Runs ``(addr, count)`` over a tile's memory: first word, last word, middle, single."""
    total, x, y = host.total_words, *pe
    middle = total // 3 + 7 * (x + 3 * y) % (total // 3)
    return [(0, 4), (middle, 9), (total // 2 + 1, 1), (total - 6, 6)]


# -- Loading and reading back ------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
@cocotb.parametrize(edges=["west", "all"])
async def load_and_read_back(dut, edges):
    """A distinct pattern written to every tile (first and last word included), all requests
    at once, then read back, all at once; through the west ports, or through all four sides
    (requests spread over the nearest ports, several loading at once)."""
    sides = ["west"] if edges == "west" else list(SIDES)
    host, _ = await start(dut, f"load/{edges}", edges=sides)
    runs = {pe: spread(host, pe) for pe in host.tiles}
    await gather(*(host.write(pe, addr, [pattern(host, pe, addr + k) for k in range(n)])
                   for pe in host.tiles for addr, n in runs[pe]))
    requests = [(pe, addr, n) for pe in host.tiles for addr, n in runs[pe]]
    results = await gather(*(host.read(pe, addr, n) for pe, addr, n in requests))
    for (pe, addr, n), words in zip(requests, results):
        expected = [pattern(host, pe, addr + k) for k in range(n)]
        assert words == expected, f"tile {pe} words [{addr}, {addr + n}): {words} != {expected}"
    if edges == "all" and len(host.tiles) > 1:
        used = [port for port, source in host.sources.items() if source.sent]
        assert len(used) > 1, f"requests used only {used}"
    for tile in host.tiles:
        assert (await host.status(tile))["flags"] == 0
    assert all(not w for w in host.received.values()), "nothing but replies came out"
    assert host.fabric_status() == 0


# -- Random traffic under stalls ----------------------------------------------------------------

def transit_destinations(host, port):
    """Where a packet entering at ``port`` can be addressed to leave the fabric, with the out
    port it leaves by: beyond the east, north or south edge (never the west, where replies
    come), by X-then-Y turns only."""
    p = host.params
    if port.side == Direction.WEST:
        y = port.index
        dests = [((p.cols, y + d), EdgePort(Direction.EAST, y)) for d in (0, 1)]
        dests += [((x, -1), EdgePort(Direction.NORTH, x)) for x in range(p.cols)]
        dests += [((x, p.rows), EdgePort(Direction.SOUTH, x)) for x in range(p.cols)]
    elif port.side == Direction.EAST:
        dests = [((x, -1), EdgePort(Direction.NORTH, x)) for x in range(p.cols)]
        dests += [((x, p.rows), EdgePort(Direction.SOUTH, x)) for x in range(p.cols)]
    elif port.side == Direction.NORTH:
        dests = [((port.index, p.rows), EdgePort(Direction.SOUTH, port.index))]
    else:
        dests = [((port.index, -1), EdgePort(Direction.NORTH, port.index))]
    return dests


@cocotb.test(**TIMEOUT)
@cocotb.parametrize((("idle", "backpressure"), [(0.0, 0.0), (0.2, 0.4), (0.1, 0.7)]))
async def random_traffic(dut, idle, backpressure):
    """Random writes and reads to random tiles from workers running at once, entering by all
    four sides, against a model of every tile's memory; at the same time, tagged transit
    packets from every side to beyond the other edges, checked by a scoreboard. Random stalls
    on every port the host takes from, random pauses on every port it sends into. Nothing may
    be lost, extra or reordered, no flag may be raised."""
    tag_codec = None
    scoreboard = None

    def on_traffic(port, wavelet):
        scoreboard.receive(port, wavelet)

    host, rng = await start(dut, f"random/{idle}/{backpressure}", edges=list(SIDES),
                            idle=idle, backpressure=backpressure, on_traffic=on_traffic)
    tag_codec = TagCodec(host.codec, source_bits=SOURCE_BITS)
    ports = host.all_ports()
    scoreboard = Scoreboard(tag_codec, sources=range(len(ports)))
    total = host.total_words
    model = {pe: [0] * total for pe in host.tiles}   # memory after reset is unknown but ...
    known = {pe: set() for pe in host.tiles}          # ... only words written are compared

    async def worker(k, n_requests):
        wrng = random.Random(f"{rng.random()}/{k}")
        for _ in range(n_requests):
            pe = wrng.choice(host.tiles)
            n = wrng.choice([1, 2, 3, 8, 16])
            addr = wrng.choice([0, total - n, wrng.randrange(total - n + 1)])
            if wrng.random() < 0.5:
                words = [wrng.getrandbits(host.params.data_width) for _ in range(n)]
                model[pe][addr:addr + n] = words
                known[pe].update(range(addr, addr + n))
                await host.write(pe, addr, words)
            else:
                # The expected words are the model's now: the read is queued behind every
                # request to the same tile issued before it, on the same path.
                expected = [model[pe][a] if a in known[pe] else None
                            for a in range(addr, addr + n)]
                got = await host.read(pe, addr, n)
                assert [g if e is not None else None for g, e in zip(got, expected)] \
                    == expected, f"tile {pe} words [{addr}, {addr + n})"

    async def transit(port_number, n_packets):
        port = ports[port_number]
        dests = transit_destinations(host, port)
        for _ in range(n_packets):
            (x, y), out = rng.choice(dests)
            packet = tag_codec.packet(port_number, x, y, rng.randrange(4))
            for w in packet:
                scoreboard.expect(port_number, out, w)
            await host.send(port, packet)

    n_tiles = len(host.tiles)
    workers = [worker(k, 40) for k in range(min(16, 4 * n_tiles))]
    transits = [transit(k, 24) for k in range(len(ports))]
    await gather(*workers, *transits)
    await host.drain()
    await ClockCycles(dut.clk, 50)      # anything extra would show up now
    scoreboard.check_drained()
    assert scoreboard.received > 0
    flags = {pe: (await host.status(pe))["flags"] for pe in host.tiles}
    assert all(f == 0 for f in flags.values()), flags
    assert host.fabric_status() == 0


# -- Multicast color routes --------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
async def multicast_row_and_column(dut):
    """A color routed along a whole row (in at the row's west port: WEST -> EAST+RAMP, the
    last tile WEST -> RAMP) and another along a whole column (in at the north port:
    NORTH -> SOUTH+RAMP, the last NORTH -> RAMP), both streaming at once and crossing at one
    tile. STATUS shows every tile on a route got each of its wavelets exactly once (count and
    checksum), tiles off both routes got nothing, and no router misrouted; then one wavelet of
    an unrouted color is counted as a misroute by the first tile it reaches."""
    # Attached everywhere, so a wavelet leaving by any edge would be seen.
    host, rng = await start(dut, "multicast", edges=list(SIDES), backpressure=0.3)
    p = host.params
    row, col = rng.randrange(p.rows), rng.randrange(p.cols)
    row_color, col_color, unrouted = 1, 2, 3
    row_tiles = [(x, row) for x in range(p.cols)]
    col_tiles = [(col, y) for y in range(p.rows)]
    routes = {}
    for x, y in row_tiles:
        outs = {Direction.EAST, Direction.RAMP} if x < p.cols - 1 else {Direction.RAMP}
        routes.setdefault((x, y), {})[row_color] = Route(Direction.WEST, outs)
    for x, y in col_tiles:
        outs = {Direction.SOUTH, Direction.RAMP} if y < p.rows - 1 else {Direction.RAMP}
        routes.setdefault((x, y), {})[col_color] = Route(Direction.NORTH, outs)
    await gather(*(host.set_routes(pe, r) for pe, r in routes.items()))
    # A status request to a tile is served after the route request before it on its path.
    await gather(*(host.status(pe) for pe in routes))
    control = None
    if tiles_have_cores():
        control = await consume_colors(host, list(routes), (row_color, col_color))

    n = 40
    mask = host.word_mask
    streams = {color: [rng.getrandbits(p.data_width) for _ in range(n)]
               for color in (row_color, col_color)}
    if control is not None:
        # A control wavelet activates the task its low 6 bits name: the programs' `ctl`.
        streams[row_color] = [(d & ~0x3F | control) if k % 5 == 0 else d
                              for k, d in enumerate(streams[row_color])]
    await gather(
        host.send((Direction.WEST, row), [Wavelet(data=d, color=row_color, ctrl=k % 5 == 0)
                                          for k, d in enumerate(streams[row_color])]),
        host.send((Direction.NORTH, col), [Wavelet(data=d, color=col_color)
                                           for d in streams[col_color]]))
    await host.drain()
    await ClockCycles(dut.clk, 4 * (p.rows + p.cols))     # the last wavelets reach the sinks

    for pe in host.tiles:
        got = [c for c, tiles in ((row_color, row_tiles), (col_color, col_tiles)) if pe in tiles]
        status = await host.status(pe)
        expected = {"flags": 0, "colored_count": n * len(got),
                    "colored_checksum": sum(sum(streams[c]) for c in got) & mask,
                    "misroutes": 0}
        assert status == expected, f"tile {pe} (routes {got}): {status} != {expected}"
    assert all(not w for w in host.received.values()), "nothing may leave the fabric"
    if control is not None:
        for pe in routes:
            state = await host.core_state(pe)
            data = n * ((pe in row_tiles) + (pe in col_tiles))
            if pe in row_tiles:
                data -= len(range(0, n, 5))                 # the control wavelets
            assert state.running and state.fault == Fault.NONE, (pe, state)
            # Every data wavelet ran its task once; control wavelets activate `ctl` (an
            # activation of an active task adds nothing, so at least one run more).
            runs = state.counters["tasks_run"]
            assert runs > data if pe in row_tiles else runs == data, (pe, runs, data)

    await host.send((Direction.WEST, row), [Wavelet(data=1, color=unrouted)])
    status = await host.status((0, row))
    assert status["misroutes"] == 1 and status["colored_count"] == (
        n * (1 + (col == 0))), status


# -- Errors -------------------------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
async def out_of_range_refused(dut):
    """A read whose run leaves the memory is refused (READ_RANGE, no data, the host names the
    tile and the run); a write running off the end stores the words that fit, skips the rest
    without wrapping and sets WRITE_RANGE; the flags are the tile's own, sticky, and show on
    the fabric's ``status`` port."""
    host, rng = await start(dut, "range")
    p, total = host.params, host.total_words
    # Not the last tile: the fabric's status port must OR every tile's flags.
    pe = (p.cols // 2, p.rows // 2)
    other = (0, 0) if pe != (0, 0) else (p.cols - 1, p.rows - 1)
    low = [pattern(host, pe, a) for a in range(3)]
    await host.write(pe, 0, low)
    try:
        await host.read(pe, total - 2, 4)
    except ReadRangeError as e:
        message = str(e)
    else:
        raise AssertionError("a read beyond the memory must be refused")
    assert message == (f"READ of tile ({pe[0]}, {pe[1]}) words [{total - 2}, {total + 2}) "
                       f"refused (status READ_RANGE): the tile has words 0..{total - 1}"), message
    assert (await host.status(pe))["flags"] == AgentStatus.READ_RANGE
    assert host.fabric_status() == AgentStatus.READ_RANGE

    await host.write(pe, total - 2, [11, 12, 13, 14])
    assert await host.read(pe, total - 2, 2) == [11, 12]
    assert await host.read(pe, 0, 3) == low, "an out-of-range write wrapped around"
    status = await host.status(pe)
    assert status["flags"] == AgentStatus.READ_RANGE | AgentStatus.WRITE_RANGE, status
    assert host.fabric_status() == AgentStatus.READ_RANGE | AgentStatus.WRITE_RANGE
    if other != pe:
        assert (await host.status(other))["flags"] == 0, "flags are per tile"
    # The whole memory is still readable in one request.
    words = await host.read(pe, 0, total)
    assert words[:3] == low and words[-2:] == [11, 12]
    # Reset clears the sticky flags.
    await host.reset()
    assert host.fabric_status() == 0


# -- Reset ---------------------------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
async def no_input_is_ready_during_reset(dut):
    """While rst is high, no edge input is ready on any channel: a write offered then is not
    taken (so not lost either). Released, the fabric takes it and the word reads back."""
    host, _ = await start(dut, "reset", edges=list(SIDES))
    pe = (host.params.cols - 1, host.params.rows - 1)
    port = host.entry_port(pe)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    write = cocotb.start_soon(host.write(pe, 5, [0x1234]))
    for _ in range(20):
        await host.clock.edge
        for edge in host.all_ports():
            ready = getattr(dut, f"{edge.prefix('in')}__ready").value
            assert ready == 0, f"{edge.name} ready during reset"
    assert not host.sources[port].sent, "nothing taken during reset"
    assert host.sources[port].stalled, "the write was offered"
    dut.rst.value = 0
    await write
    assert await host.read(pe, 5, 1) == [0x1234]


# -- The watchdog -------------------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
async def watchdog_names_stuck_port_and_tile(dut):
    """With one west_out held not ready, a read's reply stalls there: the watchdog fires
    within its limit, naming the port, the tile beside it and the request waiting. Freed, the
    port delivers the reply intact."""
    limit = 200
    host, rng = await start(dut, "watchdog", watchdog=None)
    watchdog = HostWatchdog(host, limit=limit)
    p = host.params
    row = p.rows - 1
    pe = (p.cols - 1, row)
    words = [pattern(host, pe, a) for a in range(3 * p.queue_depth * p.cols + 8)]
    await host.write(pe, 0, words)
    port = EdgePort(Direction.WEST, row)
    host.sinks[port].set_backpressure(always())
    read = cocotb.start_soon(host.read(pe, 0, len(words)))
    start_cycle = host.clock.cycle()
    try:
        await watchdog.watch()
    except WatchdogTimeout as e:
        message = str(e)
    waited = host.clock.cycle() - start_cycle
    dut._log.info("watchdog: %s", message)
    assert limit <= waited <= limit + 3 * watchdog.interval + 50, \
        f"fired after {waited} cycles"
    assert message.startswith("no progress for "), message
    assert message.endswith(
        f"west_out[{row}] (tile (0, {row})) held not ready, 1 reply outstanding: "
        f"READ of tile ({pe[0]}, {pe[1]}) words [0, {len(words)}) (tag 0)"), message
    host.sinks[port].set_backpressure(never())
    watchdog.start()
    assert await read == words


# -- The host's own checks ----------------------------------------------------------------------

@cocotb.test(**TIMEOUT)
async def host_refuses_what_it_cannot_send(dut):
    """The host refuses, before sending anything, a tile outside the fabric, a word wider than
    data_width, and an entry port from which X-then-Y routing cannot reach the tile; it picks
    legal entry ports on its own (a north port only for its own column)."""
    host, _ = await start(dut, "refuse", edges=["north"])
    p = host.params
    checks = [
        (host.read((p.cols, 0), 0, 1), rf"pe must be a tile of the {p.rows}x{p.cols} fabric"),
        (host.write((0, 0), 0, [host.word_mask + 1]),
         rf"words\[0\] must fit {p.data_width} bits, not {host.word_mask + 1}"),
        (host.status((0, -1)), "pe must be a tile"),
    ]
    if p.cols > 1:
        checks.append((host.status((1, 0), via=(Direction.NORTH, 0)),
                       r"via north\[0\] cannot reach tile \(1, 0\) with X-then-Y turns"))
    for port, source in host.sources.items():
        assert not source.sent and not source.pending, f"{port} sent before any request"
    for coroutine, pattern_ in checks:
        try:
            await coroutine
        except ValueError as e:
            assert re.match(pattern_, str(e)), str(e)
        else:
            raise AssertionError(f"not refused: {pattern_}")
    assert not any(source.sent or source.pending for source in host.sources.values()), \
        "a refused request sent something"
    assert host.outstanding == 0
    for pe in host.tiles:
        assert host.entry_port(pe) == EdgePort(Direction.NORTH, pe[0])
        assert (await host.status(pe))["flags"] == 0
