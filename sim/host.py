"""A host for a fabric under cocotb: loads and reads every PE through the fabric's edge ports.

This is the host side of ``docs/edge-protocol.md``. A :class:`Host` attaches to some of the
fabric's boundary links (``hdl/fabric.py`` names them ``north_in__K__*``, ``west_out__K__*``,
...): it drives the ``*_in`` of each attached port with a
:class:`~tessera.sim.streams.WaveletSource` and takes its ``*_out`` with a
:class:`~tessera.sim.streams.WaveletSink`. Replies are addressed to the west edge (``x = -1``),
so it also listens on every ``west_out``, attached or not; every other ``*_out`` is held ready,
so what leaves there is consumed (the deadlock rule's consumption clause) and dropped.

Requests are async methods, one addressed packet each::

    host = Host(dut, params, edges=["west", "north"], backpressure=0.2, seed=1)
    await host.reset()
    await host.write((2, 1), 0, [1, 2, 3])          # posted: returns once the fabric took it
    assert await host.read((2, 1), 0, 3) == [1, 2, 3]
    await host.set_route((0, 1), 3, Route(Direction.WEST, {Direction.EAST, Direction.RAMP}))
    (await host.status((0, 1)))["colored_count"]

Several requests may be outstanding at once: start them as cocotb tasks and await them
(:func:`gather`). Each read and status request carries a tag (the reply header's ``info``, which
the tile returns untouched) that matches its reply. Every reply-channel packet (addressed, ``ctrl``
set) leaving by a west port is taken for a reply: one that is not (not addressed to ``x = -1``,
or with a tag no request waits for) fails the test with :class:`ReplyError`; everything else
arriving there (colored wavelets, request packets) is traffic, kept in :attr:`received`. Other
traffic may arrive between a reply's wavelets (it travels in other channels).

Which port a request enters by: the attached port nearest the tile from which X-then-Y routing
reaches it without a forbidden turn, that is any west or east port, or the north or south port
of the tile's own column (a packet entering by ``north[k]`` for a tile in another column would
turn from y to x, which ``docs/router.md`` forbids). The choice depends only on the tile, so
requests to one tile follow one path and reach its agent in the order they were issued; with
ports on several sides, requests to different tiles load several ports at once. ``via=`` picks
a port explicitly (then ordering against other ports is the caller's business). A request is
queued on its port as soon as its coroutine starts running, before it first waits (unless all
``2**(data_width - 2*coord_bits)`` tags are in use), so of two requests to one tile the one
started first is served first, even from concurrent tasks: a test can update its model of a
tile's memory right before awaiting the request.

Every request method refuses arguments it cannot send (``TypeError`` for a wrong type,
``ValueError`` for a value: a tile outside the fabric, a word wider than ``data_width``, a port
that cannot reach the tile) before sending anything.

Python per cycle stays small: sources sleep while empty, sinks sleep while their port is idle
(``sleep_when_idle``), and the watchdog wakes every ``limit // 8`` cycles.
"""

import operator
import random
from dataclasses import dataclass, field

import cocotb
from cocotb.triggers import ClockCycles, Event

from ..hdl.mesh import MESH_DIRECTIONS, edge_length
from ..hdl.routing import Route
from ..hdl.tile import AgentOp, AgentStatus
from ..hdl.wavelet import Direction
from .streams import ClockDomain, WaveletSink, WaveletSource, Watchdog, random_bools
from .wavelets import WaveletCodec

__all__ = ["EdgePort", "Host", "CoreState", "HostError", "ReadRangeError", "ReplyError", "HostWatchdog",
           "gather", "SIDES"]

# The fabric's sides, in the order ports are listed.
SIDES = MESH_DIRECTIONS


class HostError(Exception):
    """A request failed."""


class ReadRangeError(HostError):
    """A tile refused a read whose run leaves its memory (reply status ``READ_RANGE``)."""


class ReplyError(HostError, AssertionError):
    """A reply broke the edge protocol: unknown tag, wrong port, wrong length, bad status."""


@dataclass(frozen=True, order=True)
class EdgePort:
    """One boundary link of a fabric: ``side`` and position ``index`` along it.

    ``index`` is the column on the north and south sides, the row on the east and west sides.
    """
    side: Direction
    index: int

    def __post_init__(self):
        object.__setattr__(self, "side", _side(self.side))
        if not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"edge port index must be a non-negative integer, "
                             f"not {self.index!r}")

    @property
    def name(self):
        return f"{self.side.name.lower()}[{self.index}]"

    def prefix(self, kind):
        """Stream name prefix of the port's ``kind`` (``"in"`` or ``"out"``) link."""
        return f"{self.side.name.lower()}_{kind}__{self.index}"

    def tile(self, params):
        """``(x, y)`` of the tile this port is linked to."""
        if self.side == Direction.NORTH:
            return self.index, 0
        if self.side == Direction.SOUTH:
            return self.index, params.rows - 1
        if self.side == Direction.WEST:
            return 0, self.index
        return params.cols - 1, self.index

    def reaches(self, pe):
        """Whether a request entering here reaches tile ``pe`` with X-then-Y turns only."""
        return self.side in (Direction.WEST, Direction.EAST) or self.index == pe[0]

    def hops(self, pe, params):
        """Routers a request entering here passes to reach tile ``pe``, minus one."""
        x, y = pe
        if self.side == Direction.WEST:
            return x + abs(y - self.index)
        if self.side == Direction.EAST:
            return params.cols - 1 - x + abs(y - self.index)
        if self.side == Direction.NORTH:
            return y
        return params.rows - 1 - y

    def __str__(self):
        return self.name


def _side(side):
    if isinstance(side, str):
        try:
            side = Direction[side.upper()]
        except KeyError:
            raise ValueError(f"side must be one of north, east, south, west, "
                             f"not {side!r}") from None
    try:
        side = Direction(side)
    except ValueError:
        raise ValueError(f"side must be a Direction, not {side!r}") from None
    if side not in SIDES:
        raise ValueError(f"side must be one of north, east, south, west, not {side.name}")
    return side


def _tile_name(pe):
    return f"tile ({pe[0]}, {pe[1]})"


@dataclass(eq=False)
class _Request:
    """A request waiting for its reply."""
    op: AgentOp
    pe: tuple
    tag: int
    reply_port: EdgePort
    addr: int = 0
    count: int = 0
    done: Event = field(default_factory=Event)
    reply: list = None          # the reply's words after its header

    def describe(self):
        what = (f" words [{self.addr}, {self.addr + self.count})" if self.op == AgentOp.READ
                else "")
        return f"{self.op.name} of {_tile_name(self.pe)}{what} (tag {self.tag})"


@dataclass
class CoreState:
    """A core's STATUS and counters, as the host reads them."""
    running: bool
    done: bool
    fault: object          # hdl.core.isa.Fault
    fault_pc: object       # the faulting instruction's address, None for a control wavelet's
    counters: dict         # CoreReg name (lower case) -> value

    @classmethod
    def from_registers(cls, values):
        from ..hdl.core.isa import CoreReg, Fault
        status = values[CoreReg.STATUS]
        counters = {reg.name.lower(): v for reg, v in values.items()
                    if reg not in (CoreReg.STATUS, CoreReg.FAULT_PC, CoreReg.MACS_LO,
                                   CoreReg.MACS_HI)}
        counters["macs"] = values[CoreReg.MACS_LO] | values[CoreReg.MACS_HI] << 32
        fault = Fault(status >> 4 & 7) if status >> 2 & 1 else Fault.NONE
        pc = values[CoreReg.FAULT_PC]
        return cls(running=bool(status & 1), done=bool(status >> 1 & 1), fault=fault,
                   fault_pc=None if pc == 0xFFFF else pc, counters=counters)


class Host:
    """Drives requests into a fabric's edge ports and matches replies (see the module doc).

    Parameters
    ----------
    dut : handle
        The fabric's top module (``tessera_fabric``).
    params : FabricParams
        The fabric's parameters (must match the design; the wavelet width is checked).
    edges : iterable, optional
        The ports the host drives and listens on. Each item is a side (``"west"`` or
        ``Direction.WEST``: every port of that side), a ``(side, index)`` pair, or an
        :class:`EdgePort`. Default: every west port. Every ``west_out`` is listened to
        whether attached or not (replies arrive there).
    clock : ClockDomain, optional
        The clock; by default one is made and started on ``dut.clk``.
    period_ns : int
        Clock period when the host makes the clock.
    idle : float
        Probability of an idle cycle before each wavelet the host sends, per port.
    backpressure : float
        Probability that each port the host listens on is not ready in a cycle (random stalls
        on the fabric's outputs).
    seed : int or str
        Seeds every port's idle and backpressure sequence.
    on_traffic : callable, optional
        Called as ``on_traffic(port, wavelet)`` for every wavelet that arrives on a listened
        port and is not part of a reply (a :meth:`Scoreboard.receive
        <tessera.sim.streams.Scoreboard.receive>`, say); it is kept in :attr:`received` too.
    watchdog : int or None
        Cycles without progress, while requests are outstanding, after which the running
        test fails with a :class:`~tessera.sim.streams.WatchdogTimeout` naming the stuck
        ports, the tiles beside them and the requests waiting. ``None``: no watchdog started
        (:attr:`watchdog` can still be started or awaited).

    Members
    -------
    edges : list of EdgePort
        The attached ports.
    sources : dict of EdgePort -> WaveletSource
    sinks : dict of EdgePort -> WaveletSink
        Attached ports and every west port.
    received : dict of EdgePort -> list of Wavelet
        What arrived on a listened port that is not a reply (colored wavelets, packets to
        beyond the east, north or south edge).
    total_words : int
        Words in each tile's memory.
    """

    def __init__(self, dut, params, *, edges=("west",), clock=None, period_ns=10, idle=0.0,
                 backpressure=0.0, seed=0, on_traffic=None, watchdog=2000):
        self.dut = dut
        self.params = params
        self.codec = WaveletCodec(params)
        self.total_words = params.sram_bytes // params.word_bytes
        self.word_mask = (1 << params.data_width) - 1
        self._tag_space = 1 << (params.data_width - 2 * params.coord_bits)
        width = len(dut.west_in__0__payload)
        if width != self.codec.width:
            raise ValueError(f"params give {self.codec.width}-bit wavelets, the design has "
                             f"{width}-bit ones")
        self.clock = clock or ClockDomain(dut.clk, period_ns).start()
        self.edges = self._parse_edges(edges)
        rng = random.Random(f"host/{seed}")

        self.sources, self.sinks, self.received = {}, {}, {}
        west = [EdgePort(Direction.WEST, k) for k in range(params.rows)]
        for port in self.all_ports():
            listen = port in self.edges or port in west
            if port in self.edges:
                self.sources[port] = WaveletSource(
                    dut, port.prefix("in"), self.codec, self.clock, key=port,
                    name=self.port_name(port, "in"),
                    idle=random_bools(idle, seed=rng.random()))
            else:
                getattr(dut, f"{port.prefix('in')}__valid").value = 0
            if listen:
                self.received[port] = []
                self.sinks[port] = WaveletSink(
                    dut, port.prefix("out"), self.codec, self.clock, key=port,
                    name=self.port_name(port, "out"),
                    backpressure=random_bools(backpressure, seed=rng.random()),
                    callback=lambda w, port=port: self._receive(port, w),
                    sleep_when_idle=True)
            else:
                ready = getattr(dut, f"{port.prefix('out')}__ready")
                ready.value = (1 << len(ready)) - 1     # every channel

        self._pending = {}          # tag -> _Request
        self._open = {}             # west port -> wavelets of a reply still arriving
        self._next_tag = 0
        self._tag_freed = Event()
        self._entry = {}            # tile -> EdgePort, chosen once
        self.on_traffic = on_traffic
        self.watchdog = HostWatchdog(self, limit=watchdog or 2000)
        if watchdog:
            self.watchdog.start()

    # -- Ports -------------------------------------------------------------------------------

    def all_ports(self):
        """Every boundary port of the fabric, side by side."""
        return [EdgePort(side, k) for side in SIDES
                for k in range(edge_length(self.params, side))]

    def port_name(self, port, kind="out"):
        """``west_out[1] (tile (0, 1))``: the port and the tile beside it, for messages."""
        return (f"{port.side.name.lower()}_{kind}[{port.index}] "
                f"({_tile_name(port.tile(self.params))})")

    def _parse_edges(self, edges):
        if isinstance(edges, (str, EdgePort, Direction)):
            edges = [edges]
        ports = []
        for item in edges:
            if isinstance(item, EdgePort):
                found = [item]
            elif isinstance(item, tuple):
                found = [EdgePort(*item)]
            else:
                side = _side(item)
                found = [EdgePort(side, k) for k in range(edge_length(self.params, side))]
            for port in found:
                n = edge_length(self.params, port.side)
                if port.index >= n:
                    raise ValueError(f"{port.side.name.lower()} port index must be in "
                                     f"0..{n - 1}, not {port.index}")
                if port not in ports:
                    ports.append(port)
        if not ports:
            raise ValueError("edges must name at least one port")
        return ports

    def entry_port(self, pe, via=None):
        """The attached port a request to tile ``pe`` enters by (see the module doc)."""
        pe = self._check_pe(pe)
        if via is not None:
            port = via if isinstance(via, EdgePort) else EdgePort(*via)
            if port not in self.sources:
                raise ValueError(f"via must be an attached port "
                                 f"({', '.join(p.name for p in self.edges)}), not {port.name}")
            if not port.reaches(pe):
                raise ValueError(f"via {port.name} cannot reach {_tile_name(pe)} with X-then-Y "
                                 f"turns: from the {port.side.name.lower()} edge only column "
                                 f"{port.index} is reached")
            return port
        if pe not in self._entry:
            candidates = [p for p in self.edges if p.reaches(pe)]
            if not candidates:
                raise ValueError(f"no attached port reaches {_tile_name(pe)} with X-then-Y "
                                 f"turns: attach a west or east port, or north[{pe[0]}] or "
                                 f"south[{pe[0]}]")
            self._entry[pe] = min(candidates, key=lambda p: p.hops(pe, self.params))
        return self._entry[pe]

    @property
    def tiles(self):
        """Every tile's ``(x, y)``, row by row."""
        return [(x, y) for y in range(self.params.rows) for x in range(self.params.cols)]

    def _check_pe(self, pe):
        try:
            x, y = pe
        except (TypeError, ValueError):
            raise TypeError(f"pe must be an (x, y) pair, not {pe!r}") from None
        try:
            x, y = operator.index(x), operator.index(y)
        except TypeError:
            raise TypeError(f"pe must be an (x, y) pair of integers, not {pe!r}") from None
        if not (0 <= x < self.params.cols and 0 <= y < self.params.rows):
            raise ValueError(f"pe must be a tile of the {self.params.rows}x{self.params.cols} "
                             f"fabric (0 <= x < {self.params.cols}, 0 <= y < "
                             f"{self.params.rows}), not {pe!r}")
        return x, y

    def _check_word(self, name, value):
        """``value`` as an ``int`` that fits a word."""
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an integer, not {value!r}") from None
        if not 0 <= value <= self.word_mask:
            raise ValueError(f"{name} must fit {self.params.data_width} bits, not {value!r}")
        return value

    # -- Reset and raw traffic ---------------------------------------------------------------

    async def reset(self, cycles=4):
        """Hold ``rst`` for ``cycles`` cycles. Only while nothing is outstanding."""
        if self._pending or any(s.pending for s in self.sources.values()):
            raise HostError("reset would drop outstanding requests")
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await self.clock.edge

    async def send(self, port, wavelets):
        """Send raw wavelets (colored traffic, say) into attached ``port``; return once the
        fabric took them all."""
        port = port if isinstance(port, EdgePort) else EdgePort(*port)
        if port not in self.sources:
            raise ValueError(f"port must be attached ({', '.join(p.name for p in self.edges)}), "
                             f"not {port.name}")
        source = self.sources[port]
        await source.wait_taken(source.send(*wavelets))

    def fabric_status(self):
        """The fabric's ``status`` port: the OR of every tile's sticky flags."""
        return AgentStatus(self.dut.status.value.to_unsigned())

    @property
    def outstanding(self):
        """Requests waiting for their replies."""
        return len(self._pending)

    async def drain(self, poll=8):
        """Wait until every port has sent everything queued and every reply has come."""
        while self._pending or any(s.pending for s in self.sources.values()):
            await ClockCycles(self.dut.clk, poll)

    # -- Requests ----------------------------------------------------------------------------

    async def write(self, pe, addr, words, *, via=None):
        """Write ``words`` to tile ``pe`` from word address ``addr`` (a posted WRITE).

        Returns once the fabric has taken the whole request; a later request to the same tile
        through the same port is served after it. Words beyond the memory are skipped by the
        tile, which sets its sticky ``WRITE_RANGE`` flag (see :meth:`status`).
        """
        addr = self._check_word("addr", addr)
        words = [self._check_word(f"words[{k}]", w) for k, w in enumerate(words)]
        await self._post(AgentOp.WRITE, pe, [addr, *words], via)

    async def read(self, pe, addr, count, *, via=None):
        """Read ``count`` words of tile ``pe`` from word address ``addr``.

        Raises
        ------
        ReadRangeError
            The tile replied ``READ_RANGE``: the run ``[addr, addr + count)`` leaves its memory.
        ReplyError
            The reply broke the protocol (length, status).
        """
        addr = self._check_word("addr", addr)
        count = self._check_word("count", count)
        request = await self._ask(AgentOp.READ, pe, [addr, count], via, addr=addr, count=count)
        words = request.reply
        status = words[0] if words else None
        if status == AgentStatus.READ_RANGE and len(words) == 1:
            raise ReadRangeError(
                f"READ of {_tile_name(request.pe)} words [{addr}, {addr + count}) refused "
                f"(status READ_RANGE): the tile has words 0..{self.total_words - 1}")
        if status != 0 or len(words) != count + 1:
            raise ReplyError(f"reply to {request.describe()} must be status 0 and {count} "
                             f"words, not {words[:8]}{'...' if len(words) > 8 else ''} "
                             f"({len(words)} words)")
        return words[1:]

    async def set_routes(self, pe, routes, *, via=None):
        """Write route-table entries ``{color: Route}`` of tile ``pe``'s router (one ROUTE
        request, posted). A later request to the same tile through the same port (a
        :meth:`status`, say) returns only after the routes are in place."""
        body = []
        for color, route in routes.items():
            if not isinstance(route, Route):
                raise TypeError(f"route must be a Route, not {route!r}")
            body.append(self.codec.route_write_word(color, route))
        await self._post(AgentOp.ROUTE, pe, body, via)

    async def set_route(self, pe, color, route, *, via=None):
        """Write one route-table entry of tile ``pe``'s router (see :meth:`set_routes`)."""
        await self.set_routes(pe, {color: route}, via=via)

    async def status(self, pe, *, via=None):
        """Tile ``pe``'s status: ``{"flags": AgentStatus, "colored_count": int,
        "colored_checksum": int, "misroutes": int}``."""
        request = await self._ask(AgentOp.STATUS, pe, [], via)
        words = request.reply
        if len(words) != 4:
            raise ReplyError(f"reply to {request.describe()} must be 4 words, not {words}")
        flags, count, checksum, misroutes = words
        return {"flags": AgentStatus(flags), "colored_count": count,
                "colored_checksum": checksum, "misroutes": misroutes}

    # -- The compute core (docs/isa.md, "The host's view of the core") ---------------------

    async def load_program(self, pe, image, *, via=None):
        """Write a :class:`~tessera.sim.program.ProgramImage` into tile ``pe``'s program
        memory (the core must not be running it)."""
        from ..hdl.core.isa import PROGRAM_BASE
        if len(image.words) > self.params.core_program_words:
            raise ValueError(f"image must fit program memory (core_program_words = "
                             f"{self.params.core_program_words}), not {len(image.words)} words")
        await self.write(pe, PROGRAM_BASE, image.words, via=via)

    async def start_core(self, pe, *, via=None):
        """Start (or restart) tile ``pe``'s core: registers, counters and flags cleared, tasks
        as its task table says. Returns once the start has taken effect (the core's STATUS is
        read back: the write is posted, and a wavelet sent right behind it could overtake it),
        so wavelets sent after it reach a core that is starting or running."""
        from ..hdl.core.isa import CORE_REGS_BASE, CoreControl, CoreReg
        await self.write(pe, CORE_REGS_BASE + CoreReg.CONTROL, [CoreControl.START], via=via)
        await self.read(pe, CORE_REGS_BASE + CoreReg.STATUS, 1, via=via)

    async def stop_core(self, pe, *, via=None):
        from ..hdl.core.isa import CORE_REGS_BASE, CoreControl, CoreReg
        await self.write(pe, CORE_REGS_BASE + CoreReg.CONTROL, [CoreControl.STOP], via=via)

    async def core_state(self, pe, *, via=None):
        """Tile ``pe``'s core: a :class:`CoreState` (its flags and every counter)."""
        from ..hdl.core.isa import CORE_REGS_BASE, CoreReg
        first = CoreReg.STATUS
        words = await self.read(pe, CORE_REGS_BASE + first, len(CoreReg) - first, via=via)
        values = {reg: words[reg - first] for reg in CoreReg if reg >= first}
        return CoreState.from_registers(values)

    async def wait_core(self, pe, *, poll=64, timeout=200_000, via=None):
        """Poll tile ``pe``'s core until it is done or faulted; its :class:`CoreState`.
        Raises :class:`HostError` after ``timeout`` cycles."""
        waited = 0
        while True:
            state = await self.core_state(pe, via=via)
            if not state.running:
                return state
            if waited >= timeout:
                raise HostError(f"core of {_tile_name(pe)} still running after {waited} "
                                f"cycles: {state}")
            await ClockCycles(self.dut.clk, poll)
            waited += poll

    async def _post(self, op, pe, body, via):
        pe = self._check_pe(pe)
        source = self.sources[self.entry_port(pe, via)]
        packet = self.codec.packet(*pe, body, info=op.value)
        await source.wait_taken(source.send(*packet))

    async def _ask(self, op, pe, body, via, **fields):
        """Send a request that has a reply; return the :class:`_Request` once it came."""
        pe = self._check_pe(pe)
        port = self.entry_port(pe, via)
        tag = await self._new_tag()
        request = _Request(op, pe, tag, EdgePort(Direction.WEST, pe[1]), **fields)
        self._pending[tag] = request
        # The reply goes to the host beyond the west edge, on the tile's row.
        reply_header = self.codec.header_data(-1, pe[1], tag)
        self.sources[port].send(*self.codec.packet(*pe, [*body, reply_header], info=op.value))
        await request.done.wait()
        return request

    async def _new_tag(self):
        while len(self._pending) >= self._tag_space:
            self._tag_freed.clear()
            await self._tag_freed.wait()
        while self._next_tag in self._pending:
            self._next_tag = (self._next_tag + 1) % self._tag_space
        tag = self._next_tag
        self._next_tag = (tag + 1) % self._tag_space
        return tag

    # -- Replies -----------------------------------------------------------------------------

    def _receive(self, port, wavelet):
        """A sink's callback: collect replies on west ports, keep everything else."""
        # Replies travel in their own channel (ctrl set), so other traffic may come between a
        # reply's wavelets; a reply itself arrives whole.
        is_reply = port.side == Direction.WEST and wavelet.addressed and wavelet.ctrl
        if is_reply:
            self._open.setdefault(port, []).append(wavelet)
        else:
            self.received[port].append(wavelet)
            if self.on_traffic is not None:
                self.on_traffic(port, wavelet)
            return
        if wavelet.last:
            self._reply(port, self._open.pop(port))

    def _reply(self, port, packet):
        head = self.codec.header_fields(packet[0].data)
        if head["x"] != -1:
            raise ReplyError(f"{self.port_name(port)}: a packet addressed to ({head['x']}, "
                             f"{head['y']}) (info {head['info']}, {len(packet)} wavelets) left "
                             f"the fabric here; only replies (to x = -1) should")
        request = self._pending.get(head["info"])
        if request is None:
            raise ReplyError(f"{self.port_name(port)}: a reply with tag {head['info']} that no "
                             f"request waits for ({len(packet)} wavelets, header {head})")
        if port != request.reply_port:
            raise ReplyError(f"reply to {request.describe()} arrived on "
                             f"{self.port_name(port)} with header {head}, expected on "
                             f"{self.port_name(request.reply_port)}")
        del self._pending[request.tag]
        self._tag_freed.set()
        request.reply = [w.data for w in packet[1:]]
        request.done.set()


class HostWatchdog(Watchdog):
    """The stream watchdog, knowing the host's outstanding requests.

    Busy while a request waits for its reply or a port has wavelets to send. Its message names
    each stuck port with the tile beside it, and the requests waiting on each reply port, for
    example ``no progress for 2000 cycles: west_out[1] (tile (0, 1)) held not ready,
    2 replies outstanding: READ of tile (3, 1) words [0, 16) (tag 5), ...``.
    """

    def __init__(self, host, *, limit=2000):
        super().__init__(host.clock, sources=host.sources.values(), sinks=host.sinks.values(),
                         limit=limit)
        self.host = host

    def busy(self):
        return bool(self.host._pending) or any(s.pending for s in self.sources)

    def report(self, cycles):
        parts = []
        pending = list(self.host._pending.values())
        for port, sink in self.host.sinks.items():
            notes = []
            waiting = [r for r in pending if r.reply_port == port]
            if sink.stalled:
                notes.append("valid but not ready")
            elif sink.held_back and waiting:
                notes.append("held not ready")
            if waiting:
                shown = ", ".join(r.describe() for r in waiting[:3])
                more = ", ..." if len(waiting) > 3 else ""
                noun = "reply" if len(waiting) == 1 else "replies"
                notes.append(f"{len(waiting)} {noun} outstanding: {shown}{more}")
            if notes:
                parts.append(f"{sink.name} {', '.join(notes)}")
        parts += self.source_notes()
        return f"no progress for {cycles} cycles: " + ("; ".join(parts) or "no port stalled")


async def gather(*coroutines):
    """Run coroutines as concurrent cocotb tasks; return their results in order.

    If any raised, the first one's exception (in argument order) is raised here once all have
    finished.
    """
    async def capture(coroutine):
        try:
            return await coroutine, None
        except Exception as e:      # handed to the caller below
            return None, e

    tasks = [cocotb.start_soon(capture(c)) for c in coroutines]
    outcomes = [await task for task in tasks]
    for _, error in outcomes:
        if error is not None:
            raise error
    return [result for result, _ in outcomes]
