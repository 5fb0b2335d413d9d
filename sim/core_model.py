"""The reference model of one compute core: the ISA's semantics (``docs/isa.md``) in Python.

:class:`CoreModel` runs a :class:`~.program.ProgramImage` instruction by instruction over a
tile's memory, accumulators, descriptors and per-color input queues, and records the wavelets
it sends, its counters of MACs and tasks, and its fault. It is the contract the hardware is
tested against: memory, accumulators, sent wavelets (in order per color), MACs and faults must
agree bit for bit. Cycle counts are the hardware's own; the model counts instructions.

The model is functional, not timed: a vector instruction happens at once, when every wavelet
it reads is in its queue; an asynchronous one completes (and fires its task) as soon as it
can. Programs whose results do not depend on timing (``docs/isa.md``, "Determinism") give the
same results here and in the hardware.
"""

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..hdl.core.isa import (NUM_DESCRIPTORS, NUM_REGS, AccFunc, AluFunc, CompletionAction, Csr,
                            DescField, DescKind, ElemType, Fault, Opcode, TaskEntry, decode,
                            sign_extend)
from .program import VECTOR_TYPES_ALLOWED, narrowing_ok

__all__ = ["CoreModel", "SentWavelet", "CoreFault", "RunState"]

MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class SentWavelet:
    """A wavelet the core sent: its color, 32-bit data and control flag."""
    color: int
    data: int
    ctrl: bool = False


class CoreFault(Exception):
    """Raised inside the model to stop at a fault (caught by :meth:`CoreModel.run`)."""

    def __init__(self, cause):
        super().__init__(cause.name)
        self.cause = cause


class _Wait(Exception):
    """The instruction waits for input (a wavelet, a free microthread); it is retried."""


class RunState:
    DONE = "done"          # halt ran
    FAULT = "fault"        # stopped by a fault
    IDLE = "idle"          # no task ready, nothing in flight
    WAITING = "waiting"    # an instruction waits for wavelets that are not there
    LIMIT = "limit"        # the instruction budget ran out
    STOPPED = "stopped"    # not started


class _Descriptor:
    def __init__(self):
        self.fields = [0] * len(DescField)

    def get(self, field):
        value = self.fields[field]
        return sign_extend(value, 16) if DescField(field).signed else value

    @property
    def kind(self):
        return self.get(DescField.KIND)

    @property
    def count(self):
        return self.get(DescField.LEN) * self.get(DescField.ROWS)

    @property
    def shape(self):
        """``(len, rows)``."""
        return self.get(DescField.LEN), self.get(DescField.ROWS)

    def copy(self):
        d = _Descriptor()
        d.fields = list(self.fields)
        return d


class CoreModel:
    """One core and its tile memory.

    Parameters
    ----------
    params : FabricParams
        The core's parameters (``core_*``), ``num_colors`` and the memory's size.
    image : ProgramImage, optional
        Loaded into program memory (:meth:`load`).
    x, y : int
        The tile's coordinates (``csr x``, ``csr y``).

    Attributes
    ----------
    memory : numpy.ndarray of uint32
        The tile's SRAM, one 32-bit word per entry; read and write it freely between runs.
    accumulators : list of int
        Signed values of ``core_acc_bits`` bits.
    sent : list of SentWavelet
        Every wavelet sent, in order.
    macs, tasks_run, instructions : int
        Counters (``instructions`` is the model's time: ``csr cycle`` reads it).
    fault : Fault
        Why the core stopped, or ``Fault.NONE``; ``fault_pc`` the instruction's address.
    done : bool
        ``halt`` ran.
    """

    def __init__(self, params, image=None, *, x=0, y=0):
        if params.data_width != 32:
            raise ValueError(f"data_width must be 32 for a core (its words and instructions "
                             f"are 32 bits), not {params.data_width}")
        self.params = params
        self.x, self.y = x, y
        self.memory = np.zeros(params.sram_bytes // 4, dtype=np.uint32)
        self.program = [0] * params.core_program_words
        self.queues = [deque() for _ in range(params.num_colors)]
        if image is not None:
            self.load(image)
        self._reset_core()
        self.running = False

    # --- host side ------------------------------------------------------------------------

    def load(self, image):
        """Write a program image into program memory (the rest keeps its words)."""
        if len(image.words) > self.params.core_program_words:
            raise ValueError(f"image must fit program memory ({self.params.core_program_words} "
                             f"words), not {len(image.words)} words")
        if image.task_count != self.params.core_tasks:
            raise ValueError(f"image's task table must have core_tasks = "
                             f"{self.params.core_tasks} entries, not {image.task_count}")
        self.program[:len(image.words)] = image.words

    def push(self, color, data, ctrl=False):
        """A wavelet arrives on ``color``. A control wavelet is taken at once: it activates
        the task its data's low 6 bits name (and is dropped while the core is not running);
        a data wavelet joins its color's queue."""
        if not 0 <= color < self.params.num_colors:
            raise ValueError(f"color must be from 0 to {self.params.num_colors - 1}, "
                             f"not {color}")
        if ctrl:
            if self.running:
                self.controls.append(int(data) & 0x3F)
            return
        self.queues[color].append(int(data) & MASK32)

    def start(self):
        """Start (or restart) the core: registers, descriptors, accumulators and counters
        cleared, tasks as the task table says; queued wavelets stay."""
        self._reset_core()
        for t in range(self.params.core_tasks):
            entry = TaskEntry.from_word(self.program[t])
            self.declared[t] = entry.declared
            self.is_data[t] = entry.declared and entry.data
            self.active[t] = entry.declared and entry.active and not entry.data
            self.blocked[t] = entry.declared and entry.blocked
        self.running = True

    def _reset_core(self):
        p = self.params
        self.regs = [0] * NUM_REGS
        self.descriptors = [_Descriptor() for _ in range(NUM_DESCRIPTORS)]
        self.accumulators = [0] * p.core_accumulators
        self.declared = [False] * p.core_tasks
        self.is_data = [False] * p.core_tasks
        self.active = [False] * p.core_tasks
        self.blocked = [False] * p.core_tasks
        self.sent = []
        self.macs = self.tasks_run = self.instructions = 0
        self.fault = Fault.NONE
        self.fault_pc = None
        self.done = False
        self.task = None          # the running task's id
        self.pc = None
        self.wdata = 0
        self.pending = []         # asynchronous vector ops waiting for input
        self.controls = []        # tasks named by control wavelets, not yet activated

    # --- running --------------------------------------------------------------------------

    def run(self, max_instructions=1_000_000):
        """Run until halt, a fault, nothing to do, or waiting for input; a :class:`RunState`."""
        if not self.running:
            return RunState.DONE if self.done else (
                RunState.FAULT if self.fault else RunState.STOPPED)
        budget = max_instructions
        while True:
            try:
                self._take_controls()
            except CoreFault as f:
                # A control wavelet named a task that cannot be activated: no instruction
                # faulted.
                self._stop_at_fault(f.cause, None)
                return RunState.FAULT
            try:
                self._progress_pending()
                if self.task is None and not self._start_next_task():
                    if self.pending:
                        return RunState.WAITING
                    return RunState.IDLE
                if budget <= 0:
                    return RunState.LIMIT
                self._step()
                budget -= 1
            except _Wait:
                return RunState.WAITING
            except CoreFault as f:
                self._stop_at_fault(f.cause, self.pc)
                return RunState.FAULT
            if self.done:
                self.running = False
                return RunState.DONE

    def _stop_at_fault(self, cause, pc):
        self.fault = cause
        self.fault_pc = pc
        self.running = False
        self.task = None

    def _take_controls(self):
        """Activate the tasks that control wavelets named."""
        while self.controls:
            self._activate(self.controls.pop(0))

    def _ready(self, t):
        if not self.declared[t] or self.blocked[t]:
            return False
        if self.is_data[t]:
            # A data task's id is its color; a data bit on a task with no color never fires.
            return t < self.params.num_colors and bool(self.queues[t])
        return self.active[t]

    def _start_next_task(self):
        """Start the lowest-numbered ready task; ``False`` if none is ready."""
        for t in range(self.params.core_tasks):
            if self._ready(t):
                if self.is_data[t]:
                    self.wdata = self.queues[t].popleft()
                else:
                    self.active[t] = False
                self.task = t
                self.pc = TaskEntry.from_word(self.program[t]).entry
                self.tasks_run += 1
                return True
        return False

    def _progress_pending(self):
        """Run every waiting asynchronous op that now has its input, oldest first."""
        progressed = True
        while progressed and self.pending:
            progressed = False
            for op in list(self.pending):
                if self._has_input(op):
                    self.pending.remove(op)
                    self._execute_vector(op)
                    self._complete(op)
                    progressed = True

    # --- one instruction ------------------------------------------------------------------

    def _step(self):
        p = self.params
        pc = self.pc
        if not 0 <= pc < p.core_program_words:
            raise CoreFault(Fault.PC_RANGE)
        inst, f = decode(self.program[pc])
        if inst is None:
            raise CoreFault(Fault.ILLEGAL_INSTRUCTION)
        op = inst.opcode
        next_pc = pc + 1
        r = self.regs
        if inst.format == "R":
            self._write(f["rd"], _alu(AluFunc(f["func"]), r[f["rs1"]], r[f["rs2"]]))
        elif op in _IMMEDIATE_ALU:
            self._write(f["rd"], _alu(_IMMEDIATE_ALU[op], r[f["rs1"]], f["imm"] & MASK32))
        elif op == Opcode.LUI:
            self._write(f["rd"], (f["imm"] << 10) & MASK32)
        elif op == Opcode.LD:
            self._write(f["rd"], int(self.memory[self._word_address(r[f["rs1"]], f["imm"])]))
        elif op == Opcode.ST:
            self.memory[self._word_address(r[f["rs1"]], f["imm"])] = r[f["rs2"]]
        elif op in _BRANCHES:
            if _BRANCHES[op](r[f["rs1"]], r[f["rs2"]]):
                next_pc = pc + f["offset"]
        elif op == Opcode.JMP:
            next_pc = f["target"]
        elif op in (Opcode.ACTIVATE, Opcode.BLOCK, Opcode.UNBLOCK):
            t = r[f["rs1"]] if f["use_reg"] else f["task"]
            if op == Opcode.ACTIVATE:
                self._activate(t)
            else:
                self._check_task(t)
                self.blocked[t] = op == Opcode.BLOCK
        elif op == Opcode.RET:
            self.task = None
            next_pc = None
        elif op == Opcode.HALT:
            if self.pending:
                raise _Wait()
            self.done = True
            self.task = None
            next_pc = None
        elif op == Opcode.SEND:
            self._check_color(f["color"], Fault.ILLEGAL_INSTRUCTION)
            self.sent.append(SentWavelet(f["color"], r[f["rs1"]], bool(f["ctrl"])))
        elif op == Opcode.RECV:
            self._check_color(f["color"], Fault.ILLEGAL_INSTRUCTION)
            q = self.queues[f["color"]]
            if not q:
                raise _Wait()
            self._write(f["rd"], q.popleft())
        elif op == Opcode.CSR:
            self._write(f["rd"], self._csr(f["csr"]))
        elif op in (Opcode.DSET, Opcode.DSETI):
            if f["field"] >= len(DescField):
                raise CoreFault(Fault.ILLEGAL_INSTRUCTION)
            value = r[f["rs1"]] if op == Opcode.DSET else f["imm"]
            self.descriptors[f["desc"]].fields[f["field"]] = value & 0xFFFF
        elif op == Opcode.ACC:
            self._accumulator_op(AccFunc(f["func"]), f)
        else:
            self._vector(inst, f)
        self.instructions += 1
        if next_pc is not None:
            self.pc = next_pc

    def _write(self, rd, value):
        if rd:
            self.regs[rd] = value & MASK32

    def _word_address(self, base, offset):
        address = (base + offset) & MASK32
        if address >= len(self.memory):
            raise CoreFault(Fault.MEMORY_RANGE)
        return address

    def _check_task(self, t):
        if not 0 <= t < self.params.core_tasks or not self.declared[t]:
            raise CoreFault(Fault.TASK)

    def _activate(self, t):
        self._check_task(t)
        if self.is_data[t]:
            raise CoreFault(Fault.TASK)
        self.active[t] = True

    def _check_color(self, color, cause):
        if not 0 <= color < self.params.num_colors:
            raise CoreFault(cause)

    def _csr(self, number):
        values = {Csr.CYCLE: self.instructions, Csr.X: self.x, Csr.Y: self.y,
                  Csr.WDATA: self.wdata, Csr.TASK: self.task}
        if number not in values:
            raise CoreFault(Fault.ILLEGAL_INSTRUCTION)
        return values[number] & MASK32

    def _accumulator_op(self, func, f):
        if f["acc"] >= self.params.core_accumulators:
            raise CoreFault(Fault.ILLEGAL_INSTRUCTION)
        value = self.accumulators[f["acc"]]
        if func == AccFunc.CLR:
            self.accumulators[f["acc"]] = 0
        elif func == AccFunc.LO:
            self._write(f["rd"], value & MASK32)
        elif func == AccFunc.HI:
            self._write(f["rd"], (value >> 32) & MASK32)
        else:
            self._write(f["rd"], _clamp(value >> f["shift"], 32) & MASK32)

    # --- vector instructions --------------------------------------------------------------

    def _vector(self, inst, f):
        op = self._vector_op(inst, f)
        if not f["async_"]:
            if not self._has_input(op):
                raise _Wait()
            self._execute_vector(op)
            return
        if len(self.pending) >= self.params.core_microthreads:
            raise _Wait()
        if self._has_input(op) and not self.pending:
            self._execute_vector(op)
            self._complete(op)
        else:
            self.pending.append(op)

    def _vector_op(self, inst, f):
        """The checked operation of a vector instruction (faults as ``docs/isa.md`` orders
        them: instruction, completion task, descriptors, memory range)."""
        p = self.params
        opcode = inst.opcode
        etype = ElemType(f["type"])
        dtype = ElemType(f["dtype"]) if opcode == Opcode.VNARROW else etype
        to_acc = opcode == Opcode.VDOT and f["to_acc"]
        if etype not in VECTOR_TYPES_ALLOWED[opcode] or (
                opcode == Opcode.VNARROW and not narrowing_ok(etype, dtype)):
            raise CoreFault(Fault.ILLEGAL_INSTRUCTION)
        if to_acc and f["dst"] >= p.core_accumulators:
            raise CoreFault(Fault.ILLEGAL_INSTRUCTION)
        if f["async_"]:
            t = f["task"]
            self._check_task(t)
            if f["on_done"] == CompletionAction.ACTIVATE and self.is_data[t]:
                raise CoreFault(Fault.TASK)
        two_sources = opcode not in (Opcode.VMOV, Opcode.VNARROW)
        sources = [self.descriptors[f["src0"]].copy()]
        if two_sources:
            sources.append(self.descriptors[f["src1"]].copy())
        dst = None if to_acc else self.descriptors[f["dst"]].copy()
        for s in sources:
            if s.kind not in (DescKind.MEM, DescKind.FIN):
                raise CoreFault(Fault.DESCRIPTOR)
        if dst is not None and dst.kind not in (DescKind.MEM, DescKind.FOUT):
            raise CoreFault(Fault.DESCRIPTOR)
        for d in sources + ([dst] if dst is not None else []):
            if d.kind in (DescKind.FIN, DescKind.FOUT) and \
                    d.get(DescField.COLOR) >= p.num_colors:
                raise CoreFault(Fault.DESCRIPTOR)
        fin_colors = [s.get(DescField.COLOR) for s in sources if s.kind == DescKind.FIN]
        if len(set(fin_colors)) != len(fin_colors):
            raise CoreFault(Fault.DESCRIPTOR)
        shape = sources[0].shape
        if any(s.shape != shape for s in sources):
            raise CoreFault(Fault.DESCRIPTOR)
        if opcode == Opcode.VDOT and not to_acc:
            # One int64 per row of the sources, in a one-row destination.
            if dst.shape != (shape[1], 1):
                raise CoreFault(Fault.DESCRIPTOR)
        elif dst is not None and dst.shape != shape:
            raise CoreFault(Fault.DESCRIPTOR)
        if opcode == Opcode.VNARROW and dst.kind != DescKind.MEM:
            raise CoreFault(Fault.DESCRIPTOR)
        dst_type = ElemType.I64 if opcode == Opcode.VDOT else dtype
        for d, t in [(s, etype) for s in sources] + \
                ([(dst, dst_type)] if dst is not None else []):
            if d.kind == DescKind.MEM:
                words = _element_words(d, t)
                if words.size and (words.min() < 0 or words.max() >= len(self.memory)):
                    raise CoreFault(Fault.MEMORY_RANGE)
        return _VectorOp(opcode, etype, dtype, dst_type, sources, dst, f, to_acc,
                         self.regs[f["scalar"]] if opcode == Opcode.VAXPY else 0)

    def _has_input(self, op):
        for s in op.sources:
            if s.kind == DescKind.FIN:
                if len(self.queues[s.get(DescField.COLOR)]) < _wavelets(s, op.etype):
                    return False
        return True

    def _read(self, d, etype):
        if d.kind == DescKind.FIN:
            q = self.queues[d.get(DescField.COLOR)]
            words = [q.popleft() for _ in range(_wavelets(d, etype))]
            return _unpack(np.array(words, dtype=np.uint64), d, etype)
        words, bits = _element_locations(d, etype)
        mem = self.memory.astype(np.uint64)
        if etype == ElemType.I64:
            raw = mem[words] | (mem[words + 1] << np.uint64(32))
            return raw.astype(np.int64)
        raw = (mem[words] >> bits.astype(np.uint64)) & np.uint64((1 << etype.bits) - 1)
        return _signed(raw.astype(np.int64), etype.bits)

    def _write_vector(self, d, etype, values):
        values = np.asarray(values, dtype=np.int64)
        if d.kind == DescKind.FOUT:
            color = d.get(DescField.COLOR)
            for word in _pack(values, d, etype):
                self.sent.append(SentWavelet(color, int(word), False))
            return
        words, bits = _element_locations(d, etype)
        words, bits = words.ravel(), bits.ravel()
        if etype == ElemType.I64:
            u = values.astype(np.uint64)
            for k in range(len(words)):     # in order: a later element wins a shared word
                self.memory[words[k]] = int(u[k]) & MASK32
                self.memory[words[k] + 1] = int(u[k]) >> 32
            return
        mask = (1 << etype.bits) - 1
        u = (values & mask).astype(np.uint64)
        if len(set(zip(words.tolist(), bits.tolist()))) == len(words):
            clear = (~(np.uint64(mask) << bits.astype(np.uint64))) & np.uint64(MASK32)
            mem = self.memory.astype(np.uint64)
            np.bitwise_and.at(mem, words, clear)
            np.bitwise_or.at(mem, words, u << bits.astype(np.uint64))
            self.memory[:] = mem.astype(np.uint32)
        else:
            for k in range(len(words)):
                w, b = int(words[k]), int(bits[k])
                self.memory[w] = (int(self.memory[w]) & ~(mask << b) | int(u[k]) << b) & MASK32

    def _execute_vector(self, op):
        bits = op.etype.bits
        s = [self._read(d, op.etype) for d in op.sources]
        code = op.opcode
        if code == Opcode.VMOV:
            out = s[0]
        elif code == Opcode.VADD:
            out = _wrap(s[0] + s[1], bits)
        elif code == Opcode.VSUB:
            out = _wrap(s[0] - s[1], bits)
        elif code == Opcode.VMUL:
            out = _wrap(s[0] * s[1], bits)
        elif code == Opcode.VMAX:
            out = np.maximum(s[0], s[1])
        elif code == Opcode.VMIN:
            out = np.minimum(s[0], s[1])
        elif code == Opcode.VAXPY:
            scalar = sign_extend(op.scalar, bits) if bits <= 32 else op.scalar
            out = _wrap(np.int64(scalar) * s[0] + s[1], bits)
            self.macs += len(s[0])
        elif code == Opcode.VNARROW:
            out = np.clip(s[0] >> op.fields["shift"], -(1 << (op.dtype.bits - 1)),
                          (1 << (op.dtype.bits - 1)) - 1)
        elif code == Opcode.VDOT:
            acc_bits = self.params.core_acc_bits
            products = s[0] * s[1]        # int64: wraps mod 2**64, as wide sums may
            self.macs += len(products)
            if op.to_acc:
                k = op.fields["dst"]
                total = self.accumulators[k] + int(products.sum(dtype=np.int64))
                self.accumulators[k] = sign_extend(total, acc_bits)
                return
            length = op.sources[0].get(DescField.LEN)
            rows = op.sources[0].get(DescField.ROWS)
            sums = products.reshape(rows, length).sum(axis=1, dtype=np.int64) if length \
                else np.zeros(rows, dtype=np.int64)
            out = np.array([sign_extend(int(v), acc_bits) for v in sums], dtype=np.int64)
        else:  # pragma: no cover
            raise AssertionError(code)
        self._write_vector(op.dst, op.dst_type, out)

    def _complete(self, op):
        t = op.fields["task"]
        if op.fields["on_done"] == CompletionAction.ACTIVATE:
            self._activate(t)
        else:
            self.blocked[t] = False


class _VectorOp:
    def __init__(self, opcode, etype, dtype, dst_type, sources, dst, fields, to_acc, scalar):
        self.opcode, self.etype, self.dtype, self.dst_type = opcode, etype, dtype, dst_type
        self.sources, self.dst, self.fields, self.to_acc = sources, dst, fields, to_acc
        self.scalar = scalar


# --- element addressing and packing -------------------------------------------------------

def _element_locations(d, etype):
    """``(words, bits)``: each element's word address and bit offset, in element order
    (row by row). An int64 element is the word and the next."""
    length, rows = d.get(DescField.LEN), d.get(DescField.ROWS)
    i = np.arange(length, dtype=np.int64)
    j = np.arange(rows, dtype=np.int64)
    offset = i * d.get(DescField.STRIDE) * etype.bits
    words = d.get(DescField.BASE) + j[:, None] * d.get(DescField.ROWSTRIDE) + (offset >> 5)[None, :]
    bits = np.broadcast_to(offset & 31, words.shape)
    return words.ravel(), bits.ravel()


def _element_words(d, etype):
    words, _ = _element_locations(d, etype)
    if etype == ElemType.I64:
        return np.concatenate([words, words + 1])
    return words


def _row_wavelets(length, etype):
    """Wavelets that carry a row of ``length`` elements (each row starts a new wavelet)."""
    return -(-length * etype.bits // 32)


def _wavelets(d, etype):
    """Wavelets a fabric descriptor's elements take."""
    return _row_wavelets(d.get(DescField.LEN), etype) * d.get(DescField.ROWS)


def _unpack(words, d, etype):
    """The elements of a fabric descriptor from its wavelets, row by row."""
    length, rows = d.shape
    per_row = _row_wavelets(length, etype)
    words = words.reshape(rows, per_row) if rows else words.reshape(0, per_row)
    if etype == ElemType.I64:
        raw = words[:, 0::2] | (words[:, 1::2] << np.uint64(32))
        return raw.astype(np.int64)[:, :length].ravel()
    per = 32 // etype.bits
    shifts = np.arange(per, dtype=np.uint64) * np.uint64(etype.bits)
    raw = (words[:, :, None] >> shifts) & np.uint64((1 << etype.bits) - 1)
    raw = raw.reshape(rows, per_row * per)[:, :length]
    return _signed(raw.ravel().astype(np.int64), etype.bits)


def _pack(values, d, etype):
    """The wavelets of a fabric descriptor's elements, row by row (unused bits zero)."""
    length, rows = d.shape
    u = values.astype(np.uint64).reshape(rows, length)
    if etype == ElemType.I64:
        out = np.empty((rows, 2 * length), dtype=np.uint64)
        out[:, 0::2] = u & np.uint64(MASK32)
        out[:, 1::2] = u >> np.uint64(32)
        return out.ravel()
    per = 32 // etype.bits
    per_row = _row_wavelets(length, etype)
    padded = np.zeros((rows, per_row * per), dtype=np.uint64)
    padded[:, :length] = u & np.uint64((1 << etype.bits) - 1)
    shifts = np.arange(per, dtype=np.uint64) * np.uint64(etype.bits)
    return np.bitwise_or.reduce(padded.reshape(rows, per_row, per) << shifts, axis=2).ravel()


def _signed(raw, bits):
    if bits >= 64:
        return raw
    return np.where(raw >= (1 << (bits - 1)), raw - (1 << bits), raw)


def _wrap(values, bits):
    if bits >= 64:
        return values.astype(np.int64)
    m = np.int64((1 << bits) - 1)
    return _signed(values.astype(np.int64) & m, bits)


def _clamp(value, bits):
    return max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, value))


# --- scalar semantics ---------------------------------------------------------------------

def _alu(func, a, b):
    sa, sb = sign_extend(a, 32), sign_extend(b, 32)
    if func == AluFunc.ADD:
        return a + b
    if func == AluFunc.SUB:
        return a - b
    if func == AluFunc.AND:
        return a & b
    if func == AluFunc.OR:
        return a | b
    if func == AluFunc.XOR:
        return a ^ b
    if func == AluFunc.SLL:
        return a << (b & 31)
    if func == AluFunc.SRL:
        return a >> (b & 31)
    if func == AluFunc.SRA:
        return sa >> (b & 31)
    if func == AluFunc.SLT:
        return int(sa < sb)
    if func == AluFunc.SLTU:
        return int(a < b)
    if func == AluFunc.MUL:
        return a * b
    raise CoreFault(Fault.ILLEGAL_INSTRUCTION)


_IMMEDIATE_ALU = {Opcode.ADDI: AluFunc.ADD, Opcode.ANDI: AluFunc.AND, Opcode.ORI: AluFunc.OR,
                  Opcode.XORI: AluFunc.XOR, Opcode.SLLI: AluFunc.SLL, Opcode.SRLI: AluFunc.SRL,
                  Opcode.SRAI: AluFunc.SRA, Opcode.SLTI: AluFunc.SLT}

_BRANCHES = {
    Opcode.BEQ: lambda a, b: a == b,
    Opcode.BNE: lambda a, b: a != b,
    Opcode.BLT: lambda a, b: sign_extend(a, 32) < sign_extend(b, 32),
    Opcode.BGE: lambda a, b: sign_extend(a, 32) >= sign_extend(b, 32),
    Opcode.BLTU: lambda a, b: a < b,
    Opcode.BGEU: lambda a, b: a >= b,
}
