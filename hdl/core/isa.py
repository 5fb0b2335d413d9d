"""The core's instruction set: opcodes, fields, encodings, element types, faults.

One table (:data:`INSTRUCTIONS`) says, for every mnemonic, its opcode, its format and its
operands; the assembler, the disassembler, the reference model and the hardware's decoder all
read it, so they cannot disagree about an encoding. The user's description is ``docs/isa.md``.

Every instruction is one 32-bit word; bits 31:26 are the opcode. Opcode 0 is illegal, so a word
of zeroes (unloaded program memory) faults instead of running.
"""

import enum

__all__ = ["WORD_BITS", "NUM_REGS", "NUM_DESCRIPTORS", "MAX_TASKS", "MAX_ACCUMULATORS",
           "Opcode", "AluFunc", "AccFunc", "ElemType", "DescKind", "DescField", "Csr", "Fault",
           "CompletionAction", "Field", "FORMATS", "Instruction", "INSTRUCTIONS",
           "BY_OPCODE", "encode", "decode", "field_range", "sign_extend",
           "TaskEntry", "IMAGE_MAGIC", "IMAGE_VERSION", "PROGRAM_BASE", "CORE_REGS_BASE",
           "CoreReg", "CoreControl"]

WORD_BITS = 32
NUM_REGS = 16             # r0..r15; r0 reads 0 and ignores writes
NUM_DESCRIPTORS = 8       # d0..d7
MAX_TASKS = 64            # a task id is 6 bits
MAX_ACCUMULATORS = 8      # an accumulator index is 3 bits
DESC_FIELD_BITS = 16      # every descriptor field (base, lengths, strides) is 16 bits


class Opcode(enum.IntEnum):
    """Bits 31:26 of an instruction."""
    ALU = 0x01        # register-register arithmetic; the function is in bits 3:0
    ADDI = 0x02
    ANDI = 0x03
    ORI = 0x04
    XORI = 0x05
    SLLI = 0x06
    SRLI = 0x07
    SRAI = 0x08
    SLTI = 0x09
    LUI = 0x0A
    LD = 0x0B
    ST = 0x0C
    BEQ = 0x10
    BNE = 0x11
    BLT = 0x12
    BGE = 0x13
    BLTU = 0x14
    BGEU = 0x15
    JMP = 0x16
    ACTIVATE = 0x18
    BLOCK = 0x19
    UNBLOCK = 0x1A
    RET = 0x1B
    HALT = 0x1C
    SEND = 0x1D
    RECV = 0x1E
    CSR = 0x1F
    DSET = 0x20
    DSETI = 0x21
    ACC = 0x22
    VMOV = 0x28
    VADD = 0x29
    VSUB = 0x2A
    VMUL = 0x2B
    VMAX = 0x2C
    VMIN = 0x2D
    VDOT = 0x2E
    VAXPY = 0x2F
    VNARROW = 0x30


class AluFunc(enum.IntEnum):
    """Bits 3:0 of an ``ALU`` instruction."""
    ADD = 0
    SUB = 1
    AND = 2
    OR = 3
    XOR = 4
    SLL = 5
    SRL = 6
    SRA = 7
    SLT = 8
    SLTU = 9
    MUL = 10


class AccFunc(enum.IntEnum):
    """Bits 17:16 of an ``ACC`` instruction."""
    CLR = 0     # a[k] = 0
    LO = 1      # rd = bits 31:0 of a[k]
    HI = 2      # rd = bits 63:32 of a[k] sign-extended to 64 bits
    SAT = 3     # rd = a[k] >> shift, saturated to int32


class ElemType(enum.IntEnum):
    """Element type of a vector instruction (bits 16:15; a narrowing's target in 14:13)."""
    I8 = 0
    I16 = 1
    I32 = 2
    I64 = 3   # two words, low word first: dot products' per-row sums, wide reductions

    @property
    def bits(self):
        return 8 << self.value

    @property
    def suffix(self):
        return self.name.lower()


class DescKind(enum.IntEnum):
    """What a descriptor register describes (its ``kind`` field)."""
    NONE = 0      # not set: using it faults (DESCRIPTOR)
    MEM = 1       # tile memory: base, len, stride, rows, rowstride
    FIN = 2       # fabric in: a color's input queue, len x rows elements
    FOUT = 3      # fabric out: wavelets on a color, len x rows elements


class DescField(enum.IntEnum):
    """A descriptor register's fields (``dset``/``dseti``); each 16 bits."""
    KIND = 0
    BASE = 1        # word address of element (0, 0)
    LEN = 2         # elements per row (dimension 0)
    STRIDE = 3      # elements between consecutive elements of a row (signed)
    ROWS = 4        # rows (dimension 1)
    ROWSTRIDE = 5   # words between the starts of consecutive rows (signed)
    COLOR = 6       # FIN/FOUT: the color

    @property
    def signed(self):
        return self in (DescField.STRIDE, DescField.ROWSTRIDE)


class Csr(enum.IntEnum):
    """Registers read by ``csr rd, NAME``."""
    CYCLE = 0     # cycles since the core started (low 32 bits)
    X = 1         # this tile's column
    Y = 2         # this tile's row
    WDATA = 3     # data of the wavelet that started this data task
    TASK = 4      # the running task's id


class Fault(enum.IntEnum):
    """Why a core stopped with its fault flag set (the status register's cause field)."""
    NONE = 0
    ILLEGAL_INSTRUCTION = 1   # an opcode or function that does not exist, a bad type or field
    PC_RANGE = 2              # the program counter left program memory
    MEMORY_RANGE = 3          # a load, store or memory descriptor reaches outside the memory
    DESCRIPTOR = 4            # a descriptor of the wrong kind or length for its operand
    TASK = 5                  # a task id that is not declared, or activating a data task


class CompletionAction(enum.IntEnum):
    """What an asynchronous vector instruction does to its task when it completes (bit 6)."""
    ACTIVATE = 0
    UNBLOCK = 1


class Field:
    """A field of an instruction word: ``width`` bits from bit ``lo``, optionally signed."""

    def __init__(self, lo, width, signed=False):
        self.lo, self.width, self.signed = lo, width, signed

    @property
    def mask(self):
        return (1 << self.width) - 1

    def __repr__(self):
        return f"Field(lo={self.lo}, width={self.width}, signed={self.signed})"


def field_range(field):
    """``(lowest, highest)`` value a field holds."""
    if field.signed:
        return -(1 << (field.width - 1)), (1 << (field.width - 1)) - 1
    return 0, field.mask


def sign_extend(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# The formats: which fields an instruction word has besides its opcode. A field's name is the
# name an assembler operand fills.
FORMATS = {
    "R":      {"rd": Field(22, 4), "rs1": Field(18, 4), "rs2": Field(14, 4), "func": Field(0, 4)},
    "I":      {"rd": Field(22, 4), "rs1": Field(18, 4), "imm": Field(0, 18, signed=True)},
    "U":      {"rd": Field(22, 4), "imm": Field(0, 22)},
    "S":      {"rs2": Field(22, 4), "rs1": Field(18, 4), "imm": Field(0, 18, signed=True)},
    "B":      {"rs1": Field(22, 4), "rs2": Field(18, 4), "offset": Field(0, 18, signed=True)},
    "J":      {"target": Field(0, 16)},
    "T":      {"rs1": Field(22, 4), "use_reg": Field(6, 1), "task": Field(0, 6)},
    "N":      {},
    "SEND":   {"rs1": Field(22, 4), "ctrl": Field(13, 1), "color": Field(0, 8)},
    "RECV":   {"rd": Field(22, 4), "color": Field(0, 8)},
    "CSR":    {"rd": Field(22, 4), "csr": Field(0, 8)},
    "DSET":   {"desc": Field(23, 3), "field": Field(19, 4), "rs1": Field(15, 4)},
    "DSETI":  {"desc": Field(23, 3), "field": Field(19, 4), "imm": Field(0, 19, signed=True)},
    "ACC":    {"rd": Field(22, 4), "acc": Field(18, 3), "func": Field(16, 2),
               "shift": Field(0, 6)},
    "V":      {"dst": Field(23, 3), "src0": Field(20, 3), "src1": Field(17, 3),
               "type": Field(15, 2), "dtype": Field(13, 2), "to_acc": Field(13, 1),
               "shift": Field(8, 5), "scalar": Field(8, 4), "async_": Field(7, 1),
               "on_done": Field(6, 1), "task": Field(0, 6)},
}
# "V" shares bits between fields no instruction uses together: dtype (vnarrow) and to_acc
# (vdot); shift (vnarrow) and scalar (vaxpy).

OPCODE_FIELD = Field(26, 6)


class Instruction:
    """One mnemonic: its opcode, format, fixed fields and assembler operands.

    ``operands`` is the assembler's operand list, each ``(kind, field)``: kinds ``reg``,
    ``imm``, ``label`` (an absolute program address), ``offset`` (a label made relative to the
    instruction), ``task``, ``color``, ``desc``, ``dfield``, ``csr``, ``acc``.
    ``fixed`` are fields the mnemonic sets itself (an ALU function, a ctrl bit).
    """

    def __init__(self, mnemonic, opcode, fmt, operands=(), fixed=None, summary=""):
        self.mnemonic = mnemonic
        self.opcode = opcode
        self.format = fmt
        self.operands = tuple(operands)
        self.fixed = dict(fixed or {})
        self.summary = summary

    @property
    def fields(self):
        return FORMATS[self.format]

    def __repr__(self):
        return f"Instruction({self.mnemonic!r})"


def _alu(name, func, summary):
    return Instruction(name, Opcode.ALU, "R", [("reg", "rd"), ("reg", "rs1"), ("reg", "rs2")],
                       {"func": func}, summary)


def _imm(name, opcode, summary):
    return Instruction(name, opcode, "I", [("reg", "rd"), ("reg", "rs1"), ("imm", "imm")],
                       summary=summary)


def _branch(name, opcode, summary):
    return Instruction(name, opcode, "B", [("reg", "rs1"), ("reg", "rs2"),
                                           ("offset", "offset")], summary=summary)


def _task(name, opcode, summary):
    return Instruction(name, opcode, "T", [("task", "task")], summary=summary)


# Vector instructions: the mnemonic takes a type suffix (vadd.i16); operands are descriptors.
VECTOR_OPS = {
    Opcode.VMOV: ("vmov", 1, "d = s0"),
    Opcode.VADD: ("vadd", 2, "d = s0 + s1 (wrapping)"),
    Opcode.VSUB: ("vsub", 2, "d = s0 - s1 (wrapping)"),
    Opcode.VMUL: ("vmul", 2, "d = s0 * s1 (low bits)"),
    Opcode.VMAX: ("vmax", 2, "d = max(s0, s1) (signed)"),
    Opcode.VMIN: ("vmin", 2, "d = min(s0, s1) (signed)"),
    Opcode.VDOT: ("vdot", 2, "per row: d = sum s0*s1 (i64), or into an accumulator"),
    Opcode.VAXPY: ("vaxpy", 2, "d = r * s0 + s1 (r a scalar register; wrapping)"),
    Opcode.VNARROW: ("vnarrow", 1, "d = saturate(s0 >> shift) to a narrower type"),
}

INSTRUCTIONS = {}
for _i in [
    _alu("add", AluFunc.ADD, "rd = rs1 + rs2"),
    _alu("sub", AluFunc.SUB, "rd = rs1 - rs2"),
    _alu("and", AluFunc.AND, "rd = rs1 & rs2"),
    _alu("or", AluFunc.OR, "rd = rs1 | rs2"),
    _alu("xor", AluFunc.XOR, "rd = rs1 ^ rs2"),
    _alu("sll", AluFunc.SLL, "rd = rs1 << (rs2 & 31)"),
    _alu("srl", AluFunc.SRL, "rd = rs1 >> (rs2 & 31), zeroes in"),
    _alu("sra", AluFunc.SRA, "rd = rs1 >> (rs2 & 31), sign in"),
    _alu("slt", AluFunc.SLT, "rd = 1 if rs1 < rs2 (signed) else 0"),
    _alu("sltu", AluFunc.SLTU, "rd = 1 if rs1 < rs2 (unsigned) else 0"),
    _alu("mul", AluFunc.MUL, "rd = low 32 bits of rs1 * rs2"),
    _imm("addi", Opcode.ADDI, "rd = rs1 + imm"),
    _imm("andi", Opcode.ANDI, "rd = rs1 & imm"),
    _imm("ori", Opcode.ORI, "rd = rs1 | imm"),
    _imm("xori", Opcode.XORI, "rd = rs1 ^ imm"),
    _imm("slli", Opcode.SLLI, "rd = rs1 << (imm & 31)"),
    _imm("srli", Opcode.SRLI, "rd = rs1 >> (imm & 31), zeroes in"),
    _imm("srai", Opcode.SRAI, "rd = rs1 >> (imm & 31), sign in"),
    _imm("slti", Opcode.SLTI, "rd = 1 if rs1 < imm (signed) else 0"),
    Instruction("lui", Opcode.LUI, "U", [("reg", "rd"), ("imm", "imm")],
                summary="rd = imm << 10"),
    Instruction("ld", Opcode.LD, "I", [("reg", "rd"), ("mem", "imm")],
                summary="rd = memory[rs1 + imm]"),
    Instruction("st", Opcode.ST, "S", [("reg", "rs2"), ("mem", "imm")],
                summary="memory[rs1 + imm] = rs2"),
    _branch("beq", Opcode.BEQ, "branch if rs1 == rs2"),
    _branch("bne", Opcode.BNE, "branch if rs1 != rs2"),
    _branch("blt", Opcode.BLT, "branch if rs1 < rs2 (signed)"),
    _branch("bge", Opcode.BGE, "branch if rs1 >= rs2 (signed)"),
    _branch("bltu", Opcode.BLTU, "branch if rs1 < rs2 (unsigned)"),
    _branch("bgeu", Opcode.BGEU, "branch if rs1 >= rs2 (unsigned)"),
    Instruction("jmp", Opcode.JMP, "J", [("label", "target")], summary="pc = target"),
    _task("activate", Opcode.ACTIVATE, "mark a local task active"),
    _task("block", Opcode.BLOCK, "block a task (it does not start until unblocked)"),
    _task("unblock", Opcode.UNBLOCK, "unblock a task"),
    Instruction("ret", Opcode.RET, "N", summary="end the running task"),
    Instruction("halt", Opcode.HALT, "N",
                summary="wait for every asynchronous vector op, set done, stop"),
    Instruction("send", Opcode.SEND, "SEND", [("reg", "rs1"), ("color", "color")],
                {"ctrl": 0}, "send rs1 as a data wavelet on a color"),
    Instruction("sendc", Opcode.SEND, "SEND", [("reg", "rs1"), ("color", "color")],
                {"ctrl": 1}, "send rs1 as a control wavelet on a color"),
    Instruction("recv", Opcode.RECV, "RECV", [("reg", "rd"), ("color", "color")],
                summary="rd = the next data wavelet of a color (waits for one)"),
    Instruction("csr", Opcode.CSR, "CSR", [("reg", "rd"), ("csr", "csr")],
                summary="rd = a core register (cycle, x, y, wdata, task)"),
    Instruction("dset", Opcode.DSET, "DSET", [("desc", "desc"), ("dfield", "field"),
                                              ("reg", "rs1")],
                summary="a descriptor's field = low 16 bits of rs1"),
    Instruction("dseti", Opcode.DSETI, "DSETI", [("desc", "desc"), ("dfield", "field"),
                                                 ("imm", "imm")],
                summary="a descriptor's field = imm"),
    Instruction("accclr", Opcode.ACC, "ACC", [("acc", "acc")], {"func": AccFunc.CLR},
                "a[k] = 0"),
    Instruction("acclo", Opcode.ACC, "ACC", [("reg", "rd"), ("acc", "acc")],
                {"func": AccFunc.LO}, "rd = bits 31:0 of a[k]"),
    Instruction("acchi", Opcode.ACC, "ACC", [("reg", "rd"), ("acc", "acc")],
                {"func": AccFunc.HI}, "rd = bits 63:32 of a[k]"),
    Instruction("accsat", Opcode.ACC, "ACC", [("reg", "rd"), ("acc", "acc"), ("imm", "shift")],
                {"func": AccFunc.SAT}, "rd = a[k] >> shift, saturated to int32"),
]:
    INSTRUCTIONS[_i.mnemonic] = _i

for _op, (_name, _sources, _summary) in VECTOR_OPS.items():
    _operands = [("vdst", "dst"), ("desc", "src0")]
    if _op == Opcode.VAXPY:
        _operands = [("vdst", "dst"), ("reg", "scalar"), ("desc", "src0"), ("desc", "src1")]
    elif _sources == 2:
        _operands.append(("desc", "src1"))
    if _op == Opcode.VNARROW:
        _operands.append(("imm", "shift"))
    INSTRUCTIONS[_name] = Instruction(_name, _op, "V", _operands, summary=_summary)

# The instructions of each opcode; an ALU, ACC or SEND opcode has several, told apart by fixed
# fields.
BY_OPCODE = {}
for _i in INSTRUCTIONS.values():
    BY_OPCODE.setdefault(_i.opcode, []).append(_i)


def encode(instruction, fields):
    """The word of ``instruction`` (an :class:`Instruction`) with these field values.

    ``fields`` are the instruction's operand fields; the fixed ones are added here. Values must
    be in range (:func:`field_range`); a :class:`ValueError` names the first that is not.
    """
    word = int(instruction.opcode) << OPCODE_FIELD.lo
    values = dict(fields)
    values.update(instruction.fixed)
    layout = FORMATS[instruction.format]
    for name, value in values.items():
        f = layout[name]
        low, high = field_range(f)
        if not low <= int(value) <= high:
            raise ValueError(f"{name} must be in {low}..{high}, not {value}")
        word |= (int(value) & f.mask) << f.lo
    return word


def decode(word):
    """``(instruction, fields)`` of an instruction word, or ``(None, {})`` if it is illegal.

    Fields are read by the instruction's format (signed ones sign-extended). The bits no field
    of the format covers are ignored.
    """
    opcode = (word >> OPCODE_FIELD.lo) & OPCODE_FIELD.mask
    candidates = BY_OPCODE.get(opcode)
    if not candidates:
        return None, {}
    layout = FORMATS[candidates[0].format]
    fields = {}
    for name, f in layout.items():
        raw = (word >> f.lo) & f.mask
        fields[name] = sign_extend(raw, f.width) if f.signed else raw
    for inst in candidates:
        if all(fields[k] == v for k, v in inst.fixed.items()):
            return inst, fields
    return None, {}


class TaskEntry:
    """One word of the task table, at program address ``task id``.

    Bits: 15:0 entry address; 16 declared; 17 data task (bound to the color of its id); 18
    active at start; 19 blocked at start.
    """

    def __init__(self, entry=0, *, declared=True, data=False, active=False, blocked=False):
        self.entry, self.declared, self.data = entry, declared, data
        self.active, self.blocked = active, blocked

    def word(self):
        return (self.entry & 0xFFFF | self.declared << 16 | self.data << 17
                | self.active << 18 | self.blocked << 19)

    @classmethod
    def from_word(cls, word):
        return cls(word & 0xFFFF, declared=bool(word >> 16 & 1), data=bool(word >> 17 & 1),
                   active=bool(word >> 18 & 1), blocked=bool(word >> 19 & 1))

    def __eq__(self, other):
        return isinstance(other, TaskEntry) and self.word() == other.word()

    def __repr__(self):
        return (f"TaskEntry({self.entry}, declared={self.declared}, data={self.data}, "
                f"active={self.active}, blocked={self.blocked})")


# The core as the memory agent sees it (docs/isa.md, "The host's view"): word addresses of a
# READ or WRITE request beyond the SRAM.
PROGRAM_BASE = 0x4000        # program memory: PROGRAM_BASE + word, up to 12K words
CORE_REGS_BASE = 0x7000      # the core's control and counter registers


class CoreReg(enum.IntEnum):
    """The core's registers at ``CORE_REGS_BASE + n`` (all read-only but CONTROL)."""
    CONTROL = 0           # write 1: start (or restart); write 2: stop
    STATUS = 1            # bit 0 running, 1 done, 2 fault; bits 7:4 the Fault cause
    FAULT_PC = 2          # the faulting instruction's address (0xFFFF: none, a control wavelet)
    CYCLES = 3            # cycles since start
    BUSY = 4              # cycles a task or a vector op ran
    MACS_LO = 5           # multiply-accumulates (vdot, vaxpy elements), low word
    MACS_HI = 6
    TASKS_RUN = 7         # tasks started
    INSTRUCTIONS = 8      # instructions executed
    STALL_BANK = 9        # cycles a stream waited for a bank (the agent or another stream)
    STALL_QUEUE_EMPTY = 10  # cycles a stream or recv waited for a wavelet
    STALL_OUTPUT = 11     # cycles a stream or send waited for the router to take a wavelet
    STALL_NO_TASK = 12    # cycles running with no task ready and no vector op in flight


class CoreControl(enum.IntEnum):
    START = 1
    STOP = 2


# A program image file: this magic, then little-endian u16 version, u16 task-table size,
# u32 word count, then the words (task table first).
IMAGE_MAGIC = b"TSPE"
IMAGE_VERSION = 1
