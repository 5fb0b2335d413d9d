"""The deadlock-freedom rule of ``docs/router.md``, made executable on a mesh of routers.

Rule 1 (turns: X then Y), Rule 2 (every sink eventually consumes) and Rule 3 (packets contiguous
on a link) hold in the first two tests, so everything must arrive -- exactly once, in order per
(source, color) and per (source, destination) -- within a cycle bound, however the sinks stall.
The ring tests break Rule 1 alone, with colored routes round a 2x2 ring, and show the mesh stop
for good, while the same demand routed X then Y completes; :class:`Route` refuses the ring's
routes unless told not to check.

The mesh is :class:`tessera.sim.mesh_model.RouterMesh` in the Amaranth simulator.
"""

import random
import re

import pytest
from amaranth.sim import Simulator

from tessera.hdl.link import wavelet_channel
from tessera.hdl.params import resolve_params
from tessera.hdl.mesh import direction_between
from tessera.hdl.routing import Route, RouteError
from tessera.hdl.wavelet import Direction
from tessera.sim.mesh_model import MeshBench, RouterMesh, multicast_routes, routes_for_paths, xy_path
from tessera.sim.amaranth_sim import run_simulation
from tessera.sim.wavelets import Wavelet

MESH_3X3 = resolve_params("default", overrides=dict(rows=3, cols=3, num_colors=16))
MESH_2X2 = resolve_params("default", overrides=dict(rows=2, cols=2, num_colors=16))


def simulate(mesh, testbench):
    """Run one testbench on the mesh; with ``TESSERA_WAVES=<dir>``, write a VCD per test."""
    sim = Simulator(mesh)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    run_simulation(sim)


async def linger(ctx, bench, cycles=50):
    """Run on after the last expected delivery, so a duplicate would still show up."""
    await bench.run(ctx, max_cycles=bench.cycle + cycles, until=lambda: False)


def colored_stream(source, color, count):
    """``count`` wavelets of ``color``; the data says which tile sent it and its place."""
    return [Wavelet(data=(source << 24) | (color << 16) | seq, color=color)
            for seq in range(count)]


class Scoreboard:
    """Expected traffic per receiving tile, and the check that exactly that arrived, in order.

    Colored wavelets are keyed by (destination, source, color); addressed packets by
    (destination, source), the source being the header's ``info`` field.
    """

    def __init__(self, mesh, codec):
        self.mesh = mesh
        self.codec = codec
        self.colored = {}
        self.packets = {}

    def expect_colored(self, source, color, wavelets, table):
        """``wavelets`` reach every tile whose route for ``color`` includes RAMP."""
        for tile, route in table.items():
            if Direction.RAMP in route.outputs:
                self.colored.setdefault((tile, source, color), []).extend(wavelets)

    def expect_packet(self, source, dest, packet):
        self.packets.setdefault((dest, source), []).append(packet)

    @property
    def total(self):
        """Wavelets expected on RAMP outputs in all."""
        return (sum(map(len, self.colored.values()))
                + sum(len(p) for packets in self.packets.values() for p in packets))

    def check(self, received):
        for dest in self.mesh.tiles:
            stream = received[dest]
            got_colored, got_packets = {}, {}
            open_packets = {}       # per addressed channel (the ctrl bit): its packet so far
            for w in stream:
                if not w.addressed:
                    got_colored.setdefault((dest, w.data >> 24, w.color), []).append(w)
                    continue
                # Colored wavelets and the other channel's packets may come between a packet's
                # wavelets; a packet of its own channel may not (it would mix their words).
                packet = open_packets.setdefault(w.ctrl, [])
                packet.append(w)
                if w.last:
                    del open_packets[w.ctrl]
                    header = self.codec.header_fields(packet[0].data)
                    assert (header["x"], header["y"]) == dest, f"packet for {header} at {dest}"
                    got_packets.setdefault((dest, header["info"]), []).append(packet)
            assert not open_packets, f"packet cut short at {dest}: {open_packets}"
            want_colored = {key: v for key, v in self.colored.items() if key[0] == dest}
            want_packets = {key: v for key, v in self.packets.items() if key[0] == dest}
            assert got_colored == want_colored, f"colored traffic at {dest}"
            assert got_packets == want_packets, f"addressed traffic at {dest}"


def _interleave(packets, wavelets, rng):
    """Packets (kept whole) and single wavelets mixed at random, each kind in its own order."""
    packets, wavelets, out = list(packets), list(wavelets), []
    while packets or wavelets:
        if packets and (not wavelets or rng.random() < 0.5):
            out.extend(packets.pop(0))
        else:
            out.append(wavelets.pop(0))
    return out


def _in_turn(streams):
    """Several streams from one source, one wavelet of each in turn."""
    return [s[k] for k in range(max(map(len, streams))) for s in streams if k < len(s)]


# --- Rules kept: everything arrives -------------------------------------------------------------

# Multicast colors of the 3x3 mesh, X then Y from their source: color, source, destinations.
MULTICASTS = [
    (1, (0, 0), [(x, y) for y in range(3) for x in range(3)]),     # broadcast
    (2, (2, 2), [(0, 0), (2, 0), (0, 2), (1, 1)]),                  # corners and centre
    (3, (1, 1), [(0, 1), (2, 1), (1, 0), (1, 2)]),                  # neighbours
    (4, (2, 0), [(0, 2)]),                                          # the far corner
    (5, (0, 2), [(0, 2), (2, 0), (2, 2)]),                          # itself too
]
# The run below must drain within this many cycles (measured: 290-580 over seeds 1-5).
DRAIN_BOUND = 1500


@pytest.mark.parametrize("seed", [1, 2])
def test_random_packets_and_multicasts_all_arrive_in_order(seed):
    rng = random.Random(seed)
    mesh = RouterMesh(MESH_3X3)
    # Sinks stall at random, each at its own rate, but always eventually take.
    bench = MeshBench(mesh, rng, send_prob=0.8,
                      take_prob={t: rng.choice([0.3, 0.6, 0.9]) for t in mesh.tiles})
    board = Scoreboard(mesh, bench.codec)
    tables = {}
    colored = {t: [] for t in mesh.tiles}
    for color, src, dests in MULTICASTS:
        tables[color] = multicast_routes(src, dests)          # checked against the turn rule
        stream = colored_stream(mesh.tiles.index(src), color, 30)
        board.expect_colored(mesh.tiles.index(src), color, stream, tables[color])
        colored[src] += stream
    for index, src in enumerate(mesh.tiles):
        packets = []
        for seq in range(20):
            dest = rng.choice(mesh.tiles)
            words = [(index << 24) | (seq << 8) | k for k in range(rng.randint(0, 3))]
            packet = bench.codec.packet(*dest, words, info=index)
            board.expect_packet(index, dest, packet)
            packets.append(packet)
        bench.send(src, _interleave(packets, colored[src], rng))
    injected = bench.pending
    result = {}

    async def testbench(ctx):
        await bench.configure(ctx, tables)
        result["end"] = await bench.run(ctx, max_cycles=DRAIN_BOUND,
                                        until=lambda: bench.delivered >= board.total)
        await linger(ctx, bench)
        result["misroutes"] = [ctx.get(r.misroutes) for r in mesh.routers.values()]

    simulate(mesh, testbench)
    assert result["end"] == "done", \
        (f"not drained in {DRAIN_BOUND} cycles: {bench.delivered} of {board.total} delivered, "
         f"{bench.pending} of {injected} not even injected")
    board.check(bench.received)
    assert result["misroutes"] == [0] * len(mesh.tiles)


# --- Rules kept: congestion on some colors does not stop the others -----------------------------

def test_congested_colors_do_not_stop_other_colors():
    mesh = RouterMesh(MESH_3X3)
    sink = (1, 1)
    # The centre's RAMP takes a wavelet in one cycle of ten; every other sink is quick.
    bench = MeshBench(mesh, random.Random(7), send_prob=0.9,
                      take_prob={t: (0.1 if t == sink else 0.9) for t in mesh.tiles})
    board = Scoreboard(mesh, bench.codec)
    # Congested: four sources all sending to the centre's slow RAMP; they fill the centre's
    # NORTH and SOUTH input queues and the links behind them. (A route table accepts a color
    # from one input only, so converging sources need a color each: colors 1-4.)
    congested = {1: ((1, 0), sink), 2: ((0, 0), sink), 3: ((1, 2), sink), 4: ((2, 2), sink)}
    # Clear: colors 5 and 6 cross the centre router west<->east, on other queues and outputs.
    clear = {5: ((0, 1), (2, 1)), 6: ((2, 1), (0, 1))}
    # Shared: color 7 crosses the centre north->south, through the congested NORTH queue.
    shared = {7: ((1, 0), (1, 2))}
    tables, by_source = {}, {}
    for color, (src, dest) in {**congested, **clear, **shared}.items():
        tables[color] = multicast_routes(src, [dest])
        stream = colored_stream(mesh.tiles.index(src), color, 25 if color in congested else 40)
        board.expect_colored(mesh.tiles.index(src), color, stream, tables[color])
        by_source.setdefault(src, []).append(stream)
    for src, streams in by_source.items():
        bench.send(src, _in_turn(streams))

    def delivered(colors):
        return sum(1 for stream in bench.received.values() for w in stream if w.color in colors)

    marks = {}

    async def testbench(ctx):
        await bench.configure(ctx, tables)
        marks["clear"] = await bench.run(ctx, max_cycles=300,
                                         until=lambda: delivered(clear) == 2 * 40)
        marks["clear_cycle"] = bench.cycle
        marks["congested_then"] = delivered(congested)
        marks["end"] = await bench.run(ctx, max_cycles=3000,
                                       until=lambda: bench.delivered >= board.total)
        await linger(ctx, bench)

    simulate(mesh, testbench)
    # The clear colors finish at about their own sending rate (40 wavelets at 0.9 a cycle)...
    assert marks["clear"] == "done", "colors beside the congestion did not complete"
    assert marks["clear_cycle"] < 80
    # ...while the congested ones have hardly started draining (100 wavelets at 0.1 a cycle).
    assert marks["congested_then"] < 20
    # Everything, the shared color too, arrives in the end, in order: the slow sink consumes.
    assert marks["end"] == "done"
    board.check(bench.received)


# --- Rule 1 broken: a cycle of colored routes deadlocks -----------------------------------------

# Clockwise round the 2x2 ring (y grows southward): east, south, west, north.
RING = [(0, 0), (1, 0), (1, 1), (0, 1)]


def _ring_path(k):
    """Color ``k + 1``: from corner ``k`` three hops clockwise, out on the last corner's RAMP."""
    return [RING[(k + j) % 4] for j in range(4)]


def _ring_links(mesh):
    """For each corner, its router's input fed by the previous corner round the ring."""
    return [mesh.routers[RING[(j + 1) % 4]].inp[direction_between(RING[(j + 1) % 4], RING[j])]
            for j in range(4)]


def _ring_run(tables_for, *, params=MESH_2X2, turn_rule=True, until=None):
    """Each corner sends 30 wavelets of its color on the routes ``tables_for(k)``; sinks never
    stall (Rules 2 and 3 hold). Returns the bench, how the run ended and the ring links' ready
    bit of the colors' shared channel at the end."""
    mesh = RouterMesh(params, turn_rule=turn_rule)
    bench = MeshBench(mesh, random.Random(3), send_prob=1.0, take_prob=1.0)
    tables = {}
    for k, src in enumerate(RING):
        tables[k + 1] = tables_for(k)
        bench.send(src, colored_stream(mesh.tiles.index(src), k + 1, 30))
    result = {}

    async def testbench(ctx):
        await bench.configure(ctx, tables)
        result["end"] = await bench.run(
            ctx, max_cycles=2000, idle_limit=300,
            until=(lambda: until(bench)) if until else (lambda: bench.delivered >= 4 * 30))
        await linger(ctx, bench)
        channel = wavelet_channel(params, addressed=False, color=1)
        result["ring"] = [ctx.get(link.ready) >> channel & 1 for link in _ring_links(mesh)]
        result["refused"] = [ctx.get(mesh.routers[t].route_refused) for t in RING]
        result["misroutes"] = sum(ctx.get(r.misroutes) for r in mesh.routers.values())

    simulate(mesh, testbench)
    return bench, result


# The ring's colors in one channel: with a channel per color the ring's waits never close (each
# color's chain of channels ends at its RAMP), so the rule matters where colors share channels.
SHARED = MESH_2X2.replace(color_channels=1)


def test_ring_of_turn_breaking_routes_deadlocks_a_router_without_the_rule():
    bench, result = _ring_run(lambda k: routes_for_paths([_ring_path(k)], check=False),
                              params=SHARED, turn_rule=False)
    # Nothing moved on any link or ramp for 300 cycles while every sink was ready...
    assert result["end"] == "stuck", "the turn-breaking ring kept moving"
    assert sum(len(v) for v in bench.received.values()) < 4 * 30
    # ...because every ring link's channel is full (ready is "not full"): each corner waits
    # for the next, round the ring.
    assert result["ring"] == [0] * 4
    assert result["refused"] == [0] * 4, "a router without the rule refuses nothing"


def test_the_router_refuses_the_ring_routes_so_the_ring_cannot_deadlock():
    # The same raw route writes on the real router: its table refuses the y -> x turns, those
    # colors' wavelets are misrouted (dropped and counted) at the refusing corners, and the
    # mesh never stops.
    bench, result = _ring_run(lambda k: routes_for_paths([_ring_path(k)], check=False),
                              params=SHARED, until=lambda bench: bench.pending == 0)
    assert result["end"] == "done", "the mesh stopped"
    assert result["refused"] == [1, 0, 1, 0], "refused at (0, 0) and (1, 1), the y -> x turns"
    delivered = sum(len(v) for v in bench.received.values())
    assert delivered == 0 and result["misroutes"] == 4 * 30


def test_same_ring_demand_on_turn_rule_routes_completes():
    # The same sources and destinations, routed X then Y: no wait can close a cycle.
    bench, result = _ring_run(lambda k: multicast_routes(RING[k], [_ring_path(k)[-1]]),
                              params=SHARED)
    assert result["end"] == "done"
    for k, src in enumerate(RING):
        dest = _ring_path(k)[-1]
        assert bench.received[dest] == colored_stream(bench.mesh.tiles.index(src), k + 1, 30)


@pytest.mark.parametrize("k, message", [
    (0, "from NORTH a wavelet may leave by RAMP, SOUTH, not WEST"),     # at (1, 1)
    (1, "from NORTH a wavelet may leave by RAMP, SOUTH, not WEST"),     # at (1, 1)
    (2, "from SOUTH a wavelet may leave by NORTH, RAMP, not EAST"),     # at (0, 0)
    (3, "from SOUTH a wavelet may leave by NORTH, RAMP, not EAST"),     # at (0, 0)
])
def test_route_refuses_the_ring_routes(k, message):
    with pytest.raises(RouteError, match=rf"^route outputs must follow the X-then-Y turn rule: "
                                         rf"{re.escape(message)}$"):
        routes_for_paths([_ring_path(k)])


def test_ring_breaks_the_rule_only_at_its_y_to_x_turns():
    # One router at a time: the ring's x-to-y corners are legal, its y-to-x corners are not.
    refused = []
    for k in range(4):
        for tile, route in routes_for_paths([_ring_path(k)], check=False).items():
            try:
                Route(route.accept, route.outputs)
            except RouteError:
                refused.append(tile)
    assert sorted(refused) == [(0, 0), (0, 0), (1, 1), (1, 1)]


def test_xy_path_goes_x_first():
    assert xy_path((0, 0), (2, 1)) == [(0, 0), (1, 0), (2, 0), (2, 1)]
    assert xy_path((2, 2), (0, 0)) == [(2, 2), (1, 2), (0, 2), (0, 1), (0, 0)]


def test_multicast_tree_enters_each_tile_once():
    table = multicast_routes((1, 1), [(0, 0), (2, 2), (1, 1)])
    assert table[(1, 1)] == Route(Direction.RAMP, {Direction.WEST, Direction.EAST,
                                                   Direction.RAMP})
    assert table[(0, 1)] == Route(Direction.EAST, {Direction.NORTH})
    assert table[(0, 0)] == Route(Direction.SOUTH, {Direction.RAMP})
    with pytest.raises(ValueError, match=r"^paths of one color must enter tile \(1, 0\) by one "
                                         r"input, not by WEST and EAST$"):
        routes_for_paths([[(0, 0), (1, 0)], [(2, 0), (1, 0)]])
