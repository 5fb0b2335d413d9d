"""The five-port mesh router and its parts.

A router reads as its parts:

    route compute (x5) -> channel queues (x5) -> channel pick (x5) -> output arbiter (x5)
    -> crossbar

A wavelet's outputs are decided as it *arrives* (:class:`RouteCompute`: its color's route as the
:class:`RouteTable` holds it then, or the XY step of an addressed packet) and stored with it in
its virtual channel at that input (:class:`ChannelQueues`; channels in :mod:`~.link`). Each cycle
every input picks, round robin, one channel whose head still needs an output that can take it
(the receiver has that channel ready and no other packet holds it); each output's arbiter picks
one of the inputs that offer it a head; the crossbar moves the winners' heads. A head leaves its
channel once every output it goes to has taken it, so a multicast is delivered exactly once to
each of its outputs, and a blocked channel never stops another.

A wavelet arriving in cycle ``t`` can leave an output in cycle ``t + 1``: one cycle per hop at
zero load. The deadlock-freedom rules are in ``docs/router.md``.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, ResetSignal, Signal, Value, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .link import Channel, channel_of, link_signature, num_channels, transferred
from .routing import FEEDS, LEGAL_OUTPUTS
from .wavelet import (NUM_PORTS, Direction, header_layout, route_layout, route_write_layout,
                      wavelet_layout)

__all__ = ["ChannelQueues", "RouteCompute", "RouteTable", "RoundRobinArbiter", "PacketLock",
           "Crossbar", "Router"]


def _one_hot_or(select, values):
    """``values[k]`` where ``select`` (one-hot) has bit ``k``; zero where it has none."""
    result = 0
    for k, value in enumerate(values):
        result = result | Mux(select[k], value, 0)
    return result


class ChannelQueues(wiring.Component):
    """The virtual channels of one router input: a first-in first-out queue per channel.

    Each entry is a ``payload`` (kept in a memory with an asynchronous read port, LUT RAM on an
    FPGA) and a small ``tag`` (kept in flip-flops, so the tag of *every* channel's head is
    visible at once: the router keeps a wavelet's outputs there, to choose among the channels
    without reading the memory). Only one channel's head payload is read in a cycle, the
    ``select``-ed one, and only it can be popped.

    A write in cycle ``t`` is at its channel's head in cycle ``t + 1``. ``ready`` depends only on
    the levels (bit ``c`` is "channel ``c`` is not full"), so no combinational path crosses a link
    backwards.

    Parameters
    ----------
    payload, tag : ShapeLike
        Shapes of the two parts of an entry.
    channels : int
    depth : int
        Entries per channel; a power of two, at least 2 (one entry would halve a channel's
        throughput).

    Members
    -------
    w_valid, w_channel, w_payload, w_tag : ``In``
        A write; it is taken if ``ready`` has the channel's bit set, and ignored otherwise.
    ready : ``Out(channels)``
    level : ``Out(range(depth + 1)).array(channels)``
    head_tag : ``Out(tag).array(channels)``
        Every channel's head tag (meaningless where ``level`` is 0).
    select : ``In(range(channels))``
    head : ``Out(payload)``
        The selected channel's head payload.
    pop : ``In(1)``
        Remove the selected channel's head (it must have one).
    """

    def __init__(self, payload, tag, *, channels, depth):
        if not isinstance(depth, int) or depth < 2 or depth & (depth - 1):
            raise ValueError(f"Queue depth must be a power of two of at least 2, not {depth!r}")
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"Channel count must be a positive integer, not {channels!r}")
        self._payload = payload
        self._tag = tag
        self._channels = channels
        self._depth = depth
        super().__init__({
            "w_valid": In(1),
            "w_channel": In(range(channels)),
            "w_payload": In(payload),
            "w_tag": In(tag),
            "ready": Out(channels),
            "level": Out(range(depth + 1)).array(channels),
            "head_tag": Out(tag).array(channels),
            "select": In(range(channels)),
            "head": Out(payload),
            "pop": In(1),
        })

    @property
    def depth(self):
        return self._depth

    @property
    def channels(self):
        return self._channels

    def elaborate(self, platform):
        m = Module()
        n, depth = self._channels, self._depth
        ptr_bits = (depth - 1).bit_length()
        # Channel c's entries sit at addresses c * depth ... c * depth + depth - 1.
        m.submodules.storage = storage = memory.Memory(
            shape=self._payload, depth=n * depth, init=[])
        wp = storage.write_port()
        rp = storage.read_port(domain="comb")

        write_ptr = Array(Signal(ptr_bits, name=f"write_ptr_{c}") for c in range(n))
        read_ptr = Array(Signal(ptr_bits, name=f"read_ptr_{c}") for c in range(n))
        tags = [[Signal(self._tag, name=f"tag_{c}_{k}") for k in range(depth)] for c in range(n)]

        push = Signal()
        m.d.comb += [
            self.ready.eq(Cat(self.level[c] != depth for c in range(n))),
            push.eq(self.w_valid & self.ready.bit_select(self.w_channel, 1)),
            wp.addr.eq(Cat(write_ptr[self.w_channel], self.w_channel)),
            wp.data.eq(self.w_payload),
            wp.en.eq(push),
            rp.addr.eq(Cat(read_ptr[self.select], self.select)),
            self.head.eq(rp.data),
        ]
        for c in range(n):
            pushed = push & (self.w_channel == c)
            popped = self.pop & (self.select == c)
            m.d.comb += self.head_tag[c].eq(Array(tags[c])[read_ptr[c]])
            with m.If(pushed):
                m.d.sync += write_ptr[c].eq(write_ptr[c] + 1)
                for k in range(depth):
                    with m.If(write_ptr[c] == k):
                        m.d.sync += tags[c][k].eq(self.w_tag)
            with m.If(popped):
                m.d.sync += read_ptr[c].eq(read_ptr[c] + 1)
            with m.If(pushed & ~popped):
                m.d.sync += self.level[c].eq(self.level[c] + 1)
            with m.Elif(popped & ~pushed):
                m.d.sync += self.level[c].eq(self.level[c] - 1)
        return m


class RouteCompute(wiring.Component):
    """Which outputs an arriving wavelet goes to, decided once, as it enters the router.

    A colored wavelet goes to its color's route-table outputs (as the table is in its arrival
    cycle) if it arrived on the route's accepted input; otherwise (or if the route has no
    outputs, or the color is beyond ``num_colors``) it is *misrouted*: the router discards it
    and counts it.

    An addressed packet's head goes one step along dimension order: first along x (EAST/WEST)
    until the column matches, then along y (SOUTH/NORTH), then to RAMP. The rest of the packet
    follows the head's output; the route compute remembers it, per addressed channel, until the
    ``last`` wavelet arrives (a link carries each channel's packets whole, one after another). A
    packet whose step breaks the turn rule (:data:`~.routing.LEGAL_OUTPUTS`: it entered by a
    north or south edge port for another column, or would turn back) is misrouted, every
    wavelet of it.

    Parameters
    ----------
    params : FabricParams
    port : Direction
        The input this route compute serves.

    Members
    -------
    arrive : ``In(1)``
        ``wavelet`` enters the router at the end of this cycle.
    wavelet : ``In(wavelet_layout)``
        The arriving wavelet.
    route : ``In(route_layout)``
        The route-table entry of its color.
    route_valid : ``In(1)``
        Its color has a route-table entry (``color < num_colors``).
    x, y : ``In(coord_bits)``
        This router's coordinates.
    outputs : ``Out(NUM_PORTS)``
        Outputs the wavelet goes to (bit ``d`` is :class:`Direction` ``d``).
    misroute : ``Out(1)``
        The wavelet arrives and goes nowhere (discarded and counted by the router).
    """

    def __init__(self, params, *, port, legal_outputs=LEGAL_OUTPUTS):
        self._params = params
        self._port = Direction(port)
        self._legal = legal_outputs[self._port]
        super().__init__({
            "arrive": In(1),
            "wavelet": In(wavelet_layout(params)),
            "route": In(route_layout()),
            "route_valid": In(1),
            "x": In(params.coord_bits),
            "y": In(params.coord_bits),
            "outputs": Out(NUM_PORTS),
            "misroute": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # Per addressed channel (requests, replies: the wavelet's ctrl bit): between a packet's
        # head and its last wavelet, and where that packet goes.
        in_packet = Array(Signal(name=f"in_packet_{a.name.lower()}") for a in Channel)
        packet_outputs = Array(Signal(NUM_PORTS, name=f"packet_outputs_{a.name.lower()}")
                               for a in Channel)
        kind = self.wavelet.ctrl

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

        # Only the turns the turn rule allows exist in the router: an addressed packet whose XY
        # step would break it (one that entered by a north or south edge port for another
        # column, or would turn back) is misrouted too. The table already refuses colored routes
        # that break it; the mask lets synthesis see which outputs an input never uses.
        legal = Const(sum(1 << int(d) for d in self._legal), NUM_PORTS)
        color_routed = self.route_valid & (self.route.accept == self._port)
        outputs = Signal(NUM_PORTS)
        with m.If(self.wavelet.addressed):
            with m.If(in_packet[kind]):
                m.d.comb += outputs.eq(packet_outputs[kind])
            with m.Else():
                m.d.comb += outputs.eq(Const(1, NUM_PORTS) << Value.cast(xy_output))
        with m.Elif(color_routed):
            m.d.comb += outputs.eq(self.route.outputs)
        m.d.comb += [
            self.outputs.eq(outputs & legal),
            self.misroute.eq(self.arrive & (self.outputs == 0)),
        ]

        with m.If(self.arrive & self.wavelet.addressed):
            m.d.sync += [
                in_packet[kind].eq(~self.wavelet.last),
                packet_outputs[kind].eq(self.outputs),
            ]
        return m


class RouteTable(wiring.Component):
    """The color routes of one router, with the turn rule enforced as they are written.

    A write whose outputs break the X-then-Y turn rule (:data:`~.routing.LEGAL_OUTPUTS`; or whose
    ``accept`` is not a port) is refused: the color is left unrouted, so its wavelets are
    misrouted (discarded and counted), and ``refused`` is set. Whatever is written, no route in
    the table can close a cycle of links, so freedom from deadlock holds by construction.

    Members
    -------
    config : ``In(stream.Signature(route_write_layout))``
        Writes; always ready, one per cycle, in effect for wavelets arriving from the next
        cycle.
    color : ``In(color_bits).array(NUM_PORTS)``
        The color each input looks up.
    route : ``Out(route_layout).array(NUM_PORTS)``
        Its entry (unrouted for a color beyond ``num_colors``).
    refused : ``Out(1)``
        Sticky: a write was refused since reset.

    ``turn_rule=False`` keeps every write (only to show what the rule prevents).
    """

    def __init__(self, params, *, turn_rule=True):
        self._params = params
        self._turn_rule = turn_rule
        super().__init__({
            "config": In(stream.Signature(route_write_layout(params))),
            "color": In(params.color_bits).array(NUM_PORTS),
            "route": Out(route_layout()).array(NUM_PORTS),
            "refused": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        # Entries in LUT RAM (one copy per reading input), and a flip-flop per color saying it
        # was written since reset (the memory itself has no reset).
        m.submodules.entries = entries = memory.Memory(shape=route_layout(), depth=p.num_colors,
                                                       init=[])
        addr_bits = max(1, (p.num_colors - 1).bit_length())
        written = Signal(p.num_colors)

        write = self.config.payload
        legal = Signal(NUM_PORTS)
        with m.Switch(write.route.accept):
            for accept, outputs in LEGAL_OUTPUTS.items():
                with m.Case(accept):
                    m.d.comb += legal.eq(sum(1 << int(d) for d in outputs))
        allowed = (write.route.outputs & ~legal) == 0 if self._turn_rule else Const(1, 1)
        wp = entries.write_port()
        m.d.comb += [
            self.config.ready.eq(1),
            wp.addr.eq(write.color[:addr_bits]),
            wp.data.eq(Mux(allowed, write.route.as_value(), 0)),
            wp.en.eq(self.config.valid & (write.color < p.num_colors)),
        ]
        with m.If(wp.en):
            m.d.sync += written.bit_select(write.color[:addr_bits], 1).eq(1)
            with m.If(~allowed):
                m.d.sync += self.refused.eq(1)

        for i in Direction:
            rp = entries.read_port(domain="comb")
            color = self.color[i]
            known = (color < p.num_colors) & written.bit_select(color[:addr_bits], 1)
            m.d.comb += [
                rp.addr.eq(color[:addr_bits]),
                self.route[i].eq(Mux(known, rp.data.as_value(), 0)),
            ]
        return m


class RoundRobinArbiter(wiring.Component):
    """Grants one of ``n`` requesters, round robin.

    The grant goes to the first requester at or after ``first``, the position after the last
    grant that was *advanced* past, so a requester that keeps requesting waits for at most
    ``n - 1`` other advanced grants. The search is a mask and two lowest-set-bit picks (carry
    chains on an FPGA), not an ``n``-way priority tree per start position.

    Members
    -------
    requests : ``In(n)``
    advance : ``In(1)``
        The current grant was used: the next search starts after it.
    grant : ``Out(n)``
        One-hot, or zero when nothing is requested.
    """

    def __init__(self, n):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"Requester count must be a positive integer, not {n!r}")
        self._n = n
        super().__init__({
            "requests": In(n),
            "advance": In(1),
            "grant": Out(n),
        })

    def elaborate(self, platform):
        m = Module()
        n = self._n
        first = Signal(range(n))    # where the search starts

        # Requesters at or after `first`; the lowest of them wins, else the lowest of all.
        at_or_after = Signal(n)
        # (The last requester is always at or after `first`: a constant, not a comparison.)
        m.d.comb += at_or_after.eq(Cat(*(first <= i for i in range(n - 1)), Const(1, 1)))
        upper = Signal(n)
        m.d.comb += upper.eq(self.requests & at_or_after)
        lowest = lambda v: (v & (~v + 1))[:n]   # noqa: E731 - the lowest set bit
        m.d.comb += self.grant.eq(Mux(upper.any(), lowest(upper), lowest(self.requests)))

        with m.If(self.advance):
            for i in range(n):
                with m.If(self.grant[i]):
                    m.d.sync += first.eq((i + 1) % n)
        return m


class PacketLock(wiring.Component):
    """Keeps addressed packets whole on a link that ``n`` sources share.

    Per addressed channel (:class:`~.link.Channel`: requests, replies), the source whose packet
    holds the link, from its head until its ``last`` wavelet has left; colored wavelets need no
    lock. The router has one per output, the tile's merge one for its RAMP input.

    Members
    -------
    sent : ``In(1)``
        ``wavelet`` leaves on the link this cycle.
    wavelet : ``In(wavelet_layout)``
    source : ``In(n)``
        One-hot: the source it came from.
    allowed : ``Out(n).array(len(Channel))``
        Entry ``a``, bit ``k``: source ``k`` may send an addressed wavelet of channel ``a`` now
        (no packet holds the channel, or the one that does is ``k``'s).
    """

    def __init__(self, params, n):
        super().__init__({
            "sent": In(1),
            "wavelet": In(wavelet_layout(params)),
            "source": In(n),
            "allowed": Out(n).array(len(Channel)),
        })

    def elaborate(self, platform):
        m = Module()
        for a in Channel:
            owner = Signal.like(self.source, name=f"owner_{a.name.lower()}")   # zero: free
            m.d.comb += self.allowed[a].eq(Mux(owner.any(), owner, (1 << len(owner)) - 1))
            with m.If(self.sent & self.wavelet.addressed & (self.wavelet.ctrl == a)):
                m.d.sync += owner.eq(Mux(self.wavelet.last, 0, self.source))
        return m


def _mux_tree(index, values):
    """``values[index]`` as a tree of 2:1 muxes on the bits of ``index`` (an index beyond the
    values gives one of them)."""
    if len(values) == 1:
        return values[0]
    top = len(index) - 1
    half = 1 << top
    low = _mux_tree(index[:top], values[:half])
    high = _mux_tree(index[:top], values[half:]) if len(values) > half else low
    return Mux(index[top], high, low)


class Crossbar(wiring.Component):
    """Moves each output's selected input wavelet to that output.

    Only the turns the turn rule allows are built (:data:`~.routing.FEEDS`: an output fed by
    two inputs is a 2:1 mux, not a 5:1 one).

    Members
    -------
    heads : ``In(wavelet_layout).array(NUM_PORTS)``
        Head wavelet of each input.
    select : ``In(3).array(NUM_PORTS)``
        For each output ``o``, the position in ``FEEDS[o]`` of the input it takes.
    outputs : ``Out(wavelet_layout).array(NUM_PORTS)``
    """

    def __init__(self, params, *, feeds=FEEDS):
        layout = wavelet_layout(params)
        self._feeds = feeds
        super().__init__({
            "heads": In(layout).array(NUM_PORTS),
            "select": In(3).array(NUM_PORTS),
            "outputs": Out(layout).array(NUM_PORTS),
        })

    def elaborate(self, platform):
        m = Module()
        for o in Direction:
            feeds = self._feeds[o]
            index = self.select[o][:max(1, (len(feeds) - 1).bit_length())]
            m.d.comb += self.outputs[o].eq(
                _mux_tree(index, [self.heads[i].as_value() for i in feeds]))
        return m


class Router(wiring.Component):
    """Five-port mesh router with virtual channels, static color routes and XY-routed packets.

    Parameters
    ----------
    params : FabricParams

    Members
    -------
    inp : ``In(link_signature).array(NUM_PORTS)``
        Arriving wavelets, indexed by :class:`Direction`; ``ready`` has a bit per channel
        (:mod:`~.link`), none set while reset is asserted.
    out : ``Out(link_signature).array(NUM_PORTS)``
        Leaving wavelets, indexed by :class:`Direction`; ``valid`` is raised only for a wavelet
        whose channel the receiver has ready, so every ``valid`` is a transfer.
    config : ``In(stream.Signature(route_write_layout))``
        Route-table writes (:class:`RouteTable`); always ready, one per cycle. A write affects
        the wavelets that arrive from the next cycle on, never those already inside.
    x, y : ``In(coord_bits)``
        This router's coordinates, used by addressed packets (the same design serves every
        tile).
    misroutes : ``Out(16)``
        Wavelets discarded because they go nowhere from here (a colored one with no route for
        its input, an addressed one whose step would break the turn rule; saturating). Each is
        stored as it arrives and dropped, and counted, when it reaches its channel's head.
    route_refused : ``Out(1)``
        Sticky: a route write broke the turn rule and was refused.

    ``turn_rule=False`` builds a router that takes any route, for the tests that show what the
    rule prevents; never in a fabric.
    """

    def __init__(self, params, *, turn_rule=True):
        self._params = params
        self._turn_rule = turn_rule
        super().__init__({
            "inp": In(link_signature(params)).array(NUM_PORTS),
            "out": Out(link_signature(params)).array(NUM_PORTS),
            "config": In(stream.Signature(route_write_layout(params))),
            "x": In(params.coord_bits),
            "y": In(params.coord_bits),
            "misroutes": Out(16),
            "route_refused": Out(1),
        })

    @property
    def params(self):
        return self._params

    def elaborate(self, platform):
        m = Module()
        p = self._params
        n_ch = num_channels(p)

        m.submodules.routes = table = RouteTable(p, turn_rule=self._turn_rule)
        wiring.connect(m, wiring.flipped(self.config), table.config)
        m.d.comb += self.route_refused.eq(table.refused)
        if self._turn_rule:
            legal_outputs, feeds = LEGAL_OUTPUTS, FEEDS
        else:       # every path, U-turns included
            legal_outputs = {i: frozenset(Direction) for i in Direction}
            feeds = {o: tuple(Direction) for o in Direction}
        m.submodules.crossbar = crossbar = Crossbar(p, feeds=feeds)

        # Arrival: each wavelet's outputs are decided as it enters, and stored with it.
        queues = []
        for i in Direction:
            link = self.inp[i]
            route = RouteCompute(p, port=i, legal_outputs=legal_outputs)
            queue = ChannelQueues(wavelet_layout(p), unsigned(NUM_PORTS),
                                  channels=n_ch, depth=p.queue_depth)
            m.submodules[f"route_{i.name.lower()}"] = route
            m.submodules[f"queue_{i.name.lower()}"] = queue
            arrive = transferred(p, link)
            m.d.comb += [
                # No wavelet is taken while reset is asserted.
                link.ready.eq(Mux(ResetSignal(), 0, queue.ready)),
                route.arrive.eq(arrive),
                route.wavelet.eq(link.payload),
                table.color[i].eq(link.payload.color),
                route.route.eq(table.route[i]),
                route.route_valid.eq(link.payload.color < p.num_colors),
                route.x.eq(self.x),
                route.y.eq(self.y),
                # Every arriving wavelet is stored, a misrouted one (no outputs) too: it is
                # dropped when it reaches its channel's head. So what a link delivers goes
                # straight into the queue, and the route lookup is only on the path to the
                # stored outputs, not to the write itself (between tiles, the longest path).
                queue.w_valid.eq(arrive),
                queue.w_channel.eq(channel_of(p, link.payload)),
                queue.w_payload.eq(link.payload),
                queue.w_tag.eq(route.outputs),
            ]
            queues.append(queue)

        # An addressed packet holds its output's addressed channel from head to last, so the
        # packet stays whole on the link; colored wavelets need no lock.
        locks = [PacketLock(p, NUM_PORTS) for o in Direction]
        for o in Direction:
            m.submodules[f"lock_{o.name.lower()}"] = locks[o]

        # Per input: each channel's head may go to output o now if it still needs o, the
        # receiver has its channel ready there, and no other input's packet holds it. The input
        # picks one such channel (round robin), and offers its head to the outputs it can take.
        offers = []         # offers[i][o]: input i's chosen head asks output o
        delivered = []      # delivered[i][o]: output o takes it this cycle
        misroutes = []      # misroutes[i]: input i drops a misrouted head this cycle
        for i in Direction:
            queue = queues[i]
            sent = [Signal(NUM_PORTS, name=f"sent_{i.name.lower()}_{c}") for c in range(n_ch)]
            can = []
            for c in range(n_ch):
                wants = Mux(queue.level[c] != 0, queue.head_tag[c] & ~sent[c], 0)
                open_outputs = []
                for o in Direction:
                    if o not in legal_outputs[i]:
                        open_outputs.append(Const(0, 1))    # a turn never built
                        continue
                    lock_ok = locks[o].allowed[c][i] if c < len(Channel) else 1
                    open_outputs.append(self.out[o].ready[c] & lock_ok)
                can_c = Signal(NUM_PORTS, name=f"can_{i.name.lower()}_{c}")
                m.d.comb += can_c.eq(wants & Cat(open_outputs))
                can.append(can_c)
            # A head with no outputs at all was misrouted: picking it drops it.
            misrouted = [(queue.level[c] != 0) & (queue.head_tag[c] == 0) for c in range(n_ch)]
            pick = RoundRobinArbiter(n_ch)
            m.submodules[f"channels_{i.name.lower()}"] = pick
            m.d.comb += pick.requests.eq(Cat(can_c.any() | misrouted_c
                                             for can_c, misrouted_c in zip(can, misrouted)))

            # The chosen channel's index, offer and outputs still needed: AND-OR over the
            # one-hot grant (a priority chain of n_ch muxes would be longer and slower).
            chosen = Signal(range(n_ch), name=f"chosen_{i.name.lower()}")
            offer = Signal(NUM_PORTS, name=f"offer_{i.name.lower()}")
            pending = Signal(NUM_PORTS, name=f"pending_{i.name.lower()}")
            taken = Signal(NUM_PORTS, name=f"delivered_{i.name.lower()}")
            drop = Signal(name=f"drop_{i.name.lower()}")
            m.d.comb += [
                drop.eq(_one_hot_or(pick.grant, misrouted)),
                chosen.eq(_one_hot_or(pick.grant, [Const(c, range(n_ch)) for c in range(n_ch)])),
                offer.eq(_one_hot_or(pick.grant, can)),
                pending.eq(_one_hot_or(pick.grant, [queue.head_tag[c] & ~sent[c]
                                                    for c in range(n_ch)])),
            ]
            # The head leaves once every output it needs has taken it (a multicast may take
            # several cycles; sent remembers which outputs already have it).
            done = taken.any() & ((pending & ~taken) == 0)
            m.d.comb += [
                queue.select.eq(chosen),
                queue.pop.eq(done | drop),
                pick.advance.eq(taken.any() | drop),
                crossbar.heads[i].eq(queue.head),
            ]
            for c in range(n_ch):
                with m.If(pick.grant[c] & taken.any()):
                    m.d.sync += sent[c].eq(Mux(done, 0, sent[c] | taken))
            offers.append(offer)
            delivered.append(taken)
            misroutes.append(drop)

        any_misroute = Signal(range(NUM_PORTS + 1))
        m.d.comb += any_misroute.eq(sum(misroutes))
        with m.If(self.misroutes + any_misroute < 2 ** 16):
            m.d.sync += self.misroutes.eq(self.misroutes + any_misroute)
        with m.Else():
            m.d.sync += self.misroutes.eq(2 ** 16 - 1)

        for o in Direction:
            sources = feeds[o]
            arbiter, link = RoundRobinArbiter(len(sources)), self.out[o]
            m.submodules[f"arbiter_{o.name.lower()}"] = arbiter
            m.d.comb += [
                arbiter.requests.eq(Cat(offers[i][o] for i in sources)),
                arbiter.advance.eq(1),
                crossbar.select[o].eq(_one_hot_or(arbiter.grant,
                                                  [Const(k, 3) for k in range(len(sources))])),
                link.valid.eq(arbiter.grant.any()),
                link.payload.eq(crossbar.outputs[o]),
            ]
            for k, i in enumerate(sources):
                m.d.comb += delivered[i][o].eq(arbiter.grant[k])
            m.d.comb += [
                locks[o].sent.eq(link.valid),
                locks[o].wavelet.eq(link.payload),
                locks[o].source.eq(Cat(delivered[i][o] for i in Direction)),
            ]
        return m
