"""A traffic harness around a mesh of :class:`~tessera.hdl.router.Router`, for network benchmarks.

Like :mod:`tessera.sim.router_harness`, traffic generation and measurement are hardware, so a
testbench only sets a few quasi-static inputs (rate, pattern, window control), lets the clock
run for ``N`` cycles and reads counters: no Python runs per cycle.

Mesh. ``rows x cols`` routers wired NORTH<->SOUTH and EAST<->WEST (as in
:class:`~tessera.sim.mesh_model.RouterMesh`); edge outputs always ready, edge inputs idle. Each
router's RAMP ports carry a source and a sink instead of a tile.

Sources (one per node, open loop). Every cycle a node's xorshift32 generator draws 16 bits; if
they are below ``rate`` (a Bernoulli process: ``rate / 65536`` packets per node per cycle), or
``force`` is high, and the node's bit of ``node_enable`` is set, a packet is *generated*: the
current cycle stamp is pushed into the node's source queue (``source_depth`` entries). A packet
generated while the queue is full is *dropped* (and counted), so offered load is what the
Bernoulli process made and accepted load what the network took. The queue's head is sent as an
addressed packet of ``packet_length`` wavelets, X then Y, to a destination chosen per packet by
``pattern``:

- ``UNIFORM`` (0): uniform over all nodes (itself included), from a second xorshift32 per node
  (``x = (r * cols) >> 8`` of one byte: exact when ``cols`` and ``rows`` are powers of two);
- ``TRANSPOSE`` (1): ``(x, y) -> (y, x)`` (square meshes; diagonal nodes send to themselves);
- ``FIXED`` (2): every node sends to ``(fixed_x, fixed_y)``;
- ``COLORS`` (3): two colors share every link of a row, one of them congested. Instead of
  packets, the west-end node of each row sends colored wavelets of :data:`FREE_COLOR` and
  :data:`THROTTLED_COLOR`, each at ``rate`` (a source queue each), east along its row to the
  east-end node's RAMP (the harness writes these routes into every router after reset). The
  east-end sink takes the throttled color only in cycles where its own xorshift32 draw is below
  ``throttle`` (``throttle / 65536`` of the cycles), the free color always. With a channel per
  color the free color should not notice; sharing a channel, it waits behind the throttled one.

The head's header carries the destination and, in ``info``, the generation cycle stamp
(``stamp_bits`` = ``min(16, data_width - 2 * coord_bits)`` bits; latencies are modulo
``2**stamp_bits``); body wavelets carry the stamp in their data.

Sinks. Every RAMP output is always ready (but for the throttled color of ``COLORS``). When a
packet's last wavelet leaves the destination router, latency = that cycle minus the generation
stamp: it includes time in the source queue. (A colored wavelet is a packet of one; its data
is the stamp.)

Counters (``counter_width`` bits, per node, zeroed by ``clear``, counting only while
``measure`` is high): ``generated`` and ``dropped`` packets at the source, ``injected`` packets
(tail accepted by the router), ``received`` packets at the sink, ``latency_sum``,
``latency_max``, ``misdelivered`` heads (header coordinates not the sink's own; addressed
packets only), ``received_throttled`` (wavelets of the throttled color), and a latency
histogram (a small memory per node, read one bucket at a time through ``hist_addr``/``hist``,
never cleared) of ``hist_buckets`` buckets of width ``2**hist_shift`` cycles, the last one
open-ended. ``cycles`` counts measured cycles.
"""

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import enum, fifo, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hdl.link import all_channels, transferred, wavelet_channel
from ..hdl.router import Router
from ..hdl.mesh import MESH_DIRECTIONS, OPPOSITE, step
from ..hdl.wavelet import Direction

__all__ = ["NetworkHarness", "TrafficPattern", "node_seed", "router_verilog", "RATE_ONE",
           "FREE_COLOR", "THROTTLED_COLOR"]

# ``rate`` that makes every cycle generate a packet (rate is compared against 16 random bits).
RATE_ONE = 1 << 16

# The two colors of :attr:`TrafficPattern.COLORS` (in different channels unless the parameters
# give the colors a single shared one).
FREE_COLOR = 1
THROTTLED_COLOR = 2

class TrafficPattern(enum.Enum, shape=2):
    """How a source picks each packet's destination."""
    UNIFORM = 0
    TRANSPOSE = 1
    FIXED = 2
    COLORS = 3


def node_seed(index, salt):
    """A distinct non-zero 32-bit xorshift seed for node ``index`` (splitmix32-style hash)."""
    z = (index * 0x9E3779B9 + salt * 0x85EBCA6B + 0x6A09E667) & 0xFFFFFFFF
    z = ((z ^ (z >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    z = ((z ^ (z >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    z ^= z >> 16
    return z or 0x2545F491


def _xorshift32(state):
    """The next state of Marsaglia's xorshift32 generator (13, 17, 5), as an expression."""
    s1 = state ^ (state << 13)[:32]
    s2 = s1 ^ (s1 >> 17)
    return s2 ^ (s2 << 5)[:32]


def router_verilog(params, name):
    """Verilog of one :class:`Router` as module ``name``, for ``router_module=name``."""
    from ..hdl.verilog_text import convert
    return convert(Router(params), name=name)


class NetworkHarness(wiring.Component):
    """A ``rows x cols`` mesh of routers with a traffic source and a measuring sink per node.

    Parameters
    ----------
    params : FabricParams
        Router parameters; ``params.rows`` and ``params.cols`` give the mesh size.
    packet_length : int
        Wavelets per addressed packet (head included), at least 1.
    source_depth : int
        Packets each source queue holds; a power of two of at least 2.
    hist_buckets : int
        Latency histogram buckets per node; a power of two from 4 to 256.
    counter_width : int
        Bits of every counter.
    router_module : str or None
        ``None``: the routers are Amaranth submodules (any simulator). A module name: each
        router is an ``Instance`` of that Verilog module, which the caller supplies (the
        router emitted once with :func:`router_verilog`); much faster to convert and to build
        for Verilator, not simulable by Amaranth.

    Members
    -------
    rate : ``In(17)``
        Packets per node per cycle, times 65536 (:data:`RATE_ONE` is one per cycle).
    pattern : ``In(TrafficPattern)``
    fixed_x, fixed_y : ``In(coord_bits)``
        Destination of :attr:`TrafficPattern.FIXED`.
    node_enable : ``In(rows * cols)``
        Bit ``k`` (node ``k = y * cols + x``): the node's source generates packets.
    force : ``In(1)``
        Enabled sources generate a packet this cycle whatever ``rate`` says.
    throttle : ``In(17)``
        :attr:`TrafficPattern.COLORS`: share of cycles, times 65536, in which an east-end sink
        takes the throttled color.
    measure : ``In(1)``
        Counters count while high.
    clear : ``In(1)``
        Zero every counter at the end of this cycle (traffic keeps flowing).
    hist_shift : ``In(4)``
        Histogram bucket width is ``2**hist_shift`` cycles.
    cycles : ``Out(counter_width)``
        Cycles with ``measure`` high since ``clear``.
    generated, dropped, injected, received, latency_sum, latency_max, misdelivered, \
    received_throttled :
        ``Out(counter_width).array(rows * cols)``, per node as described above.
    hist_addr : ``In(range(hist_buckets))``
        Histogram bucket shown on ``hist``.
    hist : ``Out(counter_width).array(rows * cols)``
        Each node's count in bucket ``hist_addr``. Histograms are not cleared by ``clear``:
        read them before and after a window and subtract (modulo ``2**counter_width``).
    backlog : ``Out(1)``
        Some source queue holds a packet or some packet is in flight (not yet delivered).
    """

    def __init__(self, params, *, packet_length=1, source_depth=16, hist_buckets=32,
                 counter_width=32, router_module=None):
        try:
            for name, value, low in (("Packet length", packet_length, 1),
                                     ("Source queue depth", source_depth, 2),
                                     ("Histogram bucket count", hist_buckets, 4)):
                if not isinstance(value, int) or isinstance(value, bool) or value < low:
                    raise ValueError(f"{name} must be an integer of at least {low}, "
                                     f"not {value!r}")
            for name, value in (("Source queue depth", source_depth),
                                ("Histogram bucket count", hist_buckets)):
                if value & (value - 1):
                    raise ValueError(f"{name} must be a power of two, not {value}")
            if hist_buckets > 256:
                raise ValueError(f"Histogram bucket count must be at most 256, not {hist_buckets}")
            if not isinstance(counter_width, int) or not 8 <= counter_width <= 64:
                raise ValueError(f"Counter width must be an integer from 8 to 64, "
                                 f"not {counter_width!r}")
        except ValueError:
            self._MustUse__silence = True  # never built: no 'created but never used'
            raise
        self._params = params
        self._packet_length = packet_length
        self._source_depth = source_depth
        self._hist_buckets = hist_buckets
        self._counter_width = counter_width
        self._router_module = router_module
        self.nodes = [(x, y) for y in range(params.rows) for x in range(params.cols)]
        n, w = len(self.nodes), counter_width
        super().__init__({
            "rate": In(17),
            "pattern": In(TrafficPattern),
            "fixed_x": In(params.coord_bits),
            "fixed_y": In(params.coord_bits),
            "node_enable": In(n),
            "force": In(1),
            "throttle": In(17),
            "measure": In(1),
            "clear": In(1),
            "hist_shift": In(4),
            "cycles": Out(w),
            "generated": Out(w).array(n),
            "dropped": Out(w).array(n),
            "injected": Out(w).array(n),
            "received": Out(w).array(n),
            "latency_sum": Out(w).array(n),
            "latency_max": Out(w).array(n),
            "misdelivered": Out(w).array(n),
            "received_throttled": Out(w).array(n),
            "hist_addr": In(range(hist_buckets)),
            "hist": Out(w).array(n),
            "backlog": Out(1),
        })

    @property
    def params(self):
        return self._params

    @property
    def packet_length(self):
        return self._packet_length

    @property
    def source_depth(self):
        return self._source_depth

    @property
    def hist_buckets(self):
        return self._hist_buckets

    @property
    def stamp_bits(self):
        p = self._params
        return min(16, p.data_width - 2 * p.coord_bits)

    def _count(self, m, counter, event, amount=1):
        """``counter += amount`` when ``event`` in a measured cycle; zeroed by ``clear``."""
        with m.If(self.clear):
            m.d.sync += counter.eq(0)
        with m.Elif(self.measure & event):
            m.d.sync += counter.eq(counter + amount)

    def elaborate(self, platform):
        m = Module()
        p = self._params
        cb, sb, length = p.coord_bits, self.stamp_bits, self._packet_length
        rows, cols = p.rows, p.cols

        now = Signal(sb)  # free-running cycle stamp
        m.d.sync += now.eq(now + 1)
        with m.If(self.clear):
            m.d.sync += self.cycles.eq(0)
        with m.Elif(self.measure):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        routers = {}
        for (x, y) in self.nodes:
            routers[(x, y)] = router = Router(p)
            if self._router_module is None:
                m.submodules[f"router_{x}_{y}"] = router
            else:
                # The Router object only lends its interface signals to the instance.
                router._MustUse__silence = True
                ports = {("i_" if member.flow == In else "o_") + "__".join(map(str, path)): value
                         for path, member, value in router.signature.flatten(router)}
                m.submodules[f"router_{x}_{y}"] = Instance(
                    self._router_module, i_clk=ClockSignal(), i_rst=ResetSignal(), **ports)
            m.d.comb += [router.x.eq(x), router.y.eq(y)]
        for (x, y), router in routers.items():
            for d in MESH_DIRECTIONS:
                other = routers.get(step((x, y), d))
                if other is not None:
                    wiring.connect(m, router.out[d], other.inp[OPPOSITE[d]])
                else:
                    m.d.comb += router.out[d].ready.eq(all_channels(p))

        # The routes of the COLORS pattern, written into every router in the first two cycles
        # after reset: both colors east along each row, into the east-end node's RAMP.
        colors = Signal()
        m.d.comb += colors.eq(self.pattern == TrafficPattern.COLORS)
        free_channel = wavelet_channel(p, addressed=False, color=FREE_COLOR)
        throttled_channel = wavelet_channel(p, addressed=False, color=THROTTLED_COLOR)
        for (x, y), router in routers.items():
            if THROTTLED_COLOR >= p.num_colors:
                break       # too few colors for the pattern (network_plan refuses it)
            written = Signal(range(3), name=f"routes_written_{x}_{y}")
            with m.If(written != 2):
                m.d.comb += [
                    router.config.valid.eq(1),
                    router.config.payload.color.eq(Mux(written == 0, FREE_COLOR,
                                                       THROTTLED_COLOR)),
                    router.config.payload.route.accept.eq(
                        Direction.RAMP if x == 0 else Direction.WEST),
                    router.config.payload.route.outputs.eq(
                        1 << (Direction.EAST if x < cols - 1 else Direction.RAMP)),
                ]
                m.d.sync += written.eq(written + 1)

        busy = []
        for k, (x, y) in enumerate(self.nodes):
            router = routers[(x, y)]
            # -- source -------------------------------------------------------------------
            m.submodules[f"source_queue_{x}_{y}"] = queue = \
                fifo.SyncFIFO(width=sb, depth=self._source_depth)
            draw = Signal(32, init=node_seed(k, 1), name=f"draw_{x}_{y}")
            pick = Signal(32, init=node_seed(k, 2), name=f"pick_{x}_{y}")
            m.d.sync += draw.eq(_xorshift32(draw))
            # COLORS: only a row's west-end node sends, its throttled color from `queue` and its
            # free color from a queue of its own (one queue would put one behind the other).
            west_end = x == 0
            generate = Signal(name=f"generate_{x}_{y}")
            generate_free = Signal(name=f"generate_free_{x}_{y}")
            m.d.comb += [
                generate.eq(self.node_enable[k] & (self.force | (draw[:16] < self.rate))
                            & (~colors if not west_end else 1)),
                queue.w_en.eq(generate),
                queue.w_data.eq(now),
            ]
            if west_end:
                m.submodules[f"free_queue_{x}_{y}"] = free_queue = \
                    fifo.SyncFIFO(width=sb, depth=self._source_depth)
                draw_free = Signal(32, init=node_seed(k, 3), name=f"draw_free_{x}_{y}")
                m.d.sync += draw_free.eq(_xorshift32(draw_free))
                m.d.comb += [
                    generate_free.eq(colors & self.node_enable[k]
                                     & (self.force | (draw_free[:16] < self.rate))),
                    free_queue.w_en.eq(generate_free),
                    free_queue.w_data.eq(now),
                ]
                dropped_free = generate_free & ~free_queue.w_rdy
            else:
                dropped_free = 0
            dropped = generate & ~queue.w_rdy
            self._count(m, self.generated[k], generate | generate_free, generate + generate_free)
            self._count(m, self.dropped[k], dropped | dropped_free, dropped + dropped_free)

            dest_x, dest_y = Signal(cb, name=f"dest_x_{x}_{y}"), Signal(cb, name=f"dest_y_{x}_{y}")
            with m.Switch(self.pattern):
                with m.Case(TrafficPattern.UNIFORM):
                    m.d.comb += [dest_x.eq((pick[16:24] * cols) >> 8),
                                 dest_y.eq((pick[24:32] * rows) >> 8)]
                with m.Case(TrafficPattern.TRANSPOSE):
                    m.d.comb += [dest_x.eq(y), dest_y.eq(x)]
                with m.Default():
                    m.d.comb += [dest_x.eq(self.fixed_x), dest_y.eq(self.fixed_y)]

            ramp_in = router.inp[Direction.RAMP]
            beat = Signal(range(max(length, 2)), name=f"beat_{x}_{y}")
            head, last = beat == 0, (beat == length - 1) | colors
            send_free = Signal(name=f"send_free_{x}_{y}")
            if west_end:
                # The free color goes when its channel is ready and the throttled one cannot
                # go, or in turn with it.
                free_turn = Signal(name=f"free_turn_{x}_{y}")
                m.d.comb += send_free.eq(
                    colors & free_queue.r_rdy & ramp_in.ready[free_channel]
                    & (free_turn | ~(queue.r_rdy & ramp_in.ready[throttled_channel])))
                stamp = Mux(send_free, free_queue.r_data, queue.r_data)
                m.d.comb += ramp_in.valid.eq(queue.r_rdy | send_free)
            else:
                stamp = queue.r_data
                m.d.comb += ramp_in.valid.eq(queue.r_rdy)
            m.d.comb += [
                ramp_in.payload.addressed.eq(~colors),
                ramp_in.payload.color.eq(Mux(colors, Mux(send_free, FREE_COLOR,
                                                         THROTTLED_COLOR), 0)),
                ramp_in.payload.last.eq(last),
                ramp_in.payload.data.eq(Mux(head & ~colors, Cat(dest_x, dest_y, stamp), stamp)),
            ]
            sent = transferred(p, ramp_in)
            with m.If(sent):
                with m.If(colors):
                    if west_end:    # (the other nodes send nothing in COLORS)
                        m.d.comb += [free_queue.r_en.eq(send_free), queue.r_en.eq(~send_free)]
                        m.d.sync += free_turn.eq(~send_free)
                with m.Elif(last):
                    m.d.sync += [beat.eq(0), pick.eq(_xorshift32(pick))]
                    m.d.comb += queue.r_en.eq(1)
                with m.Else():
                    m.d.sync += beat.eq(beat + 1)
            self._count(m, self.injected[k], sent & last)

            # -- sink ---------------------------------------------------------------------
            ramp_out = router.out[Direction.RAMP]
            if x == cols - 1:
                # The east-end sink takes the throttled color of COLORS only now and then.
                slow = Signal(32, init=node_seed(k, 4), name=f"slow_{x}_{y}")
                m.d.sync += slow.eq(_xorshift32(slow))
                refuse = colors & (slow[:16] >= self.throttle)
                m.d.comb += ramp_out.ready.eq(
                    all_channels(p) & ~Mux(refuse, 1 << throttled_channel, 0))
            else:
                m.d.comb += ramp_out.ready.eq(all_channels(p))
            got = ramp_out.valid
            data = ramp_out.payload.data
            in_packet = Signal(name=f"in_packet_{x}_{y}")
            with m.If(got):
                m.d.sync += in_packet.eq(~ramp_out.payload.last)
            got_head = got & ~in_packet & ramp_out.payload.addressed
            self._count(m, self.received_throttled[k],
                        got & ~ramp_out.payload.addressed
                        & (ramp_out.payload.color == THROTTLED_COLOR))
            wrong = (data[:cb] != x) | (data[cb:2 * cb] != y)
            self._count(m, self.misdelivered[k], got_head & wrong)

            got_tail = got & ramp_out.payload.last
            tail_stamp = Mux(got_head, data[2 * cb:2 * cb + sb], data[:sb])
            latency = Signal(sb, name=f"latency_{x}_{y}")
            m.d.comb += latency.eq(now - tail_stamp)
            self._count(m, self.received[k], got_tail)
            self._count(m, self.latency_sum[k], got_tail, latency)
            with m.If(self.clear):
                m.d.sync += self.latency_max[k].eq(0)
            with m.Elif(self.measure & got_tail & (latency > self.latency_max[k])):
                m.d.sync += self.latency_max[k].eq(latency)
            top = self._hist_buckets - 1
            scaled = Signal(sb, name=f"latency_bucket_{x}_{y}")
            m.d.comb += scaled.eq(latency >> self.hist_shift)
            bucket = Mux(scaled >= top, top, scaled[:top.bit_length()])
            # A memory, not registers: 32 counters per node as flip-flops made the Verilog
            # (and the Verilator build) several times larger.
            m.submodules[f"histogram_{x}_{y}"] = histogram = Memory(
                shape=self._counter_width, depth=self._hist_buckets, init=[])
            update = histogram.read_port(domain="comb")
            write = histogram.write_port()
            show = histogram.read_port(domain="comb")
            m.d.comb += [
                update.addr.eq(bucket),
                write.addr.eq(bucket),
                write.data.eq(update.data + 1),
                write.en.eq(self.measure & got_tail),
                show.addr.eq(self.hist_addr),
                self.hist[k].eq(show.data),
            ]
            busy.append(queue.r_rdy | (free_queue.r_rdy if west_end else 0))

        # Packets in flight: every one injected minus every one delivered, over the whole mesh
        # (counted always, not only while measuring, so a drain can wait for zero).
        n = len(self.nodes)
        in_flight = Signal(32)
        starts = Signal(range(n + 1))
        ends = Signal(range(n + 1))
        m.d.comb += [
            starts.eq(sum(transferred(p, routers[t].inp[Direction.RAMP])
                          & routers[t].inp[Direction.RAMP].payload.last for t in self.nodes)),
            ends.eq(sum(routers[t].out[Direction.RAMP].valid
                        & routers[t].out[Direction.RAMP].payload.last for t in self.nodes)),
        ]
        m.d.sync += in_flight.eq(in_flight + starts - ends)
        m.d.comb += self.backlog.eq((in_flight != 0) | Cat(*busy).any())
        return m
