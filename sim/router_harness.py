"""A traffic harness around one :class:`~tessera.hdl.router.Router`, for benchmarks.

The harness puts traffic generation and counting in hardware, so a benchmark's testbench only
sets a handful of quasi-static inputs, lets the clock run for ``N`` cycles and reads counters:
no Python runs per cycle (beyond what the simulator itself is made of). The same harness runs
under Verilator (through cocotb) and under Amaranth's own simulator, so both see the same design
and the same traffic.

Sources. Each router input has a source that offers a wavelet on every cycle it is enabled (the
input is always valid: full load). The wavelet is one of ``templates`` per-input *templates*,
picked by the top bits of the source's own xorshift32 generator, which steps once per accepted
wavelet (so one template repeated in every slot is a fixed destination, distinct templates a
uniform random choice among them). The source writes its own :class:`Direction` into the top
``TAG_BITS`` bits of ``data`` (the top of the header's ``info`` on an addressed wavelet), and on
a colored wavelet fills the rest of ``data`` with the generator's bits, so the payload toggles
like real data.

Sinks. Each router output is ready when its bit of ``sink_ready`` is set.

Counters (``counter_width`` bits, cleared by ``clear``): cycles, wavelets accepted per input,
wavelets leaving per output, wavelets delivered per *source* (at any output; a multicast counts
once per output), and the cycle stamps of the first acceptance at each input and of the first
departure from each output since the last ``clear``.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.link import all_channels, transferred
from ..hdl.router import Router
from ..hdl.wavelet import NUM_PORTS, Direction, route_write_layout, wavelet_layout

__all__ = ["RouterHarness", "TAG_BITS", "SOURCE_SEEDS"]

# Bits at the top of a wavelet's data that name the source input (a Direction needs 3).
TAG_BITS = 3

# Distinct non-zero xorshift32 seeds, one per source, indexed by Direction.
SOURCE_SEEDS = (0x2545F491, 0x9E3779B9, 0x6A09E667, 0xBB67AE85, 0x3C6EF372)


def _xorshift32(state):
    """The next state of Marsaglia's xorshift32 generator (13, 17, 5), as an expression."""
    s1 = state ^ (state << 13)[:32]
    s2 = s1 ^ (s1 >> 17)
    return s2 ^ (s2 << 5)[:32]


class RouterHarness(wiring.Component):
    """A :class:`Router` between always-valid sources and counting sinks.

    Parameters
    ----------
    params : FabricParams
        Parameters of the router under test. The header must leave at least ``TAG_BITS`` bits
        of ``info`` (``data_width - 2 * coord_bits >= 3``) for the source tag.
    templates : int
        Wavelet templates per source; a power of two.
    counter_width : int
        Bits of every counter and cycle stamp.

    Members
    -------
    config : ``In(stream.Signature(route_write_layout))``
        Route-table writes, passed to the router.
    x, y : ``In(coord_bits)``
        The router's coordinates (addressed wavelets route against them).
    enable : ``In(NUM_PORTS)``
        Bit ``d``: the source of input ``d`` offers a wavelet every cycle.
    one_shot : ``In(1)``
        Each enabled source sends one wavelet after ``clear`` and then stops.
    sink_ready : ``In(NUM_PORTS)``
        Bit ``d``: output ``d`` takes a wavelet whenever one is offered.
    templates : ``In(wavelet_layout).array(NUM_PORTS, templates)``
        The wavelets each source picks from (its ``data`` is overwritten as described above).
    clear : ``In(1)``
        Zero the counters, stamps and one-shot state at the end of this cycle. The router and
        the sources keep running, so a measurement window can start in steady state.
    cycles : ``Out(counter_width)``
        Cycles since the last ``clear``.
    accepted : ``Out(counter_width).array(NUM_PORTS)``
        Wavelets accepted by each router input.
    transfers : ``Out(counter_width).array(NUM_PORTS)``
        Wavelets leaving each router output.
    delivered : ``Out(counter_width).array(NUM_PORTS)``
        Wavelets leaving any output, counted by the input they came from.
    first_accept, first_leave : ``Out(counter_width).array(NUM_PORTS)``
        Value of ``cycles`` in the cycle of the first acceptance at each input / the first
        departure from each output; valid where ``seen_accept`` / ``seen_leave`` is set.
    seen_accept, seen_leave : ``Out(NUM_PORTS)``
    misroutes : ``Out(16)``
        The router's count of discarded, unrouted colored wavelets.
    """

    def __init__(self, params, *, templates=4, counter_width=32):
        if not isinstance(templates, int) or templates < 1 or templates & (templates - 1):
            raise ValueError(f"Template count must be a positive power of two, "
                             f"not {templates!r}")
        if not isinstance(counter_width, int) or not 8 <= counter_width <= 64:
            raise ValueError(f"Counter width must be an integer from 8 to 64, "
                             f"not {counter_width!r}")
        info_bits = params.data_width - 2 * params.coord_bits
        if info_bits < TAG_BITS:
            raise ValueError(f"RouterHarness needs at least {TAG_BITS} bits of header info "
                             f"(data_width - 2*coord_bits) for the source tag, not {info_bits}")
        self._params = params
        self._templates = templates
        self._counter_width = counter_width
        w = counter_width
        super().__init__({
            "config": In(stream.Signature(route_write_layout(params))),
            "x": In(params.coord_bits),
            "y": In(params.coord_bits),
            "enable": In(NUM_PORTS),
            "one_shot": In(1),
            "sink_ready": In(NUM_PORTS),
            "templates": In(wavelet_layout(params)).array(NUM_PORTS, templates),
            "clear": In(1),
            "cycles": Out(w),
            "accepted": Out(w).array(NUM_PORTS),
            "transfers": Out(w).array(NUM_PORTS),
            "delivered": Out(w).array(NUM_PORTS),
            "first_accept": Out(w).array(NUM_PORTS),
            "first_leave": Out(w).array(NUM_PORTS),
            "seen_accept": Out(NUM_PORTS),
            "seen_leave": Out(NUM_PORTS),
            "misroutes": Out(16),
        })

    @property
    def params(self):
        return self._params

    @property
    def template_count(self):
        return self._templates

    def elaborate(self, platform):
        m = Module()
        p = self._params
        m.submodules.router = router = Router(p)
        wiring.connect(m, wiring.flipped(self.config), router.config)
        m.d.comb += [
            router.x.eq(self.x),
            router.y.eq(self.y),
            self.misroutes.eq(router.misroutes),
        ]

        with m.If(self.clear):
            m.d.sync += self.cycles.eq(0)
        with m.Else():
            m.d.sync += self.cycles.eq(self.cycles + 1)

        select_bits = (self._templates - 1).bit_length()
        payload_bits = p.data_width - TAG_BITS
        for d in Direction:
            link = router.inp[d]
            state = Signal(32, init=SOURCE_SEEDS[d], name=f"source_{d.name.lower()}_state")
            sent = Signal(name=f"source_{d.name.lower()}_sent")
            choice = state[32 - select_bits:] if select_bits else 0
            template = Array(self.templates[d])[choice]
            # Random payload bits for a colored wavelet; the header stays on an addressed one.
            noise = Cat(*([state] * (payload_bits // 32 + 1)))[:payload_bits]
            body = template.data[:payload_bits]
            m.d.comb += [
                link.valid.eq(self.enable[d] & ~(self.one_shot & sent)),
                link.payload.eq(template),
                link.payload.data.eq(Cat(Mux(template.addressed, body, noise),
                                         Const(int(d), TAG_BITS))),
            ]
            accept = transferred(p, link)
            with m.If(accept):
                m.d.sync += [state.eq(_xorshift32(state)), sent.eq(1)]
            with m.If(self.clear):
                m.d.sync += [sent.eq(0), self.accepted[d].eq(0), self.seen_accept[d].eq(0)]
            with m.Elif(accept):
                m.d.sync += self.accepted[d].eq(self.accepted[d] + 1)
                with m.If(~self.seen_accept[d]):
                    m.d.sync += [self.seen_accept[d].eq(1),
                                 self.first_accept[d].eq(self.cycles)]

        leaving = []
        for o in Direction:
            link = router.out[o]
            transfer = transferred(p, link)
            leaving.append((transfer, link.payload.data[p.data_width - TAG_BITS:]))
            # A sink takes every channel or none.
            m.d.comb += link.ready.eq(Mux(self.sink_ready[o], all_channels(p), 0))
            with m.If(self.clear):
                m.d.sync += [self.transfers[o].eq(0), self.seen_leave[o].eq(0)]
            with m.Elif(transfer):
                m.d.sync += self.transfers[o].eq(self.transfers[o] + 1)
                with m.If(~self.seen_leave[o]):
                    m.d.sync += [self.seen_leave[o].eq(1), self.first_leave[o].eq(self.cycles)]

        for d in Direction:
            arrivals = Signal(range(NUM_PORTS + 1), name=f"delivered_{d.name.lower()}_now")
            m.d.comb += arrivals.eq(sum((transfer & (tag == d)) for transfer, tag in leaving))
            with m.If(self.clear):
                m.d.sync += self.delivered[d].eq(0)
            with m.Else():
                m.d.sync += self.delivered[d].eq(self.delivered[d] + arrivals)
        return m
