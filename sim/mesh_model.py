"""A test harness: a mesh of bare routers in the Amaranth simulator, with traffic on its ramps.

This is not the fabric (tiles with cores and memory come later); it is the smallest thing on
which the deadlock-freedom rule of ``docs/router.md`` can be run: ``rows x cols``
:class:`~tessera.hdl.router.Router` instances wired NORTH<->SOUTH and EAST<->WEST, each told its
own ``(x, y)``. Edge outputs are sinks that are always ready (nothing should ever be routed
there; :attr:`RouterMesh.edge_offer` shows it if something is); edge inputs never carry
anything.

:class:`MeshBench` drives it from one testbench: it writes route tables through each router's
``config`` port, injects wavelets on each tile's RAMP input (with random pauses), takes them from
each RAMP output (with random stalls, but always eventually), and records what arrived where.

Tiles are ``(x, y)`` pairs; x grows eastward, y southward
(:data:`~tessera.hdl.wavelet.AXIS_CONVENTION`).
"""

import random
from collections import deque

from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib import wiring

from ..hdl.link import all_channels, transferred
from ..hdl.router import Router
from ..hdl.routing import Route
from ..hdl.mesh import MESH_DIRECTIONS, OPPOSITE, direction_between, step
from ..hdl.wavelet import Direction, wavelet_layout
from .wavelets import WaveletCodec

__all__ = ["RouterMesh", "MeshBench", "xy_path", "routes_for_paths", "multicast_routes"]

def xy_path(src, dst):
    """Tiles from ``src`` to ``dst`` in dimension order (x first, then y), both included."""
    (x, y), path = src, [tuple(src)]
    while x != dst[0]:
        x += 1 if dst[0] > x else -1
        path.append((x, y))
    while y != dst[1]:
        y += 1 if dst[1] > y else -1
        path.append((x, y))
    return path


def routes_for_paths(paths, *, check=True):
    """Route-table entries ``{tile: Route}`` for one color that follows every path given.

    Each path is a list of adjacent tiles; the color enters the first from RAMP and leaves the
    last on RAMP. Paths may share tiles (a multicast tree) if they enter each shared tile by the
    same input. ``check=False`` allows routes that break the turn rule.

    Raises
    ------
    ValueError
        If two paths enter one tile by different inputs (a route table accepts one).
    RouteError
        If ``check`` and a route breaks the turn rule.
    """
    accept, outputs = {}, {}
    for path in paths:
        path = [tuple(t) for t in path]
        for k, tile in enumerate(path):
            into = Direction.RAMP if k == 0 else direction_between(tile, path[k - 1])
            if accept.setdefault(tile, into) != into:
                raise ValueError(f"paths of one color must enter tile {tile} by one input, not "
                                 f"by {accept[tile].name} and {into.name}")
            out = Direction.RAMP if k == len(path) - 1 else direction_between(tile, path[k + 1])
            outputs.setdefault(tile, set()).add(out)
    return {tile: Route(accept[tile], outputs[tile], check=check) for tile in accept}


def multicast_routes(src, dsts, *, check=True):
    """Route-table entries for a color from ``src`` to every tile of ``dsts``, X then Y."""
    return routes_for_paths([xy_path(src, dst) for dst in dsts], check=check)


class RouterMesh(Elaboratable):
    """``rows x cols`` routers wired to their neighbours.

    Parameters
    ----------
    params : FabricParams
        The routers' parameters; ``params.rows`` and ``params.cols`` give the mesh size.
    turn_rule : bool
        Routers enforce the turn rule (``False`` only to show what the rule prevents).

    Attributes
    ----------
    tiles : list of (x, y)
        Row by row, west to east.
    routers : dict of (x, y) to Router
    ramp_in_valid, ramp_out_ready, ramp_in_payload : Signal
        One field per tile, in ``tiles`` order: the RAMP input's ``valid`` and ``payload`` and
        the RAMP output's ``ready`` (every channel at once). (In the simulator every testbench write settles the whole
        design; three wide writes a cycle instead of three per tile make the mesh several
        times faster.)
    activity : Signal
        A wavelet moved this cycle: some router input took one (from a link or a RAMP), or
        some RAMP output delivered one.
    edge_offer : Signal
        Some edge output offered a wavelet: something was routed off the mesh.
    ramp_in_taken, ramp_out_taken : Signal
        One bit per tile: its RAMP input took a wavelet, its RAMP output delivered one.
    """

    def __init__(self, params, *, turn_rule=True):
        self.params = params
        self.tiles = [(x, y) for y in range(params.rows) for x in range(params.cols)]
        self.routers = {tile: Router(params, turn_rule=turn_rule) for tile in self.tiles}
        self.ramp_in_taken = Signal(len(self.tiles))
        self.ramp_out_taken = Signal(len(self.tiles))
        self.activity = Signal()
        self.edge_offer = Signal()
        # One bit per tile (in `tiles` order), so a testbench sets all ramps in one write.
        self.ramp_in_valid = Signal(len(self.tiles))
        self.ramp_out_ready = Signal(len(self.tiles))
        self.wavelet_width = wavelet_layout(params).size
        self.ramp_in_payload = Signal(self.wavelet_width * len(self.tiles))

    def on_mesh(self, tile):
        return 0 <= tile[0] < self.params.cols and 0 <= tile[1] < self.params.rows

    def elaborate(self, platform):
        m = Module()
        moves, offers = [], []
        for tile, router in self.routers.items():
            m.submodules[f"router_{tile[0]}_{tile[1]}"] = router
            k = self.tiles.index(tile)
            m.d.comb += [
                router.x.eq(tile[0]),
                router.y.eq(tile[1]),
                router.inp[Direction.RAMP].valid.eq(self.ramp_in_valid[k]),
                router.inp[Direction.RAMP].payload.eq(
                    self.ramp_in_payload.word_select(k, self.wavelet_width)),
                router.out[Direction.RAMP].ready.eq(
                    Mux(self.ramp_out_ready[k], all_channels(self.params), 0)),
                self.ramp_in_taken[k].eq(transferred(self.params, router.inp[Direction.RAMP])),
                self.ramp_out_taken[k].eq(transferred(self.params, router.out[Direction.RAMP])),
            ]
            for d in Direction:
                moves.append(transferred(self.params, router.inp[d]))
            moves.append(self.ramp_out_taken[k])
            for d in MESH_DIRECTIONS:
                other = step(tile, d)
                if self.on_mesh(other):
                    wiring.connect(m, router.out[d], self.routers[other].inp[OPPOSITE[d]])
                else:
                    # An edge output is a sink that never stalls; an edge input stays idle.
                    m.d.comb += router.out[d].ready.eq(all_channels(self.params))
                    offers.append(router.out[d].valid)
        m.d.comb += [
            self.activity.eq(_any(moves)),
            self.edge_offer.eq(_any(offers) if offers else 0),
        ]
        return m


def _any(values):
    result = values[0]
    for v in values[1:]:
        result = result | v
    return result


class MeshBench:
    """Drives a :class:`RouterMesh` from one Amaranth testbench.

    Parameters
    ----------
    mesh : RouterMesh
    rng : random.Random
        Source of every random choice, so a seed reproduces a run.
    send_prob : float
        Chance per cycle that a tile with something to send offers it on its RAMP input (pauses
        may fall inside a packet, as Rule 3 allows).
    take_prob : float or dict of (x, y) to float
        Chance per cycle that a RAMP output is ready (positive: every sink eventually consumes,
        Rule 2).

    Attributes
    ----------
    to_send : dict of (x, y) to deque of Wavelet
        What each tile still has to inject, in order.
    received : dict of (x, y) to list of Wavelet
        What each tile's RAMP output delivered, in order.
    cycle : int
        Cycles run so far (after configuration).
    """

    def __init__(self, mesh, rng=None, *, send_prob=0.8, take_prob=0.7):
        self.mesh = mesh
        self.codec = WaveletCodec(mesh.params)
        self.rng = rng or random.Random(0)
        self.send_prob = send_prob
        if isinstance(take_prob, dict):
            self.take_prob = {t: take_prob.get(t, 0.7) for t in mesh.tiles}
        else:
            self.take_prob = {t: take_prob for t in mesh.tiles}
        if not all(0 < p <= 1 for p in self.take_prob.values()):
            raise ValueError("take_prob must be in (0, 1] for every tile: a sink that never "
                             "takes breaks Rule 2")
        self.to_send = {t: deque() for t in mesh.tiles}
        self.received = {t: [] for t in mesh.tiles}
        self.cycle = 0
        # What the RAMP inputs show, kept across runs (an offer is not withdrawn).
        self._offered = [None] * len(mesh.tiles)
        self._ramp_in_valid = 0
        self._ramp_in_payload = 0

    def send(self, tile, wavelets):
        """Queue wavelets for ``tile``'s RAMP input."""
        self.to_send[tuple(tile)].extend(wavelets)

    @property
    def pending(self):
        """Wavelets not yet injected."""
        return sum(len(q) for q in self.to_send.values())

    @property
    def delivered(self):
        """Wavelets delivered on RAMP outputs so far (a multicast counts once per tile)."""
        return sum(len(r) for r in self.received.values())

    async def configure(self, ctx, tables):
        """Write route tables: ``tables`` maps a color to ``{tile: Route}``.

        Every router takes one write per cycle, all routers at once.
        """
        writes = {t: [] for t in self.mesh.tiles}
        for color, table in tables.items():
            for tile, route in table.items():
                writes[tuple(tile)].append(self.codec.route_write_word(color, route))
        for k in range(max((len(w) for w in writes.values()), default=0)):
            for tile, words in writes.items():
                config = self.mesh.routers[tile].config
                ctx.set(config.valid, k < len(words))
                if k < len(words):
                    ctx.set(config.payload.as_value(), words[k])
            await ctx.tick()
        for tile in self.mesh.tiles:
            ctx.set(self.mesh.routers[tile].config.valid, 0)

    async def run(self, ctx, *, max_cycles, until=None, idle_limit=None):
        """Run until ``until()`` is true, or ``idle_limit`` cycles pass with nothing moving, or
        ``max_cycles`` (counted from the first run) have run. Returns ``"done"``, ``"stuck"``
        or ``"timeout"``.

        Give ``until`` when the number of deliveries is known (for example
        ``lambda: bench.delivered == expected``). Without it, the run ends once everything is
        injected and nothing has moved for 32 cycles -- a guess: a wavelet may still wait
        behind a sink that happened to stall that long.

        Raises
        ------
        AssertionError
            If an edge output ever offers a wavelet.
        """
        tiles = self.mesh.tiles
        ramps_out = [self.mesh.routers[t].out[Direction.RAMP] for t in tiles]
        sampled = [self.mesh.ramp_in_taken, self.mesh.ramp_out_taken]
        sampled += [link.payload.as_value() for link in ramps_out]
        sampled += [self.mesh.activity, self.mesh.edge_offer]
        offered = self._offered
        width = self.mesh.wavelet_width
        idle = 0
        while self.cycle < max_cycles:
            if until is not None and until():
                return "done"
            if until is None and self.pending == 0 and idle >= 32:
                return "done"
            if idle_limit is not None and idle >= idle_limit:
                return "stuck"
            ramp_out_ready = 0
            for k, tile in enumerate(tiles):
                queue = self.to_send[tile]
                # Once offered, a wavelet stays offered until taken (stream rule).
                if offered[k] is None and queue and self.rng.random() < self.send_prob:
                    offered[k] = queue[0]
                    self._ramp_in_valid |= 1 << k
                    self._ramp_in_payload &= ~(((1 << width) - 1) << (k * width))
                    self._ramp_in_payload |= self.codec.pack(queue[0]) << (k * width)
                if self.rng.random() < self.take_prob[tile]:
                    ramp_out_ready |= 1 << k
            # Every ctx.set settles the design: one write for all valids, one for all readies.
            ctx.set(self.mesh.ramp_in_payload, self._ramp_in_payload)
            ctx.set(self.mesh.ramp_in_valid, self._ramp_in_valid)
            ctx.set(self.mesh.ramp_out_ready, ramp_out_ready)
            _, _, *values = await ctx.tick().sample(*sampled)
            self.cycle += 1
            taken_in, taken_out, *payloads = values[:-2]
            for k, tile in enumerate(tiles):
                if taken_in >> k & 1:
                    self.to_send[tile].popleft()
                    offered[k] = None
                    self._ramp_in_valid &= ~(1 << k)
                if taken_out >> k & 1:
                    self.received[tile].append(self.codec.unpack(payloads[k]))
            activity, edge_offer = values[-2:]
            assert not edge_offer, f"a wavelet was routed off the mesh in cycle {self.cycle}"
            idle = 0 if activity else idle + 1
        return "timeout"
