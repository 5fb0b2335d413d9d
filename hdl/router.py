"""The five-port mesh router and its parts.

A router reads as its parts, one wavelet per cycle through each:

    input queue (x5) -> route compute (x5) -> per-output round-robin arbiter (x5) -> crossbar

Each input port's queue holds arriving wavelets; the route compute of that input says which
outputs its head goes to (the color's route-table entry, or XY order for addressed packets); each
output's arbiter picks one requesting input; the crossbar moves the winners' heads to the outputs.
A head leaves its queue once every output it goes to has taken it, so a multicast is delivered
exactly once to each of its outputs.

A wavelet entering a queue in cycle ``t`` can leave an output in cycle ``t + 1``: one cycle per
hop at zero load. The deadlock-freedom rule is in ``docs/router.md``.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .wavelet import (NUM_PORTS, Direction, header_layout, route_layout, route_write_layout,
                      wavelet_layout, wavelet_stream)

__all__ = ["InputQueue", "RouteCompute", "RoundRobinArbiter", "Crossbar", "Router"]


class InputQueue(wiring.Component):
    """First-in first-out queue of wavelets with stream ports on both sides.

    A wavelet written in cycle ``t`` is at the output in cycle ``t + 1``. ``w.ready`` depends only
    on the queue's own state (it is ``not full``), so no combinational path crosses a link
    backwards. Storage is a memory with an asynchronous read port (LUT RAM on FPGAs).

    Parameters
    ----------
    shape : ShapeLike
        Shape of one entry.
    depth : int
        Entries held; a power of two, at least 2 (one entry would halve the throughput).

    Members
    -------
    w : ``In(stream.Signature(shape))``
        Writes.
    r : ``Out(stream.Signature(shape))``
        Reads; ``r.payload`` is the oldest entry.
    level : ``Out(range(depth + 1))``
        Entries held.
    """

    def __init__(self, shape, *, depth):
        if not isinstance(depth, int) or depth < 2 or depth & (depth - 1):
            raise ValueError(f"Queue depth must be a power of two of at least 2, not {depth!r}")
        self._shape = shape
        self._depth = depth
        super().__init__({
            "w": In(stream.Signature(shape)),
            "r": Out(stream.Signature(shape)),
            "level": Out(range(depth + 1)),
        })

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = storage = memory.Memory(
            shape=self._shape, depth=self._depth, init=[])
        wp = storage.write_port()
        rp = storage.read_port(domain="comb")

        ptr_bits = (self._depth - 1).bit_length()
        write_ptr = Signal(ptr_bits)
        read_ptr = Signal(ptr_bits)

        push = self.w.valid & self.w.ready
        pop = self.r.valid & self.r.ready

        m.d.comb += [
            self.w.ready.eq(self.level != self._depth),
            self.r.valid.eq(self.level != 0),
            wp.addr.eq(write_ptr),
            wp.data.eq(self.w.payload),
            wp.en.eq(push),
            rp.addr.eq(read_ptr),
            self.r.payload.eq(rp.data),
        ]
        with m.If(push):
            m.d.sync += write_ptr.eq(write_ptr + 1)
        with m.If(pop):
            m.d.sync += read_ptr.eq(read_ptr + 1)
        with m.If(push & ~pop):
            m.d.sync += self.level.eq(self.level + 1)
        with m.Elif(pop & ~push):
            m.d.sync += self.level.eq(self.level - 1)
        return m


class RouteCompute(wiring.Component):
    """Which outputs the head wavelet of one input goes to.

    A colored wavelet goes to its color's route-table outputs if it arrived on the route's
    accepted input; otherwise (or if the route has no outputs, or the color is beyond
    ``num_colors``) it is *misrouted*: the router discards it and counts it.

    An addressed packet's head wavelet goes one step along dimension order: first along x
    (EAST/WEST) until the column matches, then along y (SOUTH/NORTH), then to RAMP. The rest of
    the packet follows the head's output; the route compute remembers it until the ``last``
    wavelet leaves.

    Parameters
    ----------
    params : FabricParams
    port : Direction
        The input this route compute serves.

    Members
    -------
    valid : ``In(1)``
        A head wavelet is present.
    wavelet : ``In(wavelet_layout)``
        The head wavelet.
    route : ``In(route_layout)``
        The route-table entry of the head's color.
    route_valid : ``In(1)``
        The head's color has a route-table entry (``color < num_colors``).
    x, y : ``In(coord_bits)``
        This router's coordinates.
    pop : ``In(1)``
        The head leaves the queue at the end of this cycle.
    outputs : ``Out(NUM_PORTS)``
        Outputs the head goes to (bit ``d`` is :class:`Direction` ``d``).
    misroute : ``Out(1)``
        The head is a colored wavelet that this router does not route.
    """

    def __init__(self, params, *, port):
        self._params = params
        self._port = Direction(port)
        super().__init__({
            "valid": In(1),
            "wavelet": In(wavelet_layout(params)),
            "route": In(route_layout()),
            "route_valid": In(1),
            "x": In(params.coord_bits),
            "y": In(params.coord_bits),
            "pop": In(1),
            "outputs": Out(NUM_PORTS),
            "misroute": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        in_packet = Signal()                # between an addressed head and its last wavelet
        packet_outputs = Signal(NUM_PORTS)  # where the current packet goes

        header = header_layout(self._params)(self.wavelet.data)
        # Header coordinates are signed (a host beyond the west or north edge is at -1); the
        # router's own are not, so they gain a zero sign bit before comparing.
        here_x = Cat(self.x, Const(0, 1)).as_signed()
        here_y = Cat(self.y, Const(0, 1)).as_signed()
        xy_output = Signal(Direction)
        with m.If(header.x > here_x):
            m.d.comb += xy_output.eq(Direction.EAST)
        with m.Elif(header.x < here_x):
            m.d.comb += xy_output.eq(Direction.WEST)
        with m.Elif(header.y > here_y):
            m.d.comb += xy_output.eq(Direction.SOUTH)
        with m.Elif(header.y < here_y):
            m.d.comb += xy_output.eq(Direction.NORTH)
        with m.Else():
            m.d.comb += xy_output.eq(Direction.RAMP)

        color_routed = (self.route_valid & (self.route.accept == self._port)
                        & (self.route.outputs != 0))
        with m.If(self.wavelet.addressed):
            with m.If(in_packet):
                m.d.comb += self.outputs.eq(packet_outputs)
            with m.Else():
                m.d.comb += self.outputs.eq(Const(1, NUM_PORTS) << Value.cast(xy_output))
        with m.Elif(color_routed):
            m.d.comb += self.outputs.eq(self.route.outputs)
        m.d.comb += self.misroute.eq(self.valid & ~self.wavelet.addressed & ~color_routed)

        with m.If(self.valid & self.pop & self.wavelet.addressed):
            m.d.sync += [
                in_packet.eq(~self.wavelet.last),
                packet_outputs.eq(self.outputs),
            ]
        return m


class RoundRobinArbiter(wiring.Component):
    """Grants one of ``n`` requesters and holds the grant until told to release it.

    Unheld, the grant goes to the first requester at or after the one after the last released
    grant, so a requester that keeps requesting waits for at most ``n - 1`` other grants. Once
    given, a grant stays with its requester until ``release`` is asserted: the output's payload
    stays stable while the downstream stalls, and an addressed packet keeps its output until its
    last wavelet.

    Members
    -------
    requests : ``In(n)``
    release : ``In(1)``
        End the current grant after this cycle.
    grant : ``Out(n)``
        One-hot, or zero when nothing is requested.
    """

    def __init__(self, n):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"Requester count must be a positive integer, not {n!r}")
        self._n = n
        super().__init__({
            "requests": In(n),
            "release": In(1),
            "grant": Out(n),
        })

    def elaborate(self, platform):
        m = Module()
        n = self._n
        held = Signal()         # a grant was given and not yet released
        owner = Signal(n)       # the held grant
        first = Signal(range(n))  # where the round-robin search starts

        pick = Signal(n)
        # Search the requesters from `first` round the ring; the first hit wins.
        for start in range(n):
            with m.If(first == start):
                for k in reversed(range(n)):
                    i = (start + k) % n
                    with m.If(self.requests[i]):
                        m.d.comb += pick.eq(1 << i)
        m.d.comb += self.grant.eq(Mux(held, owner, pick))

        with m.If(self.release):
            m.d.sync += held.eq(0)
            for i in range(n):
                with m.If(self.grant[i]):
                    m.d.sync += first.eq((i + 1) % n)
        with m.Elif(self.grant.any()):
            m.d.sync += [held.eq(1), owner.eq(self.grant)]
        return m


class Crossbar(wiring.Component):
    """Moves each output's selected input wavelet to that output (one-hot AND-OR mux).

    Members
    -------
    heads : ``In(wavelet_layout).array(NUM_PORTS)``
        Head wavelet of each input.
    select : ``In(NUM_PORTS).array(NUM_PORTS)``
        For each output, a one-hot set of the input it takes (zero: none).
    outputs : ``Out(wavelet_layout).array(NUM_PORTS)``
    """

    def __init__(self, params):
        layout = wavelet_layout(params)
        super().__init__({
            "heads": In(layout).array(NUM_PORTS),
            "select": In(NUM_PORTS).array(NUM_PORTS),
            "outputs": Out(layout).array(NUM_PORTS),
        })

    def elaborate(self, platform):
        m = Module()
        for o in Direction:
            picked = 0
            for i in Direction:
                picked = picked | Mux(self.select[o][i], self.heads[i].as_value(), 0)
            m.d.comb += self.outputs[o].eq(picked)
        return m


class Router(wiring.Component):
    """Five-port mesh router with static color routes and XY-routed addressed packets.

    Parameters
    ----------
    params : FabricParams

    Members
    -------
    inp : ``In(wavelet_stream).array(NUM_PORTS)``
        Arriving wavelets, indexed by :class:`Direction`.
    out : ``Out(wavelet_stream).array(NUM_PORTS)``
        Leaving wavelets, indexed by :class:`Direction`.
    config : ``In(stream.Signature(route_write_layout))``
        Route-table writes; always ready, one per cycle, effective from the next cycle. Rewrite a color's
        route while no wavelet of that color is inside the router.
    x, y : ``In(coord_bits)``
        This router's coordinates, used by addressed packets (the same design serves every
        tile).
    misroutes : ``Out(16)``
        Colored wavelets discarded because this router has no route for them (saturating).
    """

    def __init__(self, params):
        self._params = params
        super().__init__({
            "inp": In(wavelet_stream(params)).array(NUM_PORTS),
            "out": Out(wavelet_stream(params)).array(NUM_PORTS),
            "config": In(stream.Signature(route_write_layout(params))),
            "x": In(params.coord_bits),
            "y": In(params.coord_bits),
            "misroutes": Out(16),
        })

    @property
    def params(self):
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params

        # Route table: one entry per color, reset to "not routed".
        route_table = Array(Signal(route_layout(), name=f"route_{c}") for c in range(p.num_colors))
        m.d.comb += self.config.ready.eq(1)
        with m.If(self.config.valid):
            for c in range(p.num_colors):
                with m.If(self.config.payload.color == c):
                    m.d.sync += route_table[c].eq(self.config.payload.route)

        m.submodules.crossbar = crossbar = Crossbar(p)
        queues = []
        routes = []
        arbiters = []
        for d in Direction:
            queue = InputQueue(wavelet_layout(p), depth=p.queue_depth)
            route = RouteCompute(p, port=d)
            arbiter = RoundRobinArbiter(NUM_PORTS)
            m.submodules[f"queue_{d.name.lower()}"] = queue
            m.submodules[f"route_{d.name.lower()}"] = route
            m.submodules[f"arbiter_{d.name.lower()}"] = arbiter
            queues.append(queue)
            routes.append(route)
            arbiters.append(arbiter)
            wiring.connect(m, wiring.flipped(self.inp[d]), queue.w)

        # Per input: the outputs its head still needs, and those that take it this cycle.
        delivered = [Signal(NUM_PORTS, name=f"delivered_{d.name.lower()}") for d in Direction]
        pending = [Signal(NUM_PORTS, name=f"pending_{d.name.lower()}") for d in Direction]
        for i in Direction:
            queue, route = queues[i], routes[i]
            head = queue.r.payload
            # Outputs that already took the current head (a multicast may finish over cycles).
            sent = Signal(NUM_PORTS, name=f"sent_{i.name.lower()}")
            m.d.comb += [
                crossbar.heads[i].eq(head),
                route.valid.eq(queue.r.valid),
                route.wavelet.eq(head),
                route.route.eq(route_table[head.color]),
                route.route_valid.eq(head.color < p.num_colors),
                route.x.eq(self.x),
                route.y.eq(self.y),
                pending[i].eq(Mux(queue.r.valid, route.outputs & ~sent, 0)),
                # The head leaves once no output it needs is left waiting (a misrouted head,
                # needing none, leaves at once and is counted).
                queue.r.ready.eq((pending[i] & ~delivered[i]) == 0),
                route.pop.eq(queue.r.ready),
            ]
            with m.If(queue.r.valid & queue.r.ready):
                m.d.sync += sent.eq(0)
            with m.Else():
                m.d.sync += sent.eq(sent | delivered[i])

        any_misroute = Signal(range(NUM_PORTS + 1))
        m.d.comb += any_misroute.eq(sum(r.misroute for r in routes))
        with m.If(self.misroutes + any_misroute < 2 ** 16):
            m.d.sync += self.misroutes.eq(self.misroutes + any_misroute)
        with m.Else():
            m.d.sync += self.misroutes.eq(2 ** 16 - 1)

        for o in Direction:
            arbiter, link = arbiters[o], self.out[o]
            transfer = link.valid & link.ready
            m.d.comb += [
                arbiter.requests.eq(Cat(pending[i][o] for i in Direction)),
                crossbar.select[o].eq(arbiter.grant),
                # A held grant may wait on a packet's next wavelet that has not arrived yet.
                link.valid.eq((arbiter.grant & arbiter.requests).any()),
                link.payload.eq(crossbar.outputs[o]),
                # Keep the output for the rest of an addressed packet.
                arbiter.release.eq(transfer & ~(link.payload.addressed & ~link.payload.last)),
            ]
            for i in Direction:
                m.d.comb += delivered[i][o].eq(transfer & arbiter.grant[i])
        return m
