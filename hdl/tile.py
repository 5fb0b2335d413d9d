"""A tile: the mesh router, the tile's SRAM, and what sits on the router's RAMP side.

RAMP side (``docs/tile.md``)::

    router.out[RAMP] --> RampDemux --requests--> buffer --> MemoryAgent --> buffer --replies--+
                                   \\--the rest, per channel--> core side                       |
    router.inp[RAMP] <-- PacketMerge <------------------------------- core out, agent replies --+

Addressed requests on RAMP go to the memory agent (write a run of words, read a run back to
the requester, write routes, report status; ``docs/edge-protocol.md``). Colored wavelets (and
replies addressed to the tile) go to the compute core's side, each channel with its own ready;
a network-only tile takes them all at once, and a :class:`WaveletCounter` on that link keeps the
count and checksum that the status request reports. The agent's replies and the core's output
share the router's RAMP input through a :class:`PacketMerge`, which keeps
every packet whole. A two-entry :class:`WaveletBuffer` on each side of the agent means every
bank access the agent makes is decided from registers: no combinational path runs from the
router's arbiters (or the core's queues behind them) into the banks' grants to the core.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .mesh import MESH_DIRECTIONS, link_name
from .link import Channel, all_channels, channel_of, link_signature, transferred
from .router import PacketLock, RoundRobinArbiter, Router
from .sram import MemoryPortSignature, TileMemory
from .wavelet import Direction, header_layout, route_write_layout, wavelet_layout, wavelet_stream

__all__ = ["AgentOp", "AgentStatus", "STATUS_MEANING", "STATUS_BITS", "agent_info_layout",
           "RampDemux", "PacketMerge", "WaveletBuffer", "WaveletCounter", "MemoryAgent",
           "Tile"]


class AgentOp(enum.Enum, shape=2):
    """What an addressed packet asks of the memory agent (the low bits of the header's info)."""
    WRITE  = 0  # addr, then words to write at addr, addr+1, ...
    READ   = 1  # addr, count, reply header: reply with status then count words
    ROUTE  = 2  # route-table writes (the router's config payload), one per wavelet
    STATUS = 3  # reply header: reply with status, colored count, colored checksum, misroutes


class AgentStatus(enum.IntFlag):
    """Sticky error flags of the memory agent (cleared only by reset), and a reply's status;
    :data:`STATUS_MEANING` says what each means."""
    WRITE_RANGE = 1
    READ_RANGE  = 2
    MALFORMED   = 4
    ROUTE_REFUSED = 8


# Width of a tile's (and the fabric's) sticky error flags.
STATUS_BITS = len(AgentStatus)


# What each flag says happened (also the manifest's description of the status port).
STATUS_MEANING = {
    AgentStatus.WRITE_RANGE: "a write addressed a word beyond the memory; that word was not "
                             "written",
    AgentStatus.READ_RANGE: "a read's run went beyond the memory; its reply carried no data",
    AgentStatus.MALFORMED: "a request ended before its fields, or carried words after them",
    AgentStatus.ROUTE_REFUSED: "a route write broke the turn rule; the router refused it and "
                               "left the color unrouted",
}


def agent_info_layout(params):
    """The header's ``info`` field as the memory agent reads it."""
    info_bits = params.data_width - 2 * params.coord_bits
    return data.StructLayout({"op": AgentOp, "reserved": info_bits - 2})


class RampDemux(wiring.Component):
    """The tile side of the router's RAMP output: requests to the memory agent, the rest (colored
    wavelets per channel, and replies addressed to this tile) to the core's side.

    Each channel keeps its own ready: the agent's for requests, the core side's for the others,
    so a color the core is not taking never stops another color or the agent.

    Members
    -------
    inp : ``In(link_signature)``
        From ``router.out[RAMP]``.
    agent : ``Out(wavelet_stream)``
        Requests (:attr:`~.link.Channel.REQUEST`).
    core : ``Out(link_signature)``
        Everything else; its ``ready`` bit for the request channel is not used.
    """

    def __init__(self, params):
        self._params = params
        super().__init__({
            "inp": In(link_signature(params)),
            "agent": Out(wavelet_stream(params)),
            "core": Out(link_signature(params)),
        })

    def elaborate(self, platform):
        m = Module()
        request = channel_of(self._params, self.inp.payload) == Channel.REQUEST
        m.d.comb += [
            self.agent.payload.eq(self.inp.payload),
            self.core.payload.eq(self.inp.payload),
            self.agent.valid.eq(self.inp.valid & request),
            self.core.valid.eq(self.inp.valid & ~request),
            self.inp.ready.eq(Cat(self.agent.ready, self.core.ready[1:])),
        ]
        return m


class PacketMerge(wiring.Component):
    """Merges wavelet streams into one link with every addressed packet kept whole.

    Each cycle one source whose wavelet's channel is ready is taken (round robin). Once a source
    sends an addressed packet's head on a channel, only it may send on that channel until the
    packet's ``last`` wavelet: packets stay contiguous by construction, while other channels
    (colors, the other addressed kind) pass freely, so a stalled packet never stops them.

    Parameters
    ----------
    params : FabricParams
    n : int
        Sources.

    Members
    -------
    sources : ``In(wavelet_stream).array(n)``
        Each a stream (valid held with its payload until taken; ``ready`` depends on ``valid``).
    out : ``Out(link_signature)``
        ``valid`` only for a wavelet whose channel is ready: every ``valid`` is a transfer.
    """

    def __init__(self, params, n):
        self._params = params
        self._n = n
        super().__init__({
            "sources": In(wavelet_stream(params)).array(n),
            "out": Out(link_signature(params)),
        })

    def elaborate(self, platform):
        m = Module()
        p, n = self._params, self._n
        m.submodules.lock = lock = PacketLock(p, n)
        m.submodules.arbiter = arbiter = RoundRobinArbiter(n)
        eligible = []
        for k in range(n):
            w = self.sources[k].payload
            channel = channel_of(p, w)
            lock_ok = Mux(w.addressed, Array(lock.allowed[a][k] for a in Channel)[w.ctrl], 1)
            eligible.append(self.sources[k].valid & self.out.ready.bit_select(channel, 1)
                            & lock_ok)
        picked = Signal(wavelet_layout(p))
        for k in range(n):
            with m.If(arbiter.grant[k]):
                m.d.comb += picked.eq(self.sources[k].payload)
            m.d.comb += self.sources[k].ready.eq(arbiter.grant[k])
        m.d.comb += [
            arbiter.requests.eq(Cat(eligible)),
            arbiter.advance.eq(1),
            self.out.valid.eq(arbiter.grant.any()),
            self.out.payload.eq(picked),
            lock.sent.eq(self.out.valid),
            lock.wavelet.eq(picked),
            lock.source.eq(arbiter.grant),
        ]
        return m


class WaveletBuffer(wiring.Component):
    """A two-entry first-in first-out buffer on a wavelet stream, at one wavelet per cycle.

    ``inp.ready`` ("not full") and ``out.valid`` ("not empty") are registers and ``out.payload``
    is read from a small LUT RAM at a registered address, so no combinational path crosses the
    buffer in either direction. A wavelet taken in cycle ``t`` is offered in cycle ``t + 1``.
    """

    DEPTH = 2   # two entries keep one wavelet per cycle with a registered ready

    def __init__(self, params):
        self._params = params
        super().__init__({
            "inp": In(wavelet_stream(params)),
            "out": Out(wavelet_stream(params)),
        })

    def elaborate(self, platform):
        m = Module()
        width = len(self.inp.payload.as_value())
        m.submodules.queue = queue = fifo.SyncFIFO(width=width, depth=self.DEPTH)
        m.d.comb += [
            queue.w_data.eq(self.inp.payload),
            queue.w_en.eq(self.inp.valid),
            self.inp.ready.eq(queue.w_rdy),
            self.out.payload.eq(queue.r_data),
            self.out.valid.eq(queue.r_rdy),
            queue.r_en.eq(self.out.ready),
        ]
        return m


class WaveletCounter(wiring.Component):
    """A debug tap on a link: counts the wavelets it transfers and sums their data (mod
    ``2**data_width``), without taking part in the handshake.

    On the core side of a tile it lets the host check, through a status request, what reached
    the core side (in a network-only tile, every such wavelet, taken at once). Its figures lag
    the link by a cycle.
    """

    def __init__(self, params):
        self._params = params
        super().__init__({
            "link": In(link_signature(params)),
            "count": Out(params.data_width),
            "checksum": Out(params.data_width),
        })

    def elaborate(self, platform):
        m = Module()
        # The transfer is registered first: the tap adds nothing to the link's paths (the
        # router's arbiters decide it late in the cycle), and its figures lag by a cycle.
        taken = Signal()
        data_ = Signal(self._params.data_width)
        m.d.sync += [taken.eq(transferred(self._params, self.link)),
                     data_.eq(self.link.payload.data)]
        with m.If(taken):
            m.d.sync += [
                self.count.eq(self.count + 1),
                self.checksum.eq(self.checksum + data_),
            ]
        return m


class MemoryAgent(wiring.Component):
    """Serves addressed requests on RAMP: writes, reads with a reply, route writes, status.

    One request at a time, in arrival order. Writes take one word per cycle. A read's reply
    streams one word per cycle while the network takes it: the agent issues the next SRAM read
    in the cycle the previous word leaves, and a one-word skid register catches a word that
    returns while the network stalls. Out-of-range words are refused: a write skips them, a read
    replies with an error status and no data, and both set a sticky flag (``status``).

    Members
    -------
    inp : ``In(wavelet_stream)``
        Addressed requests (from :class:`RampDemux`).
    out : ``Out(wavelet_stream)``
        Replies (``ctrl`` set: the reply channel), to the router's RAMP input; each a contiguous
        addressed packet.
    memory : ``Out(MemoryPortSignature(...))``
        To :class:`TileMemory`'s agent port (read data one cycle after ``read``).
    config : ``Out(stream.Signature(route_write_layout))``
        Route-table writes to the router.
    colored_count, colored_checksum, misroutes : ``In``
        Reported by a status request.
    route_refused : ``In(1)``
        The router refused a route write (kept as the sticky ``ROUTE_REFUSED`` flag).
    status : ``Out(STATUS_BITS)``
        Sticky error flags, the bits of :class:`AgentStatus`.
    """

    def __init__(self, params, *, core=False):
        self._params = params
        self._core = core
        self._total_words = params.sram_bytes // params.word_bytes
        w = params.data_width
        members = {}
        if core:
            from .core.core import CORE_WINDOW_WORDS
            members["core"] = Out(MemoryPortSignature(data_width=w,
                                                      total_words=CORE_WINDOW_WORDS))
        super().__init__({
            **members,
            "inp": In(wavelet_stream(params)),
            "out": Out(wavelet_stream(params)),
            "memory": Out(MemoryPortSignature(data_width=w, total_words=self._total_words)),
            "config": Out(stream.Signature(route_write_layout(params))),
            "colored_count": In(w),
            "colored_checksum": In(w),
            "misroutes": In(16),
            "route_refused": In(1),
            "status": Out(STATUS_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        w = p.data_width
        total = self._total_words

        word = self.inp.payload
        take = self.inp.valid & self.inp.ready
        info = agent_info_layout(p)(header_layout(p)(word.data).info)

        op = Signal(AgentOp)
        addr = Signal(w + 1)        # next word address; one bit wider so a run cannot wrap
        count = Signal(w + 1)       # words still to read
        reply_header = Signal(w)
        reply_status = Signal(3)
        # Reply words after the header, chosen by the state machine.
        reply_word = Signal(w)
        reply_last = Signal()

        # Read streaming: a read issued in cycle t has its word on rdata in cycle t + 1.
        in_flight = Signal()
        skid_valid = Signal()
        skid_data = Signal(w)

        # Where the address is: the SRAM, or (with a core) its program memory and registers.
        in_sram = addr < total
        in_core = Const(0)
        if self._core:
            from .core.core import core_window
            from .core.isa import PROGRAM_BASE
            windows = core_window(p)
            in_core = Cat((addr >= lo) & (addr < hi) for lo, hi in windows).any()
            # A read's run stays inside one region.
            run_fits = Cat((addr >= lo) & (addr + count <= hi) for lo, hi in windows).any()
            m.d.comb += [self.core.addr.eq((addr - PROGRAM_BASE)[:len(self.core.addr)]),
                         self.core.wdata.eq(word.data)]
        in_range = in_sram | in_core
        read_issue = Signal()       # a read of the word at addr, this cycle
        read_from_core = Signal()   # ... the word arriving now came from the core window
        with m.If(read_issue):
            m.d.sync += read_from_core.eq(in_core)
        rdata = self.memory.rdata
        if self._core:
            rdata = Mux(read_from_core, self.core.rdata, self.memory.rdata)
            m.d.comb += self.core.read.eq(read_issue & in_core)
        m.d.comb += [
            self.memory.read.eq(read_issue & in_sram),
            self.memory.addr.eq(addr[:len(self.memory.addr)]),
            self.memory.wdata.eq(word.data),
            self.config.payload.eq(word.data[:len(self.config.payload.as_value())]),
        ]

        def flag(bits):
            m.d.sync += self.status.eq(self.status | bits)

        with m.If(self.route_refused):
            flag(AgentStatus.ROUTE_REFUSED)
        # Every wavelet the agent sends is a reply.
        m.d.comb += self.out.payload.ctrl.eq(1)

        with m.FSM(name="agent"):
            with m.State("REQUEST"):
                # The head wavelet: its header says what is asked.
                m.d.comb += self.inp.ready.eq(1)
                with m.If(take):
                    m.d.sync += op.eq(info.op)
                    with m.If(word.last):
                        # Only a route request may be empty.
                        with m.If(info.op != AgentOp.ROUTE):
                            flag(AgentStatus.MALFORMED)
                    with m.Else():
                        with m.Switch(info.op):
                            with m.Case(AgentOp.WRITE, AgentOp.READ):
                                m.next = "ADDR"
                            with m.Case(AgentOp.ROUTE):
                                m.next = "ROUTE"
                            with m.Case(AgentOp.STATUS):
                                m.next = "REPLY_TO"

            with m.State("ADDR"):
                m.d.comb += self.inp.ready.eq(1)
                with m.If(take):
                    m.d.sync += addr.eq(word.data)
                    with m.If(op == AgentOp.WRITE):
                        with m.If(~word.last):
                            m.next = "WRITE"
                        with m.Else():
                            m.next = "REQUEST"
                    with m.Else():
                        with m.If(word.last):
                            flag(AgentStatus.MALFORMED)
                            m.next = "REQUEST"
                        with m.Else():
                            m.next = "COUNT"

            with m.State("WRITE"):
                m.d.comb += [
                    self.inp.ready.eq(1),
                    self.memory.write.eq(take & in_sram),
                ]
                if self._core:
                    m.d.comb += self.core.write.eq(take & in_core)
                with m.If(take):
                    m.d.sync += addr.eq(addr + 1)
                    with m.If(~in_range):
                        flag(AgentStatus.WRITE_RANGE)
                    with m.If(word.last):
                        m.next = "REQUEST"

            with m.State("ROUTE"):
                m.d.comb += [
                    self.config.valid.eq(self.inp.valid),
                    self.inp.ready.eq(self.config.ready),
                ]
                with m.If(take & word.last):
                    m.next = "REQUEST"

            with m.State("COUNT"):
                m.d.comb += self.inp.ready.eq(1)
                with m.If(take):
                    m.d.sync += count.eq(word.data)
                    with m.If(word.last):
                        flag(AgentStatus.MALFORMED)
                        m.next = "REQUEST"
                    with m.Else():
                        m.next = "REPLY_TO"

            with m.State("REPLY_TO"):
                # The reply's header word, as the requester wrote it.
                m.d.comb += self.inp.ready.eq(1)
                with m.If(take):
                    m.d.sync += reply_header.eq(word.data)
                    with m.If(op == AgentOp.READ):
                        with m.If((addr + count > total) & ~run_fits if self._core
                                  else addr + count > total):
                            m.d.sync += reply_status.eq(AgentStatus.READ_RANGE)
                            flag(AgentStatus.READ_RANGE)
                        with m.Else():
                            m.d.sync += reply_status.eq(0)
                    with m.If(~word.last):
                        flag(AgentStatus.MALFORMED)
                        m.next = "DISCARD_THEN_REPLY"
                    with m.Else():
                        m.next = "REPLY_HEAD"

            with m.State("DISCARD_THEN_REPLY"):
                # Words beyond a request's fields are dropped (flagged above); then reply.
                m.d.comb += self.inp.ready.eq(1)
                with m.If(take & word.last):
                    m.next = "REPLY_HEAD"

            with m.State("REPLY_HEAD"):
                m.d.comb += [
                    self.out.valid.eq(1),
                    self.out.payload.data.eq(reply_header),
                    self.out.payload.addressed.eq(1),
                ]
                with m.If(self.out.ready):
                    with m.If(op == AgentOp.READ):
                        m.next = "READ_STATUS"
                    with m.Else():
                        m.next = "STATUS_FLAGS"

            with m.State("READ_STATUS"):
                last = (reply_status != 0) | (count == 0)
                m.d.comb += [
                    self.out.valid.eq(1),
                    self.out.payload.data.eq(reply_status),
                    self.out.payload.addressed.eq(1),
                    self.out.payload.last.eq(last),
                ]
                with m.If(self.out.ready):
                    with m.If(last):
                        m.next = "REQUEST"
                    with m.Else():
                        # The first word's read goes out as the status leaves, so the
                        # word follows it in the next cycle.
                        m.d.comb += read_issue.eq(1)
                        m.d.sync += [in_flight.eq(1), addr.eq(addr + 1), count.eq(count - 1)]
                        m.next = "READ_DATA"

            with m.State("READ_DATA"):
                # Issue the next read when its word will have a place: nothing is held (in
                # flight or in the skid), or the output takes the held word this cycle. (The
                # skid fills only when no read is issued, so both are never held at once.)
                issue = (count != 0) & (~(in_flight | skid_valid) | self.out.ready)
                m.d.comb += [
                    read_issue.eq(issue),
                    self.out.valid.eq(skid_valid | in_flight),
                    self.out.payload.data.eq(Mux(skid_valid, skid_data, rdata)),
                    self.out.payload.addressed.eq(1),
                    # The last word: nothing left to issue and no other word held.
                    self.out.payload.last.eq((count == 0) & ~(skid_valid & in_flight)),
                ]
                m.d.sync += in_flight.eq(issue)
                with m.If(issue):
                    m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                with m.If(skid_valid):
                    with m.If(self.out.ready):
                        m.d.sync += skid_valid.eq(0)
                with m.Elif(in_flight & ~self.out.ready):
                    m.d.sync += [skid_valid.eq(1), skid_data.eq(rdata)]
                with m.If(self.out.valid & self.out.ready & self.out.payload.last):
                    m.next = "REQUEST"

            with m.State("STATUS_FLAGS"):
                m.d.comb += reply_word.eq(self.status)
                self._reply(m, reply_word, reply_last, next_state="STATUS_COUNT")
            with m.State("STATUS_COUNT"):
                m.d.comb += reply_word.eq(self.colored_count)
                self._reply(m, reply_word, reply_last, next_state="STATUS_CHECKSUM")
            with m.State("STATUS_CHECKSUM"):
                m.d.comb += reply_word.eq(self.colored_checksum)
                self._reply(m, reply_word, reply_last, next_state="STATUS_MISROUTES")
            with m.State("STATUS_MISROUTES"):
                m.d.comb += [reply_word.eq(self.misroutes), reply_last.eq(1)]
                self._reply(m, reply_word, reply_last, next_state="REQUEST")
        return m

    def _reply(self, m, word, last, *, next_state):
        m.d.comb += [
            self.out.valid.eq(1),
            self.out.payload.data.eq(word),
            self.out.payload.addressed.eq(1),
            self.out.payload.last.eq(last),
        ]
        with m.If(self.out.ready):
            m.next = next_state


class Tile(wiring.Component):
    """Router + SRAM + memory agent + the RAMP side; the unit a fabric repeats.

    Members
    -------
    ``north_in``, ``east_in``, ``south_in``, ``west_in`` : ``In(link_signature)``
    ``north_out``, ``east_out``, ``south_out``, ``west_out`` : ``Out(link_signature)``
        The links to the neighbours (or, at the fabric's boundary, its ports).
    x, y : ``In(coord_bits)``
        This tile's coordinates: the same design serves every tile.
    status : ``Out(STATUS_BITS)``
        The memory agent's sticky error flags (:class:`AgentStatus`).

    Parameters
    ----------
    params : FabricParams
    core : bool
        With the compute core (``hdl/core/``, ``docs/isa.md``): it takes the colored
        wavelets for the tile, sends into the merge, shares the banks, and the agent reaches its
        program memory and registers. Without it (a network-only tile) the core side takes
        every wavelet at once. A core needs ``data_width = 32``.
    """

    def __init__(self, params, *, core=False):
        self._params = params
        self._core = core
        if core and params.data_width != 32:
            from .params import ParamError
            raise ParamError(f"data_width must be 32 for a tile with a core (its words and "
                             f"instructions are 32 bits), not {params.data_width}; a "
                             f"network-only tile has no such rule (--no-core)")
        members = {}
        for d in MESH_DIRECTIONS:
            members[link_name(d, "in")] = In(link_signature(params))
            members[link_name(d, "out")] = Out(link_signature(params))
        members["x"] = In(params.coord_bits)
        members["y"] = In(params.coord_bits)
        members["status"] = Out(STATUS_BITS)
        super().__init__(members)

    @property
    def params(self):
        return self._params

    def link(self, direction, kind):
        """The ``kind`` (``"in"`` or ``"out"``) link of mesh ``direction``."""
        return getattr(self, link_name(direction, kind))

    def elaborate(self, platform):
        m = Module()
        p = self._params
        m.submodules.router = router = Router(p)
        m.submodules.memory = memory = TileMemory(p)
        m.submodules.ramp_out = demux = RampDemux(p)
        m.submodules.agent = agent = MemoryAgent(p, core=self._core)
        m.submodules.requests = requests = WaveletBuffer(p)
        m.submodules.replies = replies = WaveletBuffer(p)
        m.submodules.ramp_in = merge = PacketMerge(p, 2)
        m.submodules.core_tap = tap = WaveletCounter(p)

        m.d.comb += [router.x.eq(self.x), router.y.eq(self.y)]
        for d in MESH_DIRECTIONS:
            wiring.connect(m, wiring.flipped(self.link(d, "in")), router.inp[d])
            wiring.connect(m, router.out[d], wiring.flipped(self.link(d, "out")))

        wiring.connect(m, router.out[Direction.RAMP], demux.inp)
        # The agent between its buffers: its bank accesses come from registers.
        wiring.connect(m, demux.agent, requests.inp)
        wiring.connect(m, requests.out, agent.inp)
        wiring.connect(m, agent.out, replies.inp)
        wiring.connect(m, replies.out, merge.sources[0])
        wiring.connect(m, merge.out, router.inp[Direction.RAMP])
        wiring.connect(m, agent.config, router.config)
        wiring.connect(m, agent.memory, memory.agent)
        if self._core:
            from .core.core import Core
            m.submodules.core = core = Core(p)
            wiring.connect(m, demux.core, core.inp)
            wiring.connect(m, core.out, merge.sources[1])
            wiring.connect(m, agent.core, core.host)
            for k in range(memory.banks):
                wiring.connect(m, core.banks[k], memory.lanes[k])
            m.d.comb += [core.x.eq(self.x), core.y.eq(self.y)]
        else:
            # merge.sources[1] is the core's output: without a core it sends nothing, and the
            # core side takes everything at once.
            m.d.comb += demux.core.ready.eq(all_channels(p))
        # The core side's wavelets, counted.
        m.d.comb += [
            tap.link.valid.eq(demux.core.valid),
            tap.link.payload.eq(demux.core.payload),
            tap.link.ready.eq(demux.core.ready),
            agent.colored_count.eq(tap.count),
            agent.colored_checksum.eq(tap.checksum),
            agent.misroutes.eq(router.misroutes),
            agent.route_refused.eq(router.route_refused),
            self.status.eq(agent.status),
        ]
        return m
