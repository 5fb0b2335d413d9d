"""PE programs: a builder (the Python programming API) and the program image it makes.

A :class:`Program` collects task declarations, labels and instructions, checks every operand,
and :meth:`Program.build` resolves labels into a :class:`ProgramImage`: the words of program
memory (the task table, then the code) that the tile's memory agent loads. The assembler
(:mod:`.asm`) parses text into calls of this same builder, so a program written in Python and
one written in assembly are the same thing.

::

    p = Program(params)
    p.task("main", active=True)
    p.label("main")
    p.li("r1", 42)
    p.send("r1", 3)
    p.halt()
    image = p.build()

Instructions are methods named by their mnemonic (``p.addi("r1", "r0", 5)``); a vector
instruction's type goes in the name with ``_`` for ``.`` (``p.vadd_i16("d2", "d0", "d1")``) or
through :meth:`Program.emit` (``p.emit("vadd.i16", "d2", "d0", "d1")``). Operands: registers
``"r0"``.. ``"r15"``, descriptors ``"d0"``.. ``"d7"``, accumulators ``"a0"``.., integers,
label and task names, :class:`Mem` for a load's or store's address, :class:`Async` for an
asynchronous vector instruction's completion. Errors are :class:`AsmError`: one line with the
rule and the offending text (and ``file:line:column`` when the text came from a file).
"""

import re
import struct

from ..hdl.core.isa import (FORMATS, IMAGE_MAGIC, IMAGE_VERSION, INSTRUCTIONS, NUM_DESCRIPTORS,
                            NUM_REGS, CompletionAction, Csr, DescField, DescKind, ElemType,
                            Opcode, TaskEntry, encode, field_range)

__all__ = ["AsmError", "Location", "Mem", "Async", "Program", "ProgramImage",
           "VECTOR_TYPES_ALLOWED", "parse_vector_mnemonic", "narrowing_ok"]


class AsmError(ValueError):
    """A bad program. The message is one line: where, the rule, the offending text."""


class Location:
    """Where a piece of program text came from (1-based line and column)."""

    def __init__(self, file, line, column):
        self.file, self.line, self.column = file, line, column

    def __str__(self):
        return f"{self.file}:{self.line}:{self.column}"


class Mem:
    """A load's or store's address: ``offset(base)``, base a register (``r0`` by default)."""

    def __init__(self, offset=0, base="r0"):
        self.offset, self.base = offset, base

    def __repr__(self):
        return f"Mem({self.offset!r}, {self.base!r})"


class Async:
    """An asynchronous vector instruction's completion: ``activate`` or ``unblock`` a task."""

    def __init__(self, action, task):
        self.action, self.task = action, task

    def __repr__(self):
        return f"Async({self.action!r}, {self.task!r})"


# Element types each vector operation takes (the hardware faults ILLEGAL_INSTRUCTION on others).
_ALL_TYPES = frozenset(ElemType)
VECTOR_TYPES_ALLOWED = {
    Opcode.VMOV: _ALL_TYPES, Opcode.VADD: _ALL_TYPES, Opcode.VSUB: _ALL_TYPES,
    Opcode.VMAX: _ALL_TYPES, Opcode.VMIN: _ALL_TYPES,
    Opcode.VMUL: _ALL_TYPES - {ElemType.I64}, Opcode.VDOT: _ALL_TYPES - {ElemType.I64},
    Opcode.VAXPY: _ALL_TYPES - {ElemType.I64},
    Opcode.VNARROW: _ALL_TYPES - {ElemType.I8},
}


def narrowing_ok(src_type, dst_type):
    """A narrowing goes from a type to a strictly narrower one."""
    return dst_type < src_type


_TYPE_NAMES = {t.suffix: t for t in ElemType}
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def parse_vector_mnemonic(mnemonic):
    """``(instruction, type, dtype)`` of ``vadd.i16`` / ``vnarrow.i32.i16``, or ``None`` if the
    text is not a vector mnemonic with types; raises :class:`AsmError` for a bad type."""
    parts = mnemonic.split(".")
    inst = INSTRUCTIONS.get(parts[0])
    if inst is None or inst.format != "V":
        return None
    wanted = 3 if inst.opcode == Opcode.VNARROW else 2
    if len(parts) != wanted:
        form = "vnarrow.FROM.TO (vnarrow.i32.i16)" if wanted == 3 else f"{parts[0]}.TYPE"
        raise AsmError(f"a vector mnemonic must be {form} with types i8, i16, i32, i64, "
                       f"not {mnemonic!r}")
    types = []
    for name in parts[1:]:
        if name not in _TYPE_NAMES:
            raise AsmError(f"an element type must be one of i8, i16, i32, i64, not {name!r} "
                           f"in {mnemonic!r}")
        types.append(_TYPE_NAMES[name])
    etype = types[0]
    if etype not in VECTOR_TYPES_ALLOWED[inst.opcode]:
        allowed = ", ".join(t.suffix for t in sorted(VECTOR_TYPES_ALLOWED[inst.opcode]))
        raise AsmError(f"{parts[0]} takes element types {allowed}, not {etype.suffix} in "
                       f"{mnemonic!r}")
    dtype = None
    if inst.opcode == Opcode.VNARROW:
        dtype = types[1]
        if not narrowing_ok(etype, dtype):
            raise AsmError(f"vnarrow must go to a narrower type, not {etype.suffix} to "
                           f"{dtype.suffix} in {mnemonic!r}")
    return inst, etype, dtype


class _Pending:
    """One instruction word whose operands may name labels not yet defined."""

    def __init__(self, inst, fields, location, text, address):
        self.inst, self.fields, self.location, self.text = inst, fields, location, text
        self.address = address


class ProgramImage:
    """The contents of a core's program memory: ``words`` (the task table, then the code).

    ``task_count`` words of task table come first (:class:`~tessera.hdl.core.isa.TaskEntry`),
    then code. ``symbols`` maps labels to addresses; ``task_names`` maps declared task ids to
    their names; ``lines`` maps code addresses to the text that made them.
    """

    def __init__(self, words, task_count, *, symbols=None, task_names=None, lines=None):
        self.words = [int(w) & 0xFFFFFFFF for w in words]
        self.task_count = task_count
        self.symbols = dict(symbols or {})
        self.task_names = dict(task_names or {})
        self.lines = dict(lines or {})

    def __len__(self):
        return len(self.words)

    def __eq__(self, other):
        return (isinstance(other, ProgramImage) and self.words == other.words
                and self.task_count == other.task_count)

    def tasks(self):
        """``{task id: TaskEntry}`` of the declared tasks."""
        out = {}
        for t in range(self.task_count):
            entry = TaskEntry.from_word(self.words[t])
            if entry.declared:
                out[t] = entry
        return out

    def to_bytes(self):
        """The image as a file: a 12-byte header (magic, version, task count, word count),
        then the words, little-endian."""
        header = IMAGE_MAGIC + struct.pack("<HHI", IMAGE_VERSION, self.task_count,
                                           len(self.words))
        return header + struct.pack(f"<{len(self.words)}I", *self.words)

    @classmethod
    def from_bytes(cls, raw, *, name="image"):
        """Read :meth:`to_bytes`'s format; :class:`ValueError` names what is wrong."""
        if len(raw) < 12 or raw[:4] != IMAGE_MAGIC:
            raise ValueError(f"{name} must be a Tessera program image (starting "
                             f"{IMAGE_MAGIC!r}), not {raw[:4]!r}...")
        version, task_count, count = struct.unpack("<HHI", raw[4:12])
        if version != IMAGE_VERSION:
            raise ValueError(f"{name} must be a version {IMAGE_VERSION} image, not version "
                             f"{version}")
        if len(raw) != 12 + 4 * count:
            raise ValueError(f"{name} must hold the {count} words its header says "
                             f"({12 + 4 * count} bytes), not {len(raw)} bytes")
        if task_count > count:
            raise ValueError(f"{name}'s task table ({task_count} words) must fit its "
                             f"{count} words")
        return cls(struct.unpack(f"<{count}I", raw[12:]), task_count)


class Program:
    """A PE program under construction; :meth:`build` makes its :class:`ProgramImage`.

    Parameters
    ----------
    params : FabricParams
        Uses ``core_tasks`` (the task table's size), ``core_program_words`` (the most words an
        image may have), ``core_accumulators`` and ``num_colors`` (the operand ranges).
    """

    def __init__(self, params):
        self._params = params
        self._tasks = {}          # id -> (name, TaskEntry, entry label, location)
        self._task_ids = {}       # name -> id
        self._raw_table = {}      # id -> word (.tableword)
        self._labels = {}         # name -> address
        self._label_locations = {}
        self._equ = {}
        self._code = []           # _Pending, or int for a raw word
        self._lines = {}
        self.location = None      # the Location of what is being emitted (set by the assembler)
        self.text = None          # its text, for error messages
        self.columns = None       # each operand's Location, when the assembler knows them
        self._focus = None        # the operand being checked

    @property
    def params(self):
        return self._params

    @property
    def address(self):
        """The program address the next instruction gets."""
        return self._params.core_tasks + len(self._code)

    # --- errors ---------------------------------------------------------------------------

    def _error(self, message, location=None):
        if location is None and self.columns and self._focus is not None \
                and self._focus < len(self.columns):
            location = self.columns[self._focus]
        location = location or self.location
        where = f"{location}: " if location is not None else ""
        raise AsmError(f"{where}{message}")

    # --- declarations ---------------------------------------------------------------------

    def equ(self, name, value):
        """A named constant usable wherever a number is."""
        self._check_new_symbol(name)
        self._equ[name] = self._number(value, "a constant's value")

    def label(self, name):
        """Name the address of the next instruction."""
        self._check_new_symbol(name)
        self._labels[name] = self.address
        self._label_locations[name] = self.location

    def _check_new_symbol(self, name):
        if not isinstance(name, str) or not re.fullmatch(_NAME, name):
            self._error(f"a label or constant name must be a letter or _ then letters, digits "
                        f"or _, not {name!r}")
        if _reserved(name):
            self._error(f"a label or constant must not be named like a register, descriptor "
                        f"or accumulator, not {name!r}")
        if name in self._labels or name in self._equ:
            first = self._label_locations.get(name)
            at = f" (first defined at {first})" if first is not None else ""
            self._error(f"a label or constant must be defined once, not again: {name!r}{at}")

    def task(self, name, kind="local", *, color=None, id=None, active=False, blocked=False,
             entry=None):
        """Declare a task; returns its id.

        ``kind`` ``"data"``: started by each data wavelet on ``color`` (its id is the color);
        ``"local"``: started by ``activate``, an asynchronous completion or a control wavelet
        (its id is ``id``, or the lowest free one from ``num_colors``). ``active`` / ``blocked``:
        its state when the core starts. ``entry``: the label it starts at (default: its name).
        """
        p = self._params
        if not isinstance(name, str) or not re.fullmatch(_NAME, name):
            self._error(f"a task name must be a letter or _ then letters, digits or _, "
                        f"not {name!r}")
        if name in self._task_ids:
            self._error(f"a task must be declared once, not again: {name!r}")
        if kind not in ("data", "local"):
            self._error(f"a task's kind must be data or local, not {kind!r}")
        if kind == "data":
            if color is None:
                self._error(f"a data task needs its color (color=N): {name!r}")
            color = self._color(color)
            if id is not None and self._number(id, "task id") != color:
                self._error(f"a data task's id is its color ({color}), not {id!r}")
            if color >= p.core_tasks:
                self._error(f"a data task's color must have a task id (below core_tasks = "
                            f"{p.core_tasks}), not {color}")
            tid = color
        else:
            if color is not None:
                self._error(f"only a data task has a color, not the local task {name!r}")
            if id is None:
                free = [t for t in range(p.core_tasks) if t not in self._tasks]
                later = [t for t in free if t >= p.num_colors]
                if not free:
                    self._error(f"a task needs a free task id (core_tasks = {p.core_tasks}), "
                                f"but every one is taken: {name!r}")
                tid = (later or free)[0]
            else:
                tid = self._task_id_number(id)
        if tid in self._tasks or tid in self._raw_table:
            other = self._tasks[tid][0] if tid in self._tasks else ".tableword"
            self._error(f"a task id must be declared once, but {tid} is {other!r} already: "
                        f"{name!r}")
        self._tasks[tid] = (name, TaskEntry(0, data=kind == "data", active=bool(active),
                                            blocked=bool(blocked)),
                            entry if entry is not None else name, self.location)
        self._task_ids[name] = tid
        return tid

    def table_word(self, task_id, value):
        """A raw task-table word (for images that are not canonical; the disassembler's)."""
        tid = self._task_id_number(task_id)
        if tid in self._tasks or tid in self._raw_table:
            self._error(f"a task id must be declared once, not again: {tid}")
        self._raw_table[tid] = self._word(value)

    def word(self, value):
        """A raw 32-bit word in the code (any bits: an illegal instruction, a constant)."""
        self._code.append(self._word(value))
        self._remember_line()

    def _word(self, value):
        value = self._number(value, "a word")
        if not -(1 << 31) <= value < (1 << 32):
            self._error(f"a word must fit 32 bits, not {value}")
        return value & 0xFFFFFFFF

    def _remember_line(self):
        self._lines[self.address - 1] = (self.location, self.text)

    # --- instructions ---------------------------------------------------------------------

    def __getattr__(self, name):
        # p.addi(...), p.vadd_i16(...), p.vnarrow_i32_i16(...)
        mnemonic = name.replace("_", ".") if name.startswith("v") else name
        if name.startswith("_") or not (mnemonic.split(".")[0] in INSTRUCTIONS
                                        or mnemonic in _PSEUDO):
            raise AttributeError(name)
        return lambda *operands, **keywords: self.emit(mnemonic, *operands, **keywords)

    def emit(self, mnemonic, *operands, **keywords):
        """One instruction (or pseudo-instruction) with its operands; only the descriptor
        pseudo-instructions (``dmem``, ``dfin``, ``dfout``) take keywords."""
        if mnemonic in _PSEUDO:
            return getattr(self, "_pseudo_" + mnemonic)(*operands, **keywords)
        if keywords:
            self._error(f"only dmem, dfin and dfout take key=value operands, not {mnemonic}")
        vector = None
        if "." in mnemonic or mnemonic in INSTRUCTIONS and INSTRUCTIONS[mnemonic].format == "V":
            try:
                vector = parse_vector_mnemonic(mnemonic)
            except AsmError as e:
                self._error(str(e))
        if vector is not None:
            return self._vector(*vector, mnemonic, operands)
        inst = INSTRUCTIONS.get(mnemonic)
        if inst is None:
            self._error(f"unknown mnemonic {mnemonic!r}{_did_you_mean(mnemonic)}")
        wanted = inst.operands
        if len(operands) != len(wanted):
            self._error(f"{mnemonic} takes {len(wanted)} operand{'s' * (len(wanted) != 1)} "
                        f"({_operand_list(inst)}), not {len(operands)}")
        fields = {}
        for index, ((kind, name), value) in enumerate(zip(wanted, operands)):
            self._focus = index
            self._operand(inst, kind, name, value, fields)
        self._focus = None
        self._append(inst, fields)

    def _append(self, inst, fields):
        self._code.append(_Pending(inst, fields, self.location, self.text, self.address))
        self._remember_line()

    def _operand(self, inst, kind, name, value, fields):
        if kind == "reg":
            fields[name] = self._reg(value)
        elif kind == "imm":
            kinds = {k.name.lower(): int(k) for k in DescKind}
            if inst.opcode == Opcode.DSETI and fields.get("field") == DescField.KIND and \
                    isinstance(value, str) and value.lower() in kinds:
                value = kinds[value.lower()]
            fields[name] = self._immediate(inst, name, value)
        elif kind == "mem":
            if not isinstance(value, Mem):
                value = Mem(value)
            fields["rs1"] = self._reg(value.base)
            fields["imm"] = self._immediate(inst, "imm", value.offset)
        elif kind == "label":
            fields[name] = ("label", value)
        elif kind == "offset":
            fields[name] = ("offset", value)
        elif kind == "task":
            if isinstance(value, str) and _is_reg(value):
                fields["rs1"] = self._reg(value)
                fields["use_reg"] = 1
            else:
                fields["task"] = ("task", value)
                fields["use_reg"] = 0
        elif kind == "color":
            fields[name] = self._color(value)
        elif kind == "desc":
            fields[name] = self._indexed(value, "d", NUM_DESCRIPTORS, "descriptor")
        elif kind == "dfield":
            fields[name] = self._enum(value, DescField, "descriptor field")
        elif kind == "csr":
            fields[name] = self._enum(value, Csr, "core register (csr)")
        elif kind == "acc":
            fields[name] = self._indexed(value, "a", self._params.core_accumulators,
                                         "accumulator")
        else:  # pragma: no cover - the table and this function go together
            raise AssertionError(kind)
        if inst.opcode == Opcode.DSETI and name == "imm":
            self._check_dseti(fields)

    def _vector(self, inst, etype, dtype, mnemonic, operands):
        operands = list(operands)
        done = operands.pop() if operands and isinstance(operands[-1], Async) else None
        wanted = inst.operands
        if len(operands) != len(wanted):
            self._error(f"{mnemonic} takes {len(wanted)} operands ({_operand_list(inst)}"
                        f"[, async activate|unblock TASK]), not {len(operands)}")
        fields = {"type": int(etype)}
        if dtype is not None:
            fields["dtype"] = int(dtype)
        for index, ((kind, name), value) in enumerate(zip(wanted, operands)):
            self._focus = index
            if kind == "vdst":
                if inst.opcode == Opcode.VDOT and isinstance(value, str) and \
                        value.startswith("a") and value[1:].isdigit():
                    fields["dst"] = self._indexed(value, "a", self._params.core_accumulators,
                                                  "accumulator")
                    fields["to_acc"] = 1
                else:
                    what = "descriptor or (vdot) accumulator" if inst.opcode == Opcode.VDOT \
                        else "descriptor"
                    fields["dst"] = self._indexed(value, "d", NUM_DESCRIPTORS, what)
            elif kind == "reg":
                fields[name] = self._reg(value)
            elif kind == "imm":
                fields[name] = self._immediate(inst, name, value)
            else:
                fields[name] = self._indexed(value, "d", NUM_DESCRIPTORS, "descriptor")
        self._focus = len(operands) if done is not None else None
        if done is not None:
            actions = {a.name.lower(): a for a in CompletionAction}
            if done.action not in actions:
                self._error(f"an async completion must be activate or unblock, not "
                            f"{done.action!r}")
            fields["async_"] = 1
            fields["on_done"] = int(actions[done.action])
            fields["task"] = ("task", done.task)
        self._focus = None
        self._append(inst, fields)

    # --- operand checks -------------------------------------------------------------------

    def _number(self, value, what):
        if isinstance(value, bool):
            self._error(f"{what} must be a number, not {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value in self._equ:
            return self._equ[value]
        if isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                pass
        self._error(f"{what} must be a number or a constant (.equ), not {value!r}")

    def _reg(self, value):
        if isinstance(value, str) and _is_reg(value):
            return int(value[1:])
        self._error(f"a register must be r0..r{NUM_REGS - 1}, not {value!r}")

    def _indexed(self, value, prefix, count, what):
        if isinstance(value, str) and re.fullmatch(prefix + r"[0-9]+", value):
            index = int(value[1:])
            if index < count:
                return index
        self._error(f"a {what} must be {prefix}0..{prefix}{count - 1}, not {value!r}")

    def _enum(self, value, enum_type, what):
        if isinstance(value, enum_type):
            return int(value)
        names = {m.name.lower(): m for m in enum_type}
        if isinstance(value, str) and value.lower() in names:
            return int(names[value.lower()])
        self._error(f"a {what} must be one of {', '.join(names)}, not {value!r}")

    def _color(self, value):
        color = self._number(value, "a color")
        if not 0 <= color < self._params.num_colors:
            self._error(f"a color must be from 0 to num_colors - 1 = "
                        f"{self._params.num_colors - 1}, not {value!r}")
        return color

    def _task_id_number(self, value):
        tid = self._number(value, "a task id")
        if not 0 <= tid < self._params.core_tasks:
            self._error(f"a task id must be from 0 to core_tasks - 1 = "
                        f"{self._params.core_tasks - 1}, not {value!r}")
        return tid

    def _immediate(self, inst, name, value):
        number = self._number(value, f"{inst.mnemonic}'s {name}")
        low, high = field_range(inst.fields[name])
        if inst.opcode in (Opcode.SLLI, Opcode.SRLI, Opcode.SRAI):
            low, high = 0, 31
        if not low <= number <= high:
            self._error(f"{inst.mnemonic}'s {name} must be from {low} to {high}, not {value!r}")
        return number

    def _check_dseti(self, fields):
        f = DescField(fields["field"])
        low, high = (-(1 << 15), (1 << 15) - 1) if f.signed else (0, (1 << 16) - 1)
        if f == DescField.KIND:
            high = max(DescKind)
        value = fields["imm"]
        if not low <= value <= high:
            self._error(f"a descriptor's {f.name.lower()} must be from {low} to {high}, "
                        f"not {value}")

    # --- pseudo-instructions --------------------------------------------------------------

    def _pseudo_nop(self):
        self.emit("addi", "r0", "r0", 0)

    def _pseudo_mv(self, rd, rs):
        self.emit("addi", rd, rs, 0)

    def _pseudo_li(self, rd, value):
        number = self._number(value, "li's value")
        if not -(1 << 31) <= number < (1 << 32):
            self._error(f"li's value must fit 32 bits, not {value!r}")
        number = number - (1 << 32) if number >= (1 << 31) else number
        if -(1 << 17) <= number < (1 << 17):
            self.emit("addi", rd, "r0", number)
            return
        unsigned = number & 0xFFFFFFFF
        self.emit("lui", rd, unsigned >> 10)
        if unsigned & 0x3FF:
            self.emit("ori", rd, rd, unsigned & 0x3FF)

    def _descriptor(self, desc, kind, settings):
        self.emit("dseti", desc, "kind", kind.name.lower())
        for fname, value in settings:
            if isinstance(value, str) and _is_reg(value):
                self.emit("dset", desc, fname, value)
            else:
                self.emit("dseti", desc, fname, value)

    def _pseudo_dmem(self, desc, base, len, stride=1, rows=1, rowstride=0):
        """A memory descriptor: ``rows`` rows of ``length`` elements ``stride`` apart, rows
        ``rowstride`` words apart, from word ``base``. Values: numbers or registers."""
        self._descriptor(desc, DescKind.MEM, [("base", base), ("len", len),
                                              ("stride", stride), ("rows", rows),
                                              ("rowstride", rowstride)])

    def _pseudo_dfin(self, desc, color, len, rows=1):
        """A fabric-in descriptor: ``length x rows`` elements from a color's queue."""
        self._color(color) if not (isinstance(color, str) and _is_reg(color)) else None
        self._descriptor(desc, DescKind.FIN, [("color", color), ("len", len),
                                              ("rows", rows)])

    def _pseudo_dfout(self, desc, color, len, rows=1):
        """A fabric-out descriptor: ``length x rows`` elements sent on a color."""
        self._color(color) if not (isinstance(color, str) and _is_reg(color)) else None
        self._descriptor(desc, DescKind.FOUT, [("color", color), ("len", len),
                                               ("rows", rows)])

    # --- building -------------------------------------------------------------------------

    def build(self):
        """The :class:`ProgramImage`; raises :class:`AsmError` for an undefined label, a task
        without its entry, or a program larger than program memory."""
        p = self._params
        table = [0] * p.core_tasks
        for tid, word in self._raw_table.items():
            table[tid] = word
        for tid, (name, entry, label, location) in self._tasks.items():
            if label not in self._labels:
                self._error(f"a task's entry must be a defined label, not {label!r} (task "
                            f"{name!r})", location)
            entry.entry = self._labels[label]
            table[tid] = entry.word()
        words = list(table)
        for item in self._code:
            if isinstance(item, int):
                words.append(item)
                continue
            fields = {}
            for name, value in item.fields.items():
                if isinstance(value, tuple):
                    value = self._resolve(item, name, *value)
                fields[name] = value
            try:
                words.append(encode(item.inst, fields))
            except ValueError as e:  # pragma: no cover - operands are checked when emitted
                self._error(f"{e}: {item.text!r}", item.location)
        if len(words) > p.core_program_words:
            last = self._code[p.core_program_words - p.core_tasks] \
                if len(self._code) > p.core_program_words - p.core_tasks else None
            location = last.location if isinstance(last, _Pending) else None
            self._error(f"a program must fit program memory (core_program_words = "
                        f"{p.core_program_words}: {p.core_tasks} task-table words and "
                        f"{p.core_program_words - p.core_tasks} of code), not {len(words)} "
                        f"words", location)
        names = {tid: t[0] for tid, t in self._tasks.items()}
        return ProgramImage(words, p.core_tasks, symbols=self._labels, task_names=names,
                            lines=self._lines)

    def _resolve(self, item, name, kind, value):
        if kind == "task":
            if isinstance(value, str) and value in self._task_ids:
                return self._task_ids[value]
            if isinstance(value, str) and not (value in self._equ or _is_number(value)):
                self._error(f"a task must be a declared task's name or an id, not {value!r}",
                            item.location)
            return self._task_id_number_at(value, item.location)
        if isinstance(value, str) and value in self._labels:
            target = self._labels[value]
        elif isinstance(value, int) and not isinstance(value, bool):
            target = value
        else:
            self._error(f"a label must be defined, not {value!r}", item.location)
        if kind == "label":
            return target
        offset = target - item.address
        low, high = field_range(item.inst.fields[name])
        if not low <= offset <= high:
            self._error(f"a branch must reach its label within {low}..{high} words, not "
                        f"{offset} ({value!r})", item.location)
        return offset

    def _task_id_number_at(self, value, location):
        saved, self.location = self.location, location
        try:
            return self._task_id_number(value)
        finally:
            self.location = saved


_PSEUDO = {"nop", "mv", "li", "dmem", "dfin", "dfout"}


def _is_reg(text):
    return bool(re.fullmatch(r"r([0-9]|1[0-5])", text))


def _is_number(text):
    try:
        int(text, 0)
        return True
    except ValueError:
        return False


def _reserved(name):
    return bool(re.fullmatch(r"[rda][0-9]+", name))


def _operand_list(inst):
    return ", ".join(name for _, name in inst.operands)


def _did_you_mean(word):
    import difflib
    close = difflib.get_close_matches(word, list(INSTRUCTIONS) + sorted(_PSEUDO), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_formats():  # pragma: no cover - a guard for whoever edits the table
    for inst in INSTRUCTIONS.values():
        for _, name in inst.operands:
            assert name in FORMATS[inst.format] or name in ("dst",), (inst, name)


_check_formats()
