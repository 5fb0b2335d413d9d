"""The tile's SRAM: ``sram_bytes`` of ``data_width``-bit words in ``sram_banks`` banks.

Word addresses are interleaved across the banks by their low bits: word ``a`` lives in bank
``a % banks``, row ``a // banks``. Consecutive words (a unit-stride vector) therefore sit in
different banks, and a compute core with one port per bank reads ``banks`` of them per cycle.

Each bank is its own :class:`amaranth.lib.memory.Memory` with one synchronous read port and one
write port: a simple-dual-port memory, which is what an FPGA block RAM (ECP5 DP16KD) is, so the
banks map onto block RAM rather than LUTs.

Two kinds of port share the banks:

- ``agent`` (a :class:`MemoryPortSignature`): one word address over the whole memory, for the
  tile's memory agent (host loads and read-back, wavelets from the router's RAMP).
- ``lanes[k]``: bank ``k``'s read and write ports by row, for the compute core.

When the agent and lane ``k`` want the same port (read or write) of bank ``k`` in the same cycle,
the agent wins and the lane's ``read_grant`` / ``write_grant`` is low. The agent has no stall
signal, so it must never lose; a core can wait. Users' guide and FPGA figures: ``docs/sram.md``.
"""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from .params import ParamError

__all__ = ["BankPortSignature", "MemoryPortSignature", "TileMemory", "word_location", "word_address"]


def _check_memory_params(params):
    """The memory's three parameters, validated: ``(data_width, sram_bytes, sram_banks)``."""
    values = []
    for name in ("data_width", "sram_bytes", "sram_banks"):
        if not hasattr(params, name):
            raise TypeError(f"params must have a {name} attribute (a FabricParams), "
                            f"not {params!r}")
        value = getattr(params, name)
        # bool is an int subclass; a flag is never a size.
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an integer, not {value!r} ({type(value).__name__})")
        if value <= 0:
            raise ParamError(f"{name} must be a positive integer, not {value}")
        values.append(value)
    data_width, sram_bytes, sram_banks = values
    if data_width % 8:
        raise ParamError(f"data_width must be a whole number of bytes (a multiple of 8), "
                         f"not {data_width}")
    # Interleaving by the low address bits needs a power-of-two bank count.
    if sram_banks & (sram_banks - 1):
        raise ParamError(f"sram_banks must be a power of two, not {sram_banks}")
    if sram_bytes % (sram_banks * data_width // 8):
        raise ParamError(f"sram_bytes must be a multiple of sram_banks * data_width/8 = "
                         f"{sram_banks * data_width // 8}, not {sram_bytes}")
    return data_width, sram_bytes, sram_banks


def word_location(addr, banks):
    """``(bank, row)`` of word address ``addr`` in a memory of ``banks`` banks."""
    return addr % banks, addr // banks


def word_address(bank, row, banks):
    """The word address of ``row`` in ``bank``: the inverse of :func:`word_location`."""
    return row * banks + bank


class MemoryPortSignature(wiring.Signature):
    """The agent port: one word address over the whole memory, as the initiator sees it.

    Parameters
    ----------
    data_width : int
        Bits of a word.
    total_words : int
        Words in the memory.

    Members
    -------
    addr : ``Out(range(total_words))``
        Word address. A write to an address of ``total_words`` or more is ignored; a read of one
        returns an unspecified word.
    read : ``Out(1)``
        Read ``addr``; the word is on ``rdata`` in the next cycle.
    write : ``Out(1)``
        Write ``wdata`` to ``addr`` at the end of this cycle.
    wdata : ``Out(data_width)``
    rdata : ``In(data_width)``
        The word read in the previous cycle (unspecified after a cycle without ``read``).
    """

    def __init__(self, *, data_width, total_words):
        self._data_width = data_width
        self._total_words = total_words
        super().__init__({
            "addr": Out(range(total_words)),
            "read": Out(1),
            "write": Out(1),
            "wdata": Out(data_width),
            "rdata": In(data_width),
        })

    @property
    def data_width(self):
        return self._data_width

    @property
    def total_words(self):
        return self._total_words

    def __eq__(self, other):
        return (isinstance(other, MemoryPortSignature) and self.data_width == other.data_width
                and self.total_words == other.total_words)

    def __hash__(self):
        return hash((MemoryPortSignature, self.data_width, self.total_words))

    def __repr__(self):
        return (f"MemoryPortSignature(data_width={self.data_width}, "
                f"total_words={self.total_words})")


class BankPortSignature(wiring.Signature):
    """One bank's port, as the compute core (the initiator) sees it.

    Read and write have their own rows because the bank is simple-dual-port: one read and one
    write per cycle, at different rows if need be.

    Parameters
    ----------
    data_width : int
        Bits of a word.
    bank_words : int
        Rows in the bank.

    Members
    -------
    read : ``Out(1)``
        Read ``read_row`` this cycle (taken only if ``read_grant`` is high).
    read_row : ``Out(range(bank_words))``
    rdata : ``In(data_width)``
        The word of a granted read, in the cycle after it. Holds until the bank's read port is
        used again (by this lane or by the agent).
    read_grant : ``In(1)``
        The bank's read port is free for this lane this cycle (the agent is not reading this
        bank). Depends only on the agent's members, never on this lane's.
    write : ``Out(1)``
        Write ``wdata`` to ``write_row`` at the end of this cycle (taken only if ``write_grant``
        is high).
    write_row : ``Out(range(bank_words))``
    wdata : ``Out(data_width)``
    write_mask : ``Out(data_width // 8)``
        The bytes of ``wdata`` written (bit ``i``: byte ``i``); the others keep their value.
    write_grant : ``In(1)``
        The bank's write port is free for this lane this cycle (the agent is not writing this
        bank). Depends only on the agent's members, never on this lane's.
    """

    def __init__(self, *, data_width, bank_words):
        self._data_width = data_width
        self._bank_words = bank_words
        super().__init__({
            "read": Out(1),
            "read_row": Out(range(bank_words)),
            "rdata": In(data_width),
            "read_grant": In(1),
            "write": Out(1),
            "write_row": Out(range(bank_words)),
            "wdata": Out(data_width),
            "write_mask": Out(data_width // 8),
            "write_grant": In(1),
        })

    @property
    def data_width(self):
        return self._data_width

    @property
    def bank_words(self):
        return self._bank_words

    def __eq__(self, other):
        return (isinstance(other, BankPortSignature) and self.data_width == other.data_width
                and self.bank_words == other.bank_words)

    def __hash__(self):
        return hash((BankPortSignature, self.data_width, self.bank_words))

    def __repr__(self):
        return (f"BankPortSignature(data_width={self.data_width}, "
                f"bank_words={self.bank_words})")


class TileMemory(wiring.Component):
    """A tile's SRAM: interleaved banks of block RAM with an agent port and one lane per bank.

    Word ``a`` is in bank ``a % banks`` at row ``a // banks``.

    Timing: a read requested in cycle ``t`` (``read`` high, or a lane's ``read`` with
    ``read_grant``) has its word on ``rdata`` in cycle ``t + 1``; a write in cycle ``t`` is seen
    by reads in the same cycle ``t`` (a read and a write of the same word in one cycle read the
    new word) and later. One access per port per cycle, back to back.

    Parameters
    ----------
    params : FabricParams
        Uses ``data_width`` (bits per word, a multiple of 8), ``sram_bytes`` (a multiple of
        ``sram_banks * data_width / 8``) and ``sram_banks`` (a power of two).

    Members
    -------
    agent : ``In(MemoryPortSignature(data_width=..., total_words=...))``
        The memory agent's port: a word address over the whole memory, reads with one cycle of
        latency.
    lanes : ``In(BankPortSignature(data_width=..., bank_words=...)).array(banks)``
        ``lanes[k]`` reads and writes bank ``k`` by row. The agent has priority: a lane's read
        (write) is not taken in a cycle in which the agent reads (writes) the same bank, and its
        ``read_grant`` (``write_grant``) is low then. A lane never blocks the agent.

    Raises
    ------
    TypeError
        If ``params`` lacks one of the three values, or one is not an integer.
    ValueError
        (:class:`~tessera.hdl.params.ParamError`) if a value breaks its rule.
    """

    def __init__(self, params):
        data_width, sram_bytes, banks = _check_memory_params(params)
        self._params = params
        self._data_width = data_width
        self._banks = banks
        self._bank_words = sram_bytes // (banks * data_width // 8)
        self._total_words = banks * self._bank_words
        super().__init__({
            "agent": In(MemoryPortSignature(data_width=data_width,
                                            total_words=self._total_words)),
            "lanes": In(BankPortSignature(data_width=data_width,
                                          bank_words=self._bank_words)).array(banks),
        })

    @property
    def params(self):
        return self._params

    @property
    def data_width(self):
        """Bits per word."""
        return self._data_width

    @property
    def banks(self):
        """Number of banks (and of lanes)."""
        return self._banks

    @property
    def bank_words(self):
        """Rows (words) per bank."""
        return self._bank_words

    @property
    def total_words(self):
        """Words in the whole memory."""
        return self._total_words

    def location(self, addr):
        """``(bank, row)`` of word address ``addr``."""
        if not 0 <= addr < self._total_words:
            raise ValueError(f"Word address must be in range(0, {self._total_words}), "
                             f"not {addr!r}")
        return word_location(addr, self._banks)

    def elaborate(self, platform):
        m = Module()
        agent = self.agent
        bank_bits = (self._banks - 1).bit_length()

        # The low address bits pick the bank, the rest the row (banks is a power of two).
        # One bank: the address is the row, and no zero-width bank signal reaches the Verilog.
        agent_bank, agent_row = 0, agent.addr
        if bank_bits:
            agent_bank = Signal(range(self._banks))
            agent_row = Signal(range(self._bank_words))
            m.d.comb += [agent_bank.eq(agent.addr[:bank_bits]),
                         agent_row.eq(agent.addr[bank_bits:])]
        # Only a power-of-two total fills the address field; otherwise the field can name
        # words that do not exist, and writing one must not alias onto one that does.
        if self._total_words & (self._total_words - 1):
            agent_write = Signal()
            m.d.comb += agent_write.eq(agent.write & (agent.addr < self._total_words))
        else:
            agent_write = agent.write  # no copy: it would give the module's port its name

        all_bytes = (1 << (self._data_width // 8)) - 1
        bank_rdata = []
        for k in range(self._banks):
            bank = memory.Memory(shape=self._data_width, depth=self._bank_words, init=[])
            m.submodules[f"bank_{k}"] = bank
            # Transparent: a read during a write of the same row returns the new word. Yosys's
            # ECP5 block RAM model leaves that collision undefined, so it adds a bypass either
            # way; the transparent one is the cheaper (a data register and a mux, not a delayed
            # write as well) and is what a pipeline wants (no stale operand).
            # Byte enables: a core writes int8 and int16 elements into words it shares with
            # others.
            wp = bank.write_port(granularity=8)
            rp = bank.read_port(transparent_for=(wp,))
            lane = self.lanes[k]
            agent_reads = Signal(name=f"agent_reads_{k}")
            agent_writes = Signal(name=f"agent_writes_{k}")
            m.d.comb += [
                agent_reads.eq(agent.read & (agent_bank == k)),
                agent_writes.eq(agent_write & (agent_bank == k)),
                lane.read_grant.eq(~agent_reads),
                lane.write_grant.eq(~agent_writes),
                lane.rdata.eq(rp.data),
            ]
            # The agent's access, else the lane's (the grant is the agent's absence).
            with m.If(agent_reads):
                m.d.comb += [rp.addr.eq(agent_row), rp.en.eq(1)]
            with m.Else():
                m.d.comb += [rp.addr.eq(lane.read_row), rp.en.eq(lane.read)]
            with m.If(agent_writes):
                m.d.comb += [wp.addr.eq(agent_row), wp.data.eq(agent.wdata), wp.en.eq(all_bytes)]
            with m.Else():
                m.d.comb += [wp.addr.eq(lane.write_row), wp.data.eq(lane.wdata),
                             wp.en.eq(Mux(lane.write, lane.write_mask, 0))]
            bank_rdata.append(rp.data)

        # The agent's word comes from the bank it addressed in the previous cycle.
        if bank_bits:
            read_bank = Signal(range(self._banks))
            with m.If(agent.read):
                m.d.sync += read_bank.eq(agent_bank)
            m.d.comb += agent.rdata.eq(Array(bank_rdata)[read_bank])
        else:
            m.d.comb += agent.rdata.eq(bank_rdata[0])
        return m
