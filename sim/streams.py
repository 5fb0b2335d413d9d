"""Valid/ready wavelet streams under cocotb: drivers, monitors, a scoreboard and a watchdog.

The components find a stream's signals by name prefix (``<prefix>__valid``, ``<prefix>__ready``,
``<prefix>__payload``, as Amaranth flattens a ``stream.Signature``), so the same classes drive a
router, a tile or a whole fabric. Wavelets are packed and unpacked by
:class:`~tessera.sim.wavelets.WaveletCodec`, never by hand.

Timing convention (checked on Verilator by the router testbench's latency test): after
``await RisingEdge(clk)`` a read returns the value the design sampled at that edge, and a write
takes effect for the next edge. A transfer happens at an edge where ``valid`` and ``ready`` were
both high; components stamp it with that edge's cycle number (:meth:`ClockDomain.cycle`). On a
link (``ready`` has a bit per channel, ``tessera.hdl.link``) the bit that counts is the one of the
wavelet's channel.

Traffic is tagged so the scoreboard can name and order it: every wavelet's ``data`` carries its
source id and a sequence number (:class:`TagCodec`); the head of an addressed packet carries
them in the header's free ``info`` bits.

Typical use::

    clock = ClockDomain(dut.clk, period_ns=10).start()
    tag = TagCodec(codec, source_bits=3)
    scoreboard = Scoreboard(tag)
    source = WaveletSource(dut, "inp__0", codec, clock, idle=random_bools(0.2, seed=1))
    sink = WaveletSink(dut, "out__2", codec, clock, key=2,
                       backpressure=random_bools(0.3, seed=2),
                       callback=lambda w: scoreboard.receive(2, w))
    Watchdog(clock, sources=[source], sinks=[sink], scoreboard=scoreboard).start()
    wavelet = tag.colored(0, color=1)
    scoreboard.expect(0, 2, wavelet)     # from source 0 to sink 2
    source.send(wavelet)
    await wait_drained(clock, [source], scoreboard)
"""

import enum
import itertools
import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, Event, RisingEdge

from .wavelets import Wavelet

__all__ = ["ClockDomain", "StreamPort", "WaveletSource", "WaveletSink", "TagCodec",
           "Scoreboard", "ScoreboardError", "ProtocolError", "Watchdog", "WatchdogTimeout",
           "random_bools", "never", "always", "wait_drained", "label"]


def label(key):
    """A short name for a port or source id: an enum's name, otherwise ``str``."""
    return key.name if isinstance(key, enum.Enum) else str(key)


# -- Idle and backpressure generators ------------------------------------------------------------

def random_bools(probability, *, seed=None):
    """Endless booleans, each ``True`` with ``probability``, from their own seeded generator.

    Used as an idle generator (``True``: leave this cycle idle) or a backpressure generator
    (``True``: not ready this cycle).

    Parameters
    ----------
    probability : float
        In ``[0, 1]``.
    seed : int, str or None
        Seed of the generator's private :class:`random.Random`, so one port's sequence does not
        depend on how many numbers another port drew.
    """
    if not 0 <= probability <= 1:
        raise ValueError(f"probability must be in [0, 1], not {probability!r}")
    if probability == 0:
        return never()
    if probability == 1:
        return always()
    rng = random.Random(seed)
    return (rng.random() < probability for _ in itertools.count())


def never():
    """Never idle / never stalled."""
    return itertools.repeat(False)


def always():
    """Always idle / always stalled (a blocked port)."""
    return itertools.repeat(True)


# -- Clock and ports -----------------------------------------------------------------------------

class ClockDomain:
    """The clock every component samples on, and cycle numbers derived from simulation time.

    Cycle numbers come from the time rather than from a counting coroutine, so a component that
    sleeps while it has nothing to do still stamps its transfers correctly.

    Parameters
    ----------
    clk : handle
        The clock signal.
    period_ns : int
        Clock period in nanoseconds.
    """

    def __init__(self, clk, period_ns=10):
        if period_ns <= 0:
            raise ValueError(f"period_ns must be positive, not {period_ns!r}")
        self.clk = clk
        self.period_ns = period_ns
        self.edge = RisingEdge(clk)

    def start(self):
        """Drive the clock (a cocotb :class:`~cocotb.clock.Clock`); returns ``self``."""
        Clock(self.clk, self.period_ns, unit="ns").start()
        return self

    def cycle(self):
        """Number of the current cycle: rising edge ``k`` happens at ``k * period_ns``."""
        return round(get_sim_time("ns") / self.period_ns)


class StreamPort:
    """The ``valid``, ``ready`` and ``payload`` handles of one stream, found by name prefix.

    A link's ``ready`` has a bit per channel (:attr:`channels` > 1); a plain stream's has one.

    Parameters
    ----------
    dut : handle
        The design (or any scope) holding the signals.
    prefix : str
        For example ``"inp__2"`` finds ``inp__2__valid``, ``inp__2__ready``, ``inp__2__payload``.
    """

    def __init__(self, dut, prefix):
        self.prefix = prefix
        try:
            self.valid = getattr(dut, f"{prefix}__valid")
            self.ready = getattr(dut, f"{prefix}__ready")
            self.payload = getattr(dut, f"{prefix}__payload")
        except AttributeError as e:
            raise AttributeError(f"stream prefix {prefix!r} must name valid/ready/payload "
                                 f"signals of {dut._name}: {e}") from None
        self.channels = len(self.ready)
        self.all_ready = (1 << self.channels) - 1

    def takes(self, ready, codec, wavelet):
        """Whether a ``ready`` value takes ``wavelet``: its channel's bit on a link."""
        return bool(ready >> codec.channel(wavelet) & 1) if self.channels > 1 else bool(ready)


# -- Driver and monitor --------------------------------------------------------------------------

class WaveletSource:
    """Drives wavelets into a valid/ready stream, in order, with optional idle cycles.

    Once ``valid`` is raised the payload and ``valid`` stay until the wavelet is taken (the
    link rule of ``docs/wavelet.md``); idle cycles fall only between wavelets. With nothing
    queued the source sleeps instead of waking every cycle.

    Parameters
    ----------
    dut : handle
    prefix : str
        Stream name prefix (see :class:`StreamPort`).
    codec : WaveletCodec
    clock : ClockDomain
    idle : iterator of bool, optional
        Drawn before each wavelet; every ``True`` inserts one idle cycle. Default: never idle.
    key : hashable, optional
        The id this source has in a :class:`Scoreboard` (for example a ``Direction``).
    name : str, optional
        Name used in messages (default: the prefix).

    Members
    -------
    sent : list of (int, Wavelet)
        Every wavelet taken, with the cycle it was taken in.
    stalled : bool
        ``valid`` was high and ``ready`` low at the last edge.
    """

    def __init__(self, dut, prefix, codec, clock, *, idle=None, key=None, name=None):
        self.port = StreamPort(dut, prefix)
        self.codec = codec
        self.clock = clock
        self.idle = never() if idle is None else idle
        self.key = prefix if key is None else key
        self.name = name or prefix
        self.queue = deque()
        self.sent = []
        self.stalled = False
        self._wake = Event()
        self._queued = 0            # wavelets ever queued
        self._taken_waiters = []    # (count, Event) of wait_taken() calls
        self.port.valid.value = 0
        self._task = cocotb.start_soon(self._drive())

    @property
    def pending(self):
        """Wavelets queued and not yet taken (including one being offered)."""
        return len(self.queue)

    def send(self, *wavelets):
        """Queue wavelets to be sent after those already queued.

        Returns the number of wavelets this source will have had taken once these are: pass it
        to :meth:`wait_taken`.
        """
        self.queue.extend(wavelets)
        self._queued += len(wavelets)
        self._wake.set()
        return self._queued

    async def wait_taken(self, count):
        """Return once ``count`` wavelets in all have been taken (see :meth:`send`)."""
        if len(self.sent) >= count:
            return
        event = Event()
        self._taken_waiters.append((count, event))
        await event.wait()

    def _wake_taken_waiters(self):
        taken = len(self.sent)
        waiting = []
        for count, event in self._taken_waiters:
            if count <= taken:
                event.set()
            else:
                waiting.append((count, event))
        self._taken_waiters = waiting

    def stop(self):
        """Stop driving (``valid`` is left as it is); cocotb also stops it at the test's end."""
        self._task.cancel()

    async def _drive(self):
        port, edge = self.port, self.clock.edge
        offering = False
        while True:
            if not self.queue:
                if offering:
                    port.valid.value = 0
                    offering = False
                self._wake.clear()
                await self._wake.wait()
                continue
            if next(self.idle):
                if offering:
                    port.valid.value = 0
                    offering = False
                await edge
                continue
            port.payload.value = self.codec.pack(self.queue[0])
            if not offering:
                port.valid.value = 1
                offering = True
            await edge
            while not port.takes(int(port.ready.value), self.codec, self.queue[0]):
                self.stalled = True
                await edge
            self.stalled = False
            self.sent.append((self.clock.cycle(), self.queue.popleft()))
            if self._taken_waiters:
                self._wake_taken_waiters()


class ProtocolError(AssertionError):
    """A stream broke the valid/ready rule (dropped or changed a wavelet before it was taken)."""


class WaveletSink:
    """Takes wavelets from a valid/ready stream, records them, optionally with backpressure.

    Also checks the link rule on the sender: a wavelet offered and not taken must be offered
    again, unchanged, in the next cycle; on a link whose sender is a router (``strict``), a
    wavelet may only be offered on a channel that is ready.

    Parameters
    ----------
    dut : handle
    prefix : str
        Stream name prefix (see :class:`StreamPort`).
    codec : WaveletCodec
    clock : ClockDomain
    backpressure : iterator of bool, optional
        Drawn every cycle (on a link with ``per_channel``, once per channel); ``True`` holds
        ``ready`` low that cycle (the channel's bit). Default: always ready.
    per_channel : bool
        Stall each channel of a link independently. Default ``False``: all together.
    strict : bool
        The sender only offers wavelets whose channel is ready (a router's output does); an
        offer on a channel that is not ready is a :class:`ProtocolError`. Default ``False``.
    callback : callable, optional
        Called with each received :class:`Wavelet` (for example a scoreboard's ``receive``).
    key : hashable, optional
        The destination id of this sink in a :class:`Scoreboard`.
    name : str, optional
        Name used in messages (default: the prefix).
    sleep_when_idle : bool, optional
        After a cycle without ``valid``, sleep until ``valid`` rises instead of waking every
        cycle (with every channel ready meanwhile, since a router offers only on a ready
        channel; the backpressure generator is drawn only in cycles the sink is awake). For designs with many mostly idle ports,
        such as a fabric's edges (the 4x4 fabric testbench ran about 20% faster with it).
        Default ``False``.

    Members
    -------
    received : list of (int, Wavelet)
        Every wavelet taken, with the cycle it was taken in.
    stalled : bool
        ``valid`` was high and ``ready`` low at the last edge.
    held_back : bool
        Some channel was not ready at the last edge (a router sender then offers nothing on
        it, so this, not ``stalled``, shows a blocked output).
    """

    def __init__(self, dut, prefix, codec, clock, *, backpressure=None, callback=None,
                 key=None, name=None, sleep_when_idle=False, per_channel=False, strict=False):
        self.port = StreamPort(dut, prefix)
        self.per_channel = per_channel
        self.strict = strict
        self.codec = codec
        self.clock = clock
        self.backpressure = never() if backpressure is None else backpressure
        self.callback = callback
        self.key = prefix if key is None else key
        self.name = name or prefix
        self.received = []
        self.stalled = False
        self.held_back = False
        self.sleep_when_idle = sleep_when_idle
        self._task = cocotb.start_soon(self._monitor())

    def stop(self):
        """Stop taking wavelets (``ready`` is left as it is)."""
        self._task.cancel()

    def set_backpressure(self, backpressure):
        """Swap the backpressure generator: ``always()`` blocks the port, ``never()`` frees it."""
        self.backpressure = backpressure

    async def _monitor(self):
        port, edge = self.port, self.clock.edge
        ready = None
        offered = None  # a wavelet offered and not taken at the last edge
        while True:
            if self.per_channel:
                want = sum(1 << c for c in range(port.channels) if not next(self.backpressure))
            else:
                want = 0 if next(self.backpressure) else port.all_ready
            if want != ready:
                port.ready.value = want
                ready = want
            await edge
            self.held_back = ready != port.all_ready
            if port.valid.value:
                word = port.payload.value.to_unsigned()
                if offered is not None and word != offered:
                    raise ProtocolError(
                        f"{self.name}: payload changed from {self.codec.unpack(offered)} to "
                        f"{self.codec.unpack(word)} before it was taken")
                taken = port.takes(ready, self.codec, self.codec.unpack(word))
                if self.strict and not taken:
                    raise ProtocolError(
                        f"{self.name}: {self.codec.unpack(word)} offered on channel "
                        f"{self.codec.channel(self.codec.unpack(word))}, which is not ready")
                if taken:
                    offered = None
                    self.stalled = False
                    wavelet = self.codec.unpack(word)
                    self.received.append((self.clock.cycle(), wavelet))
                    if self.callback is not None:
                        self.callback(wavelet)
                else:
                    offered = word
                    self.stalled = True
            elif offered is not None:
                raise ProtocolError(f"{self.name}: valid dropped before "
                                    f"{self.codec.unpack(offered)} was taken")
            elif self.sleep_when_idle:
                # Asleep, every channel is ready: a router offers only on a ready channel, so
                # a sink asleep with ready low would never be woken.
                if ready != port.all_ready:
                    port.ready.value = ready = port.all_ready
                # A read after an edge gives the value sampled at it, so a valid raised by
                # this edge is still a change to come: it wakes us, and the next edge
                # samples it.
                await RisingEdge(port.valid)


# -- Tags, scoreboard ----------------------------------------------------------------------------

class TagCodec:
    """Source id and sequence number carried in wavelets, and makers of tagged traffic.

    A wavelet's ``data`` is ``source << seq_bits | seq``. The head of an addressed packet holds
    the header, so its tag goes in the header's ``info`` field, with fewer sequence bits.
    Sequence numbers count per source and wrap; the scoreboard orders by position, so wrapping
    only shortens the numbers shown in messages.

    Parameters
    ----------
    codec : WaveletCodec
    source_bits : int
        Bits of the source id; must leave at least one sequence bit in a header's ``info``.
    """

    def __init__(self, codec, *, source_bits):
        params = codec.params
        info_bits = params.data_width - 2 * params.coord_bits
        if not 0 < source_bits < info_bits:
            raise ValueError(f"source_bits must be in 1..{info_bits - 1} (the header's info "
                             f"field has {info_bits} bits), not {source_bits}")
        self.codec = codec
        self.source_bits = source_bits
        self.seq_bits = params.data_width - source_bits
        self.head_seq_bits = info_bits - source_bits
        self._next_seq = {}

    def _check_source(self, source):
        if not 0 <= int(source) < 1 << self.source_bits:
            raise ValueError(f"source must fit {self.source_bits} bits, not {source}")

    def data(self, source, seq):
        """A wavelet ``data`` word carrying ``source`` and ``seq`` (wrapped to fit)."""
        self._check_source(source)
        return int(source) << self.seq_bits | seq % (1 << self.seq_bits)

    def source(self, data):
        """Source id of a tagged ``data`` word (not of a packet's head: see
        :meth:`header_source`)."""
        return data >> self.seq_bits

    def seq(self, data):
        """Sequence number of a tagged ``data`` word."""
        return data & ((1 << self.seq_bits) - 1)

    def header_source(self, data):
        """Source id of an addressed packet's head wavelet, from its header's ``info``."""
        return self.codec.header_fields(data)["info"] >> self.head_seq_bits

    def _seq(self, source):
        seq = self._next_seq.get(int(source), 0)
        self._next_seq[int(source)] = seq + 1
        return seq

    def colored(self, source, color, *, ctrl=False):
        """The next colored wavelet of ``source``."""
        return Wavelet(data=self.data(source, self._seq(source)), color=color, ctrl=ctrl)

    def packet(self, source, x, y, length, *, color=0, reply=False):
        """The next addressed packet of ``source`` to tile ``(x, y)``: a head, then ``length``
        tagged wavelets; a request, or with ``reply`` a reply."""
        self._check_source(source)
        head_seq = self._seq(source) % (1 << self.head_seq_bits)
        info = int(source) << self.head_seq_bits | head_seq
        body = [self.data(source, self._seq(source)) for _ in range(length)]
        return self.codec.packet(x, y, body, info=info, color=color, reply=reply)


class ScoreboardError(AssertionError):
    """Traffic arrived that was not expected, arrived out of order, or interleaved."""


class Scoreboard:
    """Expected traffic per (source, destination); checks every arrival as it happens.

    Each wavelet is expected at a destination with :meth:`expect` (a multicast is expected at
    each of its destinations) and checked off by :meth:`receive`. Order is checked per
    (source, destination, order class): a colored wavelet's class is its color, an addressed
    wavelet's is its channel, ``"request"`` or ``"reply"`` (the two travel in separate channels
    and may overtake each other). Arrivals also obey the packet rule: once a packet's head
    reaches a destination, that destination receives no other packet of its channel until its
    ``last`` (colored wavelets and the other channel's packets may come in between).
    :meth:`check_drained` ends a test: nothing expected may remain.

    Parameters
    ----------
    tag : TagCodec
        Reads the source id out of arriving wavelets.
    sources : iterable, optional
        Source keys (for example ``Direction``) known up front, so a message about a source
        that was never expected still names it.
    """

    def __init__(self, tag, *, sources=()):
        self.tag = tag
        # (source id, dest) -> {order class: deque of expected wavelets}
        self._expected = {}
        # source id (the int a tag carries) -> the key it was given as, for messages
        self._source_keys = {int(key): key for key in sources}
        # dest -> source of a packet whose head arrived and whose last has not
        self._open_packet = {}
        self.received = 0

    @staticmethod
    def order_class(wavelet):
        if wavelet.addressed:
            return "reply" if wavelet.ctrl else "request"
        return wavelet.color

    def expect(self, source, dest, wavelet):
        """Expect ``wavelet`` from ``source`` to arrive at ``dest`` (after the earlier ones)."""
        self._source_keys[int(source)] = source
        queues = self._expected.setdefault((int(source), dest), {})
        queues.setdefault(self.order_class(wavelet), deque()).append(wavelet)

    def receive(self, dest, wavelet):
        """Check off ``wavelet`` arriving at ``dest``; raise :class:`ScoreboardError` if wrong."""
        kind = self.order_class(wavelet)
        open_source = self._open_packet.get((dest, kind)) if wavelet.addressed else None
        is_head = wavelet.addressed and open_source is None
        source_id = (self.tag.header_source(wavelet.data) if is_head
                     else self.tag.source(wavelet.data))
        source = self._source_keys.get(source_id, source_id)
        where = f"at {label(dest)}"
        if open_source is not None and source != open_source:
            raise ScoreboardError(
                f"interleaved {where}: {wavelet} (from {label(source)}) arrived inside the "
                f"{kind} packet from {label(open_source)}")
        if wavelet.addressed:
            self._open_packet[(dest, kind)] = None if wavelet.last else source
        queue = self._expected.get((source_id, dest), {}).get(self.order_class(wavelet))
        if not queue:
            raise ScoreboardError(f"extra {where}: {wavelet} from {label(source)} was not "
                                  f"expected (nothing outstanding from {label(source)} of "
                                  f"class {self.order_class(wavelet)!r})")
        if queue[0] != wavelet:
            if wavelet in queue:
                raise ScoreboardError(
                    f"reordered {where}: {wavelet} from {label(source)} arrived before "
                    f"{queue[0]}, sent earlier on the same class")
            raise ScoreboardError(f"unexpected {where}: {wavelet} from {label(source)}; "
                                  f"expected next {queue[0]}")
        queue.popleft()
        self.received += 1

    def outstanding(self, *, source=None, dest=None, order_class=None):
        """Wavelets expected and not yet received, optionally only some sources/dests/classes."""
        return sum(len(queue)
                   for (s, d), queues in self._expected.items()
                   if (source is None or s == int(source)) and (dest is None or d == dest)
                   for c, queue in queues.items()
                   if order_class is None or c == order_class)

    def check_drained(self):
        """Raise :class:`ScoreboardError` naming every (source, dest) with wavelets missing."""
        missing = [f"{label(self._source_keys[s])} -> {label(d)}: {len(q)} of class {c!r} "
                   f"(next {q[0]})"
                   for (s, d), queues in self._expected.items()
                   for c, q in queues.items() if q]
        open_packets = [f"{label(d)} (a {kind} from {label(s)})"
                        for (d, kind), s in self._open_packet.items() if s is not None]
        if missing or open_packets:
            raise ScoreboardError(
                "not drained: lost " + ("; ".join(missing) or "nothing")
                + (f"; packets left open at {', '.join(open_packets)}" if open_packets else ""))


# -- Watchdog and draining -----------------------------------------------------------------------

class WatchdogTimeout(AssertionError):
    """A test stopped making progress; the message names the stuck ports."""


class Watchdog:
    """Fails a test that has work outstanding but moves no wavelet for ``limit`` cycles.

    Progress is any transfer on a watched source or sink. Outstanding work is wavelets queued
    in a source or expected by the scoreboard. The failure names every port with something
    outstanding and every port stalled (``valid`` without ``ready``), for example
    ``no progress for 2000 cycles: out SOUTH has 3 wavelets outstanding, valid but not ready;
    inp NORTH has 2 wavelets queued, valid but not ready``.

    It wakes every ``limit // 8`` cycles only (``ClockCycles`` stays out of Python between
    checks), so it costs almost nothing.

    Parameters
    ----------
    clock : ClockDomain
    sources, sinks : sequence of WaveletSource / WaveletSink
    scoreboard : Scoreboard, optional
    limit : int
        Cycles without progress allowed while work is outstanding.
    """

    def __init__(self, clock, *, sources=(), sinks=(), scoreboard=None, limit=2000):
        if limit < 1:
            raise ValueError(f"limit must be a positive number of cycles, not {limit!r}")
        self.clock = clock
        self.sources = list(sources)
        self.sinks = list(sinks)
        self.scoreboard = scoreboard
        self.limit = limit
        self.interval = max(1, limit // 8)
        self._task = None

    def progress(self):
        return (sum(len(s.sent) for s in self.sources)
                + sum(len(s.received) for s in self.sinks))

    def busy(self):
        outstanding = self.scoreboard.outstanding() if self.scoreboard is not None else 0
        return outstanding > 0 or any(s.pending for s in self.sources)

    def report(self, cycles):
        """The failure message: what is outstanding or stalled, port by port."""
        parts = []
        for sink in self.sinks:
            notes = []
            if self.scoreboard is not None:
                n = self.scoreboard.outstanding(dest=sink.key)
                if n:
                    notes.append(f"has {n} wavelets outstanding")
            if sink.stalled:
                notes.append("valid but not ready")
            elif sink.held_back and notes:
                notes.append("held not ready")
            if notes:
                parts.append(f"{sink.name} {', '.join(notes)}")
        parts += self.source_notes()
        return f"no progress for {cycles} cycles: " + ("; ".join(parts) or "no port stalled")

    def source_notes(self):
        """One note per source that holds wavelets or is stalled."""
        parts = []
        for source in self.sources:
            notes = []
            if source.pending:
                notes.append(f"has {source.pending} wavelets queued")
            if source.stalled:
                notes.append("valid but not ready")
            if notes:
                parts.append(f"{source.name} {', '.join(notes)}")
        return parts

    async def watch(self):
        """Return never; raise :class:`WatchdogTimeout` once stuck for ``limit`` cycles."""
        last, since = self.progress(), self.clock.cycle()
        while True:
            await ClockCycles(self.clock.clk, self.interval)
            now, cycle = self.progress(), self.clock.cycle()
            if now != last or not self.busy():
                last, since = now, cycle
            elif cycle - since >= self.limit:
                raise WatchdogTimeout(self.report(cycle - since))

    def start(self):
        """Watch in the background: a timeout fails the running test. Returns ``self``."""
        self._task = cocotb.start_soon(self.watch())
        return self

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None


async def wait_drained(clock, sources, scoreboard, *, settle=16, poll=8):
    """Wait until every source has sent everything and the scoreboard expects nothing more.

    Then run ``settle`` more cycles, so a wavelet delivered twice or to a wrong port has time
    to show up as an error, and check the scoreboard is drained. Pair with a :class:`Watchdog`:
    this waits as long as traffic keeps moving.
    """
    while any(s.pending for s in sources) or scoreboard.outstanding():
        await ClockCycles(clock.clk, poll)
    await ClockCycles(clock.clk, settle)
    scoreboard.check_drained()
