"""The core's fabric input: one queue per color, and control wavelets taken as they arrive.

The router's RAMP side hands the core a link with a ready bit per channel (``docs/tile.md``).
:class:`ColorQueues` holds every data wavelet in its color's queue, so a color whose consumer
is not running stops only itself (and, when colors share a router channel, the colors of that
channel: the channel is ready only while every one of its colors has room). Control wavelets
never queue: they leave at once, for the task scheduler, in the cycle they arrive.

Each queue shows its first two wavelets, and gives one or two in a cycle: an int64 element
from the fabric is two wavelets, and a vector beat takes it whole.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..link import FIRST_COLOR_CHANNEL, link_signature, transferred

__all__ = ["ColorQueues"]


class ColorQueues(wiring.Component):
    """Per-color input queues of ``core_queue_depth`` wavelets.

    Members
    -------
    inp : ``In(link_signature)``
        The core side of the tile's RAMP demux. Replies addressed to the tile (channel 1) are
        taken and dropped: the core sends no requests.
    running : ``In(1)``
        The core runs; control wavelets arriving while it does not are dropped.
    hold : ``In(1)``
        Take nothing (the core is starting: its task table is loading).
    count : ``Out(range(depth + 1)).array(num_colors)``
        Wavelets in each queue.
    head, second : ``Out(32).array(num_colors)``
        The first and second wavelet of each queue (meaningful when ``count`` is at least 1,
        2).
    pop : ``In(2).array(num_colors)``
        Take 0, 1 or 2 wavelets from a queue at the end of this cycle (at most ``count``).
    ctrl_valid, ctrl_task : ``Out(1)``, ``Out(6)``
        A control wavelet arrived in the previous cycle, naming this task (it is registered,
        so no path runs from the router's arbiters into the scheduler; valid only while the
        core runs in both cycles).
    """

    def __init__(self, params):
        self._params = params
        depth = params.core_queue_depth
        w = params.data_width
        super().__init__({
            "inp": In(link_signature(params)),
            "running": In(1),
            "hold": In(1),
            "count": Out(range(depth + 1)).array(params.num_colors),
            "head": Out(w).array(params.num_colors),
            "second": Out(w).array(params.num_colors),
            "pop": In(2).array(params.num_colors),
            "ctrl_valid": Out(1),
            "ctrl_task": Out(6),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        depth = p.core_queue_depth
        word = self.inp.payload
        take = transferred(p, self.inp)
        colored = take & ~word.addressed
        ctrl_arrived = Signal()
        m.d.sync += [ctrl_arrived.eq(colored & word.ctrl & self.running),
                     self.ctrl_task.eq(word.data[:6])]
        m.d.comb += self.ctrl_valid.eq(ctrl_arrived & self.running)
        has_room = Signal(p.num_colors)
        for c in range(p.num_colors):
            m.d.comb += has_room[c].eq(self.count[c] < depth)
        # A color channel takes a wavelet only if every color it carries has room; replies
        # and requests (not sent here) are always taken.
        ready = [Const(1)] * FIRST_COLOR_CHANNEL
        for k in range(p.color_channels):
            colors = range(k, p.num_colors, p.color_channels)
            ready.append(Cat(has_room[c] for c in colors).all())
        m.d.comb += self.inp.ready.eq(Mux(self.hold, 0, Cat(ready)))

        for c in range(p.num_colors):
            entries = Array(Signal(p.data_width, name=f"q{c}_{i}") for i in range(depth))
            count = self.count[c]
            push = Signal(name=f"push_{c}")
            m.d.comb += [
                push.eq(colored & ~word.ctrl & (word.color == c)),
                self.head[c].eq(entries[0]),
                self.second[c].eq(entries[1]),
            ]
            pop = self.pop[c]
            # A shift queue: entry i takes entry i + pop; the pushed wavelet lands behind what
            # stays.
            for i in range(depth):
                with m.Switch(pop):
                    for k in (1, 2):
                        with m.Case(k):
                            if i + k < depth:
                                m.d.sync += entries[i].eq(entries[i + k])
                with m.If(push & (count - pop == i)):
                    m.d.sync += entries[i].eq(word.data)
            m.d.sync += count.eq(count - pop + push)
        return m
