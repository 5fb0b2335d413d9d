"""The stream engine: vector instructions from descriptors to beats, through the datapath.

A vector instruction is checked once at issue (descriptor kinds, shapes and colors, then every
memory operand's extent against the memory: ``docs/isa.md``) and then held in a **slot**: slot
0 for the running task's synchronous instruction, slots 1.. for asynchronous ones
(``core_microthreads``). Each cycle one slot whose next beat can go (its input wavelets are
queued, the output has room) is picked, round robin, so a slot waiting for the fabric never
stops another. A beat then flows through five stages:

``pick``
    the slot's address generators give each operand's words and bit offset for the beat and
    step on; fabric-in wavelets are taken from their queues; output room is reserved.
``read``
    the source words are read from the banks: the memory agent first, then the core's scalar
    unit, then the engine, and within the engine word by word; a word that does not get its
    bank this cycle gets it in a later one (a bank conflict, counted).
``arrive``
    the words come out of the banks and are aligned into the beat's operands (registered, so
    that no path runs from a block RAM's output through the multipliers);
``compute``
    the :class:`~.datapath.SimdDatapath` computes the beat.
``write``
    the results are written to memory (byte masks for part words), packed into wavelets on
    the way out, or summed into an accumulator or a dot product's row sum; the instruction's
    last beat completes it (the scalar unit goes on, or an asynchronous completion fires).

The output is one queue (depth :data:`OUTPUT_DEPTH`) that the scalar unit's ``send`` shares.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..router import RoundRobinArbiter
from ..wavelet import wavelet_stream
from .datapath import SimdDatapath, VecOp, beat_bits
from .isa import DescField, DescKind, ElemType, Fault
from .scheduler import TaskOp, TaskRequestSignature

__all__ = ["OUTPUT_DEPTH", "descriptor_layout", "IssueSignature", "EngineBankSignature",
           "StreamEngine"]

# Wavelets the core's output queue holds: a beat reserves its room when it is picked (two, as
# much as a beat can emit) and fills it four cycles later, so one wavelet a cycle needs room
# for the beats in flight (4), the wavelet leaving and the next pick's two.
OUTPUT_DEPTH = 7


def descriptor_layout():
    """A descriptor register's fields, 16 bits each, in :class:`~.isa.DescField` order."""
    return data.StructLayout({f.name.lower(): unsigned(16) for f in DescField})


class IssueSignature(wiring.Signature):
    """A vector instruction from the scalar unit, held until ``done``."""

    def __init__(self):
        super().__init__({
            "valid": Out(1),
            "op": Out(VecOp),
            "etype": Out(ElemType),
            "dtype": Out(ElemType),
            "to_acc": Out(1),
            "acc": Out(3),
            "shift": Out(5),
            "scalar": Out(32),
            "async_": Out(1),
            "on_done": Out(1),
            "task": Out(6),
            "desc": Out(descriptor_layout()).array(3),    # dst, src0, src1
            "done": In(1),
            "fault": In(Fault),
        })


class EngineBankSignature(wiring.Signature):
    """One bank as the engine sees it, after the agent and the scalar unit took their turn."""

    def __init__(self, bank_words):
        super().__init__({
            "read": Out(1), "read_row": Out(range(bank_words)), "read_grant": In(1),
            "rdata": In(32),
            "write": Out(1), "write_row": Out(range(bank_words)), "wdata": Out(32),
            "write_mask": Out(4), "write_grant": In(1),
        })


DST, SRC0, SRC1 = range(3)


class _Slots:
    """Per-slot state: one Array of signals per field (so a field reads as ``f[slot]``)."""

    def __init__(self, count, fields):
        self.fields = {}
        for name, shape in fields.items():
            self.fields[name] = Array(Signal(shape, name=f"slot{s}_{name}")
                                      for s in range(count))

    def __getitem__(self, name):
        return self.fields[name]


def _log2_bits(t):
    """log2 of an element type's width: 3 (int8) .. 6 (int64), as a hardware value."""
    return t + 3


class StreamEngine(wiring.Component):
    """Slots, the beat pipeline and the output queue.

    Members
    -------
    issue : ``In(IssueSignature())``
        A vector instruction; ``done`` pulses when the scalar unit may go on (a synchronous
        instruction completed, an asynchronous one took its slot, or either faulted:
        ``fault`` says why, DESCRIPTOR or MEMORY_RANGE).
    queue_count, queue_head, queue_second, pop : per color
        The input queues (:class:`~.queues.ColorQueues`); ``pop`` is the engine's.
    send : ``In(stream.Signature(...))``
        The scalar unit's ``send``/``sendc``: ``payload`` color, data, ctrl.
    out : ``Out(wavelet_stream)``
        The core's output queue's head, to the tile's merge.
    banks : ``Out(EngineBankSignature).array(sram_banks)``
    completion : ``Out(TaskRequestSignature())``
        An asynchronous instruction completed: activate or unblock its task.
    acc_sel, acc_clear : ``In``; acc_value : ``Out(signed(64))``
        The scalar unit's view of the accumulators.
    stop : ``In(1)``
        Abandon every slot and beat (a fault, or the host stopping the core).
    init : ``In(1)``
        The core is starting: clear the accumulators.
    busy, macs, stall_bank, stall_queue, stall_output : ``Out``
        For the counters: a slot is busy; MACs this cycle; a beat waited for a bank; no beat
        went because a slot waited for input; ... for output room.
    fin_colors : ``Out(num_colors)``
        The colors a busy slot takes wavelets from: the engine's, not the scalar unit's to
        pop (from registers, so the scalar unit does not wait for this cycle's pick).
    """

    def __init__(self, params):
        self._params = params
        p = params
        self._slots = p.core_microthreads + 1
        self._words = beat_bits(p.core_lanes) // 32          # words of a full source beat
        self._total_words = p.sram_bytes // 4
        bank_words = self._total_words // p.sram_banks
        super().__init__({
            "issue": In(IssueSignature()),
            "queue_count": In(range(p.core_queue_depth + 1)).array(p.num_colors),
            "queue_head": In(32).array(p.num_colors),
            "queue_second": In(32).array(p.num_colors),
            "pop": Out(2).array(p.num_colors),
            "send": In(wiring.Signature({
                "valid": Out(1), "ready": In(1),
                "color": Out(p.color_bits), "data": Out(32), "ctrl": Out(1)})),
            "out": Out(wavelet_stream(p)),
            "banks": Out(EngineBankSignature(bank_words)).array(p.sram_banks),
            "completion": Out(TaskRequestSignature()),
            "acc_sel": In(3), "acc_clear": In(1), "acc_value": Out(signed(64)),
            "stop": In(1), "init": In(1),
            "busy": Out(1),
            "macs": Out(range(2 * p.core_lanes + 1)),
            "stall_bank": Out(1), "stall_queue": Out(1), "stall_output": Out(1),
            "fin_colors": Out(p.num_colors),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        S = self._slots
        NW = self._words
        BW = 32 * NW
        B = p.sram_banks
        bank_bits = (B - 1).bit_length()
        C = p.num_colors
        lanes = p.core_lanes
        lanes_log2 = lanes.bit_length() - 1

        slots = _Slots(S, {
            "busy": 1, "issued": 1, "op": VecOp, "etype": ElemType, "dtype": ElemType,
            "to_acc": 1, "acc": 3, "shift": 5, "scalar": 32, "async_": 1, "on_done": 1,
            "task": 6, "e_log2": 3, "length": 16,
            # Elements left in the row, rows left (this one included): compared, not computed,
            # when a beat is picked.
            "left": 16, "rows_left": 16,
            "none": 1, "empty": 1,
            **{f"{name}{k}": shape for k in range(3) for name, shape in {
                "kind": DescKind, "color": range(C), "addr": 17, "bit": 5, "row_base": 17,
                "step_words": signed(24), "step_bits": 5, "rowstride": signed(16)}.items()},
        })
        # The write stage's own per-slot state (it updates them while pick updates the rest).
        rowsum = Array(Signal(signed(64), name=f"slot{s}_rowsum") for s in range(S))
        pack = Array(Signal(32, name=f"slot{s}_pack") for s in range(S))
        accumulators = Array(Signal(signed(p.core_acc_bits), name=f"acc{k}")
                             for k in range(p.core_accumulators))
        m.d.comb += self.acc_value.eq(accumulators[self.acc_sel])

        # ---- output queue ----------------------------------------------------------------
        out_layout = data.StructLayout({"color": p.color_bits, "data": 32, "ctrl": 1})
        out_q = Array(Signal(out_layout, name=f"out{k}") for k in range(OUTPUT_DEPTH))
        out_count = Signal(range(OUTPUT_DEPTH + 1))
        reserved = Signal(range(OUTPUT_DEPTH + 1))     # room promised to beats in flight
        m.d.comb += [
            self.out.valid.eq(out_count != 0),
            self.out.payload.color.eq(out_q[0].color),
            self.out.payload.data.eq(out_q[0].data),
            self.out.payload.ctrl.eq(out_q[0].ctrl),
        ]
        out_pop = Signal()
        m.d.comb += out_pop.eq(self.out.valid & self.out.ready)
        # Up to three pushes a cycle: the write stage's two, then the scalar unit's send.
        pushes = [Signal(out_layout, name=f"push{k}") for k in range(3)]
        push_valid = Signal(3)
        # Room neither queued nor reserved: a register (kept with out_count and reserved, so
        # that room + reserved + out_count == OUTPUT_DEPTH after every cycle), so that the
        # pick does not start with a subtraction.
        room = Signal(range(OUTPUT_DEPTH + 1), init=OUTPUT_DEPTH)
        # A send needs room that no beat can take this cycle (a beat reserves up to two).
        m.d.comb += self.send.ready.eq(room >= 3)
        send_taken = Signal()
        m.d.comb += send_taken.eq(self.send.valid & self.send.ready)

        # ---- issue: checks, then a slot ----------------------------------------------------
        issue = self.issue
        held = {name: Signal.like(getattr(issue, name), name=f"held_{name}")
                for name in ("op", "etype", "dtype", "to_acc", "acc", "shift", "scalar",
                             "async_", "on_done", "task")}
        held_desc = [Signal(descriptor_layout(), name=f"held_desc{k}") for k in range(3)]
        operand_type = [Signal(ElemType, name=f"type{k}") for k in range(3)]
        op = held["op"]
        m.d.comb += [
            operand_type[SRC0].eq(held["etype"]),
            operand_type[SRC1].eq(held["etype"]),
            operand_type[DST].eq(Mux(op == VecOp.DOT, ElemType.I64,
                                     Mux(op == VecOp.NARROW, held["dtype"], held["etype"]))),
        ]
        two_sources = (op != VecOp.MOV) & (op != VecOp.NARROW)
        dot_rows = (op == VecOp.DOT) & ~held["to_acc"]
        uses = [~((op == VecOp.DOT) & held["to_acc"]), Const(1), two_sources]
        kinds = [d.kind for d in held_desc]

        # Descriptor checks (one cycle).
        bad = Signal()
        checks = []
        for k in (SRC0, SRC1):
            checks.append(uses[k] & (kinds[k] != DescKind.MEM) & (kinds[k] != DescKind.FIN))
        checks.append(uses[DST] & (kinds[DST] != DescKind.MEM) & (kinds[DST] != DescKind.FOUT))
        checks.append((op == VecOp.NARROW) & (kinds[DST] != DescKind.MEM))
        for k in range(3):
            fabric = (kinds[k] == DescKind.FIN) | (kinds[k] == DescKind.FOUT)
            checks.append(uses[k] & fabric & (held_desc[k].color >= C))
        checks.append(two_sources & (kinds[SRC0] == DescKind.FIN) & (kinds[SRC1] == DescKind.FIN)
                      & (held_desc[SRC0].color == held_desc[SRC1].color))
        shape = lambda d: Cat(d.len, d.rows)   # noqa: E731
        checks.append(two_sources & (shape(held_desc[SRC1]) != shape(held_desc[SRC0])))
        checks.append(uses[DST] & ~dot_rows & (shape(held_desc[DST]) != shape(held_desc[SRC0])))
        checks.append(dot_rows & ((held_desc[DST].len != held_desc[SRC0].rows)
                                  | (held_desc[DST].rows != 1)))
        m.d.comb += bad.eq(Cat(checks).any())

        # Memory range, one operand a cycle in two steps (registered between, so that no path
        # runs from the multipliers through the adders and on into the scalar unit): the
        # operand's extent along and across its rows, then its lowest and highest word
        # against the memory.
        range_k = Signal(range(4))      # the operand whose extent is computed this cycle
        d_sel = Array(held_desc)[range_k[:2]]
        t_sel = Array(operand_type)[range_k[:2]]
        len_m1 = Signal(signed(18))
        rows_m1 = Signal(signed(18))
        m.d.comb += [len_m1.eq(d_sel.len - 1), rows_m1.eq(d_sel.rows - 1)]
        # (Exactly the products' widths: a wider signal's copied sign bits read to Verilator as
        # a loop.)
        along = Signal(signed(34))      # (len - 1) * stride elements, then in words
        across = Signal(signed(34))
        m.d.comb += [along.eq(len_m1 * d_sel.stride.as_signed()),
                     across.eq(rows_m1 * d_sel.rowstride.as_signed())]
        extent = {name: Signal(shape, name=f"extent_{name}") for name, shape in {
            "check": 1, "along": signed(34), "across": signed(34), "base": 16,
            "type": ElemType}.items()}
        m.d.sync += [
            extent["check"].eq((range_k < 3) & Array(uses)[range_k[:2]]
                               & (d_sel.kind == DescKind.MEM)
                               & (d_sel.len != 0) & (d_sel.rows != 0)),
            extent["along"].eq(along), extent["across"].eq(across),
            extent["base"].eq(d_sel.base), extent["type"].eq(t_sel),
        ]
        along_words = Signal(signed(36))
        with m.Switch(extent["type"]):
            for t in ElemType:
                with m.Case(t):
                    shift = t.bits.bit_length() - 1 - 5     # log2(bits) - log2(32)
                    e_along = extent["along"]
                    m.d.comb += along_words.eq(e_along >> -shift if shift < 0
                                               else e_along << shift)
        e_across = extent["across"]
        low = Signal(signed(42))
        high = Signal(signed(42))
        m.d.comb += [
            low.eq(extent["base"] + Mux(along_words < 0, along_words, 0)
                   + Mux(e_across < 0, e_across, 0)),
            high.eq(extent["base"] + Mux(along_words > 0, along_words, 0)
                    + Mux(e_across > 0, e_across, 0) + (extent["type"] == ElemType.I64)),
        ]
        out_of_range = Signal()
        m.d.comb += out_of_range.eq(extent["check"] & ((low < 0) | (high >= self._total_words)))

        # The beat size: full beats, one wavelet with a fabric operand, one element with a
        # strided memory operand.
        e_log2 = Signal(3)
        base_log2 = Signal(3)
        multiplying = (op == VecOp.MUL) | (op == VecOp.DOT) | (op == VecOp.AXPY)
        with m.Switch(held["etype"]):
            with m.Case(ElemType.I8):
                m.d.comb += base_log2.eq(Mux(multiplying, lanes_log2, lanes_log2 + 1))
            with m.Case(ElemType.I16):
                m.d.comb += base_log2.eq(lanes_log2)
            with m.Case(ElemType.I32):
                m.d.comb += base_log2.eq(lanes_log2 - 1)
            with m.Case(ElemType.I64):
                m.d.comb += base_log2.eq(max(0, lanes_log2 - 2))
        fabric_any = Cat((uses[k] & ((kinds[k] == DescKind.FIN) | (kinds[k] == DescKind.FOUT)))
                         for k in range(3)).any()
        strided = Cat((uses[k] & (kinds[k] == DescKind.MEM) & (held_desc[k].stride != 1)
                       & ~(dot_rows & (k == DST))) for k in range(3)).any()
        fabric_log2 = Signal(3)
        m.d.comb += fabric_log2.eq(Mux(held["etype"] == ElemType.I64, 0,
                                       2 - held["etype"]))       # 32 / bits, log2
        m.d.comb += e_log2.eq(Mux(strided, 0, Mux(fabric_any & (fabric_log2 < base_log2),
                                                  fabric_log2, base_log2)))

        free_slot = Signal(range(S))
        any_free = Signal()
        for s in reversed(range(1, S)):
            with m.If(~slots["busy"][s]):
                m.d.comb += [free_slot.eq(s), any_free.eq(1)]
        slot0_done = Signal()     # the write stage completes slot 0's instruction

        # `done` and `fault` are registered: the scalar unit sees them a cycle after the
        # engine decides (no path from the checks or the write stage into its fetch).
        done = Signal()
        fault = Signal(Fault)
        m.d.sync += [issue.done.eq(done & ~self.stop), issue.fault.eq(fault)]
        with m.FSM(name="issue"):
            with m.State("IDLE"):
                # (Not in the cycle `done` shows: the instruction still offered is the one
                # that completed.)
                with m.If(issue.valid & ~issue.done & ~self.stop):
                    for name, sig in held.items():
                        m.d.sync += sig.eq(getattr(issue, name))
                    for k in range(3):
                        m.d.sync += held_desc[k].eq(issue.desc[k])
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(bad):
                    m.d.comb += [done.eq(1), fault.eq(Fault.DESCRIPTOR)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += range_k.eq(0)
                    m.next = "RANGE"
                with m.If(self.stop):
                    m.next = "IDLE"
            with m.State("RANGE"):
                # range_k's extent is computed while range_k - 1's is checked.
                m.d.sync += range_k.eq(range_k + 1)
                with m.If(out_of_range):
                    m.d.comb += [done.eq(1), fault.eq(Fault.MEMORY_RANGE)]
                    m.next = "IDLE"
                with m.Elif(range_k == 3):
                    m.next = "ALLOC"
                with m.If(self.stop):
                    m.next = "IDLE"
            with m.State("ALLOC"):
                target = Signal(range(S))
                m.d.comb += target.eq(Mux(held["async_"], free_slot, 0))
                with m.If(self.stop):
                    m.next = "IDLE"
                with m.Elif(~held["async_"] | any_free):
                    self._start_slot(m, slots, target, held, held_desc, operand_type, uses,
                                     e_log2, dot_rows, rowsum, pack)
                    with m.If(held["async_"]):
                        m.d.comb += done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(slot0_done):
                    m.d.comb += done.eq(1)
                    m.next = "IDLE"
                with m.If(self.stop):
                    m.next = "IDLE"

        # ---- pick ------------------------------------------------------------------------
        m.submodules.picker = picker = RoundRobinArbiter(S)
        can_go = Signal(S)
        wait_input = Signal(S)
        wait_output = Signal(S)
        for s in range(S):
            fin_ok = Const(1)
            for k in (SRC0, SRC1):
                is_fin = slots[f"kind{k}"][s] == DescKind.FIN
                color = slots[f"color{k}"][s]
                need = Mux(slots["etype"][s] == ElemType.I64, 2, 1)
                count = Array(self.queue_count)[color]
                ok = ~is_fin | slots["empty"][s] | slots["none"][s] | (count >= need)
                if k == SRC1:
                    ok = ok | (slots["op"][s] == VecOp.MOV) | (slots["op"][s] == VecOp.NARROW)
                fin_ok = fin_ok & ok
            fout_ok = (slots[f"kind{DST}"][s] != DescKind.FOUT) | (room >= 2) | \
                ((slots["op"][s] == VecOp.DOT) & slots["to_acc"][s])
            live = slots["busy"][s] & ~slots["issued"][s]
            m.d.comb += [
                can_go[s].eq(live & fin_ok & fout_ok),
                wait_input[s].eq(live & ~fin_ok),
                wait_output[s].eq(live & fin_ok & ~fout_ok),
            ]

        # The pipeline's registers.
        beat_layout = data.StructLayout({
            "valid": 1, "slot": range(S), "count": range(2 * lanes + 1), "row_end": 1,
            "last": 1,
            "src_addr": data.ArrayLayout(17, 2), "src_bit": data.ArrayLayout(5, 2),
            "src_words": data.ArrayLayout(range(NW + 1), 2),
            "src_fin": data.ArrayLayout(1, 2), "fin_data": data.ArrayLayout(64, 2),
            "dst_kind": DescKind, "dst_addr": 17, "dst_bit": 5, "dst_words": range(NW + 1),
            "emit": range(3),
        })
        R = Signal(beat_layout)                         # read stage
        r_words = Array(Signal(32, name=f"r_word{k}") for k in range(2 * NW))
        r_granted = Signal(2 * NW)                      # granted in an earlier cycle
        arriving = Signal(2 * NW)                       # granted last cycle: data on rdata now
        A = Signal(beat_layout)                         # arrive stage
        a_words = Array(Signal(32, name=f"a_word{k}") for k in range(2 * NW))
        a_live = Signal(2 * NW)                         # on the banks' rdata this cycle
        D = Signal(beat_layout)                         # compute stage
        d_src = [Signal(BW, name=f"d_src{n}") for n in range(2)]   # aligned operands
        W = Signal(data.StructLayout({
            "beat": beat_layout, "result": BW, "dot": signed(64), "macs": range(2 * lanes + 1),
        }))
        w_written = Signal(max(2, NW))                  # dst words written in earlier cycles

        # Stage moves, from the back: write finishes -> compute moves -> read moves -> pick.
        w_finish = Signal()
        d_move = Signal()
        a_move = Signal()
        r_all_granted = Signal()
        r_move = Signal()
        pick = Signal()
        m.d.comb += [
            d_move.eq(D.valid & (~W.beat.valid | w_finish)),
            a_move.eq(A.valid & (~D.valid | d_move)),
            r_move.eq(R.valid & r_all_granted & (~A.valid | a_move)),
            picker.requests.eq(can_go),
            pick.eq(can_go.any() & (~R.valid | r_move) & ~self.stop),
            picker.advance.eq(pick),
        ]
        sel = Signal(range(S))
        for s in range(S):
            with m.If(picker.grant[s]):
                m.d.comb += sel.eq(s)

        # Every slot's next beat: its size, whether it ends a row or the instruction, and the
        # wavelets it takes from each color. Computed for all slots at once and then chosen
        # by the picker's one-hot grant, so that the pops reach the input queues through an
        # AND-OR, not through the slot choice, a field lookup and the beat's adders.
        count = Signal(range(2 * lanes + 1))
        row_end = Signal()
        last = Signal()
        pop_of = [Const(0, 2 * C)]      # 2 bits a color, OR-ed over the granted slot
        counts, row_ends, lasts = [], [], []
        for s in range(S):
            e_count = Const(1, 6) << slots["e_log2"][s]
            none, left = slots["none"][s], slots["left"][s]
            s_count = Signal(range(2 * lanes + 1), name=f"slot{s}_beat_count")
            s_row_end = Signal(name=f"slot{s}_beat_row_end")
            s_bits = Signal(11, name=f"slot{s}_beat_bits")
            m.d.comb += [
                s_count.eq(Mux(none, 0, Mux(left < e_count, left, e_count))),
                s_row_end.eq(~none & (left <= e_count)),
                s_bits.eq(s_count << _log2_bits(slots["etype"][s])),
            ]
            granted = picker.grant[s]
            counts.append(Mux(granted, s_count, 0))
            row_ends.append(granted & s_row_end)
            lasts.append(granted & (none | (s_row_end & (slots["rows_left"][s] <= 1))))
            for k in (SRC0, SRC1):
                used = Const(1) if k == SRC0 else \
                    ~((slots["op"][s] == VecOp.MOV) | (slots["op"][s] == VecOp.NARROW))
                bit = slots[f"bit{k}"][s]
                taken = Signal(2, name=f"slot{s}_pop{k}")
                with m.If(used & (slots[f"kind{k}"][s] == DescKind.FIN)):
                    with m.If(slots["etype"][s] == ElemType.I64):
                        m.d.comb += taken.eq(Mux(s_count != 0, 2, 0))
                    with m.Elif((bit + s_bits >= 32) | (s_row_end & (bit + s_bits != 0))):
                        m.d.comb += taken.eq(1)
                pop_of.append(Mux(granted, taken << (2 * slots[f"color{k}"][s]), 0))
        pops_by_color = Signal(2 * C)
        m.d.comb += [pops_by_color.eq(_any_of(pop_of, 2 * C)),
                     count.eq(_any_of(counts, len(count))),
                     row_end.eq(_any_of(row_ends, 1)), last.eq(_any_of(lasts, 1))]

        # The picked slot's beat.
        f = {name: arr[sel] for name, arr in slots.fields.items()}
        src_bits = Signal(11)
        m.d.comb += src_bits.eq(count << _log2_bits(f["etype"]))   # bits of the beat
        dst_type = Signal(ElemType)
        m.d.comb += dst_type.eq(Mux(f["op"] == VecOp.DOT, ElemType.I64,
                                    Mux(f["op"] == VecOp.NARROW, f["dtype"], f["etype"])))
        dst_bits = Signal(11)
        m.d.comb += dst_bits.eq(count << _log2_bits(dst_type))
        f_dot_rows = (f["op"] == VecOp.DOT) & ~f["to_acc"]

        beat = Signal(beat_layout)
        m.d.comb += [beat.valid.eq(1), beat.slot.eq(sel), beat.count.eq(count),
                     beat.row_end.eq(row_end), beat.last.eq(last)]
        for n, k in enumerate((SRC0, SRC1)):
            kind = f[f"kind{k}"]
            used = Const(1) if k == SRC0 else \
                ~((f["op"] == VecOp.MOV) | (f["op"] == VecOp.NARROW))
            bit = f[f"bit{k}"]
            color = f[f"color{k}"]
            head = Array(self.queue_head)[color]
            second = Array(self.queue_second)[color]
            m.d.comb += [
                beat.src_addr[n].eq(f[f"addr{k}"]),
                beat.src_bit[n].eq(bit),
                beat.src_fin[n].eq(kind == DescKind.FIN),
                beat.fin_data[n].eq(Cat(head, second) >> bit),
            ]
            with m.If(used & (kind == DescKind.MEM) & (count != 0)):
                m.d.comb += beat.src_words[n].eq((bit + src_bits + 31) >> 5)
        dst_kind = f[f"kind{DST}"]
        dst_bit = f[f"bit{DST}"]
        m.d.comb += [beat.dst_kind.eq(Mux(f["to_acc"] & (f["op"] == VecOp.DOT), DescKind.NONE,
                                          dst_kind)),
                     beat.dst_addr.eq(f[f"addr{DST}"]), beat.dst_bit.eq(dst_bit)]
        with m.If(f_dot_rows):
            with m.If(row_end):
                with m.If(dst_kind == DescKind.MEM):
                    m.d.comb += beat.dst_words.eq(2)
                with m.Else():
                    m.d.comb += beat.emit.eq(2)
        with m.Elif(dst_kind == DescKind.MEM):
            with m.If(count != 0):
                m.d.comb += beat.dst_words.eq((dst_bit + dst_bits + 31) >> 5)
        with m.Elif(dst_kind == DescKind.FOUT):
            with m.If(dst_type == ElemType.I64):
                m.d.comb += beat.emit.eq(Mux(count != 0, 2, 0))
            with m.Elif((dst_bit + dst_bits >= 32) | (row_end & (dst_bit + dst_bits != 0))):
                m.d.comb += beat.emit.eq(1)

        # The slot steps on.
        with m.If(pick):
            for c in range(C):
                m.d.comb += self.pop[c].eq(pops_by_color[2 * c:2 * c + 2])
            m.d.sync += [slots["issued"][sel].eq(last),
                         slots["left"][sel].eq(Mux(row_end, f["length"], f["left"] - count)),
                         slots["rows_left"][sel].eq(f["rows_left"] - row_end)]
            for k in range(3):
                kind = f[f"kind{k}"]
                addr, bit = f[f"addr{k}"], f[f"bit{k}"]
                bits_used = dst_bits if k == DST else src_bits
                stepped = Signal(6, name=f"stepped{k}")
                m.d.comb += stepped.eq(bit + f[f"step_bits{k}"])
                step_addr = addr + f[f"step_words{k}"] + stepped[5]
                next_row = f[f"row_base{k}"] + f[f"rowstride{k}"]
                if k == DST:
                    with m.If(f_dot_rows):
                        # One int64 per row of the sources: the destination steps at row ends.
                        with m.If(row_end):
                            m.d.sync += [slots[f"addr{k}"][sel].eq(step_addr),
                                         slots[f"bit{k}"][sel].eq(stepped[:5])]
                with m.If((kind == DescKind.MEM) & ~(f_dot_rows if k == DST else Const(0))):
                    with m.If(row_end):
                        m.d.sync += [slots[f"addr{k}"][sel].eq(next_row),
                                     slots[f"row_base{k}"][sel].eq(next_row),
                                     slots[f"bit{k}"][sel].eq(0)]
                    with m.Else():
                        m.d.sync += [slots[f"addr{k}"][sel].eq(step_addr),
                                     slots[f"bit{k}"][sel].eq(stepped[:5])]
                with m.If((kind == DescKind.FIN) | (kind == DescKind.FOUT)):
                    # The bit offset in the current wavelet.
                    m.d.sync += slots[f"bit{k}"][sel].eq(Mux(row_end, 0,
                                                             (bit + bits_used)[:5]))

        # ---- read stage ------------------------------------------------------------------
        word_addr = []
        word_pending = Signal(2 * NW)
        for w in range(2 * NW):
            n, k = divmod(w, NW)
            a = Signal(17, name=f"word_addr{w}")
            m.d.comb += [a.eq(R.src_addr[n] + k),
                         word_pending[w].eq(R.valid & (k < R.src_words[n]) & ~r_granted[w])]
            word_addr.append(a)
        grant_now = Signal(2 * NW)
        grants = []
        for q in range(B):
            port = self.banks[q]
            # The lowest pending word on this bank asks for it.
            mask = Cat(word_pending[w] & ((word_addr[w][:bank_bits] == q) if bank_bits else 1)
                       for w in range(2 * NW))
            first = Signal(2 * NW, name=f"first_on_bank{q}")
            m.d.comb += [first.eq(mask & (~mask + 1)), port.read.eq(mask.any())]
            for w in range(2 * NW):
                with m.If(first[w]):
                    m.d.comb += port.read_row.eq(word_addr[w][bank_bits:])
            grants.append(Mux(port.read_grant, first, 0))
        m.d.comb += grant_now.eq(_any_of(grants, 2 * NW))
        m.d.comb += r_all_granted.eq(((r_granted | grant_now) & word_pending) == word_pending)

        def bank_rdata(w, addr):
            if not bank_bits:
                return self.banks[0].rdata
            return Array(port.rdata for port in self.banks)[addr[:bank_bits]]

        with m.If(r_move):
            m.d.sync += [A.eq(R), a_live.eq(grant_now), r_granted.eq(0)]
            for w in range(2 * NW):
                m.d.sync += a_words[w].eq(Mux(arriving[w], bank_rdata(w, word_addr[w]),
                                              r_words[w]))
            m.d.sync += R.valid.eq(0)
        with m.Else():
            m.d.sync += r_granted.eq(r_granted | grant_now)
            for w in range(2 * NW):
                with m.If(arriving[w]):
                    m.d.sync += r_words[w].eq(bank_rdata(w, word_addr[w]))
        m.d.sync += arriving.eq(Mux(r_move, 0, grant_now))
        with m.If(pick):
            m.d.sync += [R.eq(beat), r_granted.eq(0), arriving.eq(0)]

        # ---- arrive stage ------------------------------------------------------------------
        a_addr = []
        for w in range(2 * NW):
            n, k = divmod(w, NW)
            a = Signal(17, name=f"a_addr{w}")
            m.d.comb += a.eq(A.src_addr[n] + k)
            a_addr.append(a)
        a_data = [Mux(a_live[w], bank_rdata(w, a_addr[w]), a_words[w]) for w in range(2 * NW)]
        with m.If(a_move):
            m.d.sync += [D.eq(A), A.valid.eq(0)]
            for n in range(2):
                memory_words = Cat(a_data[n * NW:(n + 1) * NW])
                m.d.sync += d_src[n].eq(Mux(A.src_fin[n], A.fin_data[n],
                                            memory_words >> A.src_bit[n]))
        with m.Elif(A.valid):
            # Held: keep the words that arrive now.
            for w in range(2 * NW):
                with m.If(a_live[w]):
                    m.d.sync += a_words[w].eq(bank_rdata(w, a_addr[w]))
            m.d.sync += a_live.eq(0)
        with m.If(r_move):
            m.d.sync += A.valid.eq(1)

        # ---- compute stage ---------------------------------------------------------------
        m.submodules.datapath = dp = SimdDatapath(p)
        # The instruction's fields for the datapath, registered with the beat as it enters
        # the stage (not looked up by slot in front of the multipliers).
        dfield = {name: Signal(shape, name=f"d_{name}") for name, shape in {
            "op": VecOp, "etype": ElemType, "dtype": ElemType, "shift": 5, "scalar": 32}.items()}
        with m.If(a_move):
            m.d.sync += [sig.eq(slots[name][A.slot]) for name, sig in dfield.items()]
        sources = d_src
        m.d.comb += [
            dp.op.eq(dfield["op"]), dp.etype.eq(dfield["etype"]), dp.dtype.eq(dfield["dtype"]),
            dp.shift.eq(dfield["shift"]), dp.scalar.eq(dfield["scalar"]), dp.count.eq(D.count),
            dp.a.eq(sources[0]), dp.b.eq(sources[1]),
        ]
        with m.If(d_move):
            m.d.sync += [W.beat.eq(D), W.result.eq(dp.result), W.dot.eq(dp.dot),
                         W.macs.eq(dp.macs), D.valid.eq(0)]
        with m.If(a_move):
            m.d.sync += D.valid.eq(1)

        # ---- write stage -----------------------------------------------------------------
        wb = W.beat
        wslot = {name: arr[wb.slot] for name, arr in slots.fields.items()}
        w_dot_rows = (wslot["op"] == VecOp.DOT) & ~wslot["to_acc"]
        row_total = Signal(signed(64))
        acc_bits = p.core_acc_bits
        m.d.comb += row_total.eq((rowsum[wb.slot] + W.dot)[:acc_bits].as_signed())
        w_type = Signal(ElemType)
        m.d.comb += w_type.eq(Mux(wslot["op"] == VecOp.NARROW, wslot["dtype"], wslot["etype"]))
        valid_bits = Signal(range(BW + 1))
        m.d.comb += valid_bits.eq(wb.count << _log2_bits(w_type))
        # The destination's bits: a row's sum, or the beat's valid results.
        value = Signal(BW + 32)
        value_mask = Signal(BW + 32)
        with m.If(w_dot_rows):
            m.d.comb += [value.eq(row_total), value_mask.eq((1 << 64) - 1)]
        with m.Else():
            m.d.comb += [value.eq(W.result << wb.dst_bit),
                         value_mask.eq((((Const(1, BW + 1) << valid_bits) - 1)[:BW])
                                       << wb.dst_bit)]
        n_dst_words = max(2, NW)
        w_pending = Signal(n_dst_words)
        w_addr = []
        for w in range(n_dst_words):
            a = Signal(17, name=f"w_addr{w}")
            m.d.comb += [a.eq(wb.dst_addr + w),
                         w_pending[w].eq(wb.valid & (w < wb.dst_words) & ~w_written[w])]
            w_addr.append(a)
        w_grant = Signal(n_dst_words)
        write_grants = []
        for q in range(B):
            port = self.banks[q]
            mask = Cat(w_pending[w] & ((w_addr[w][:bank_bits] == q) if bank_bits else 1)
                       for w in range(n_dst_words))
            first = Signal(n_dst_words, name=f"first_write_bank{q}")
            m.d.comb += [first.eq(mask & (~mask + 1)), port.write.eq(mask.any())]
            for w in range(n_dst_words):
                with m.If(first[w]):
                    m.d.comb += [
                        port.write_row.eq(w_addr[w][bank_bits:]),
                        port.wdata.eq(value.word_select(w, 32)),
                        port.write_mask.eq(Cat(value_mask.word_select(w, 32)[8 * b]
                                               for b in range(4))),
                    ]
            write_grants.append(Mux(port.write_grant, first, 0))
        m.d.comb += w_grant.eq(_any_of(write_grants, n_dst_words))
        writes_done = ((w_written | w_grant) & w_pending) == w_pending
        m.d.comb += w_finish.eq(wb.valid & writes_done)
        with m.If(d_move):
            m.d.sync += w_written.eq(0)
        with m.Else():
            m.d.sync += w_written.eq(w_written | w_grant)

        # Fabric out: pack the results into wavelets.
        packed = Signal(32)
        m.d.comb += packed.eq(pack[wb.slot] | (value & value_mask)[:32])
        w_color = wslot[f"color{DST}"]
        with m.If(wb.valid & (wb.dst_kind == DescKind.FOUT)):
            with m.If(wb.emit == 2):
                for k in range(2):
                    m.d.comb += [pushes[k].color.eq(w_color),
                                 pushes[k].data.eq(Mux(w_dot_rows, row_total, W.result)
                                                   .word_select(k, 32))]
                m.d.comb += push_valid[:2].eq(0b11)
            with m.Elif(wb.emit == 1):
                m.d.comb += [pushes[0].color.eq(w_color), pushes[0].data.eq(packed),
                             push_valid[0].eq(1)]
        with m.If(w_finish):
            with m.If(wb.dst_kind == DescKind.FOUT):
                m.d.sync += pack[wb.slot].eq(Mux(wb.emit != 0, 0, packed))
            with m.If(wslot["op"] == VecOp.DOT):
                with m.If(wslot["to_acc"]):
                    a = accumulators[wslot["acc"]]
                    m.d.sync += a.eq((a + W.dot)[:acc_bits])
                with m.Else():
                    m.d.sync += rowsum[wb.slot].eq(Mux(wb.row_end, 0, row_total))
            m.d.sync += W.beat.valid.eq(0)
            with m.If(wb.last):
                m.d.sync += slots["busy"][wb.slot].eq(0)
                with m.If(wslot["async_"]):
                    m.d.comb += [self.completion.valid.eq(1), self.completion.task.eq(wslot["task"]),
                                 self.completion.op.eq(Mux(wslot["on_done"], TaskOp.UNBLOCK,
                                                           TaskOp.ACTIVATE))]
                with m.Else():
                    m.d.comb += slot0_done.eq(1)
            m.d.comb += self.macs.eq(W.macs)
        with m.If(d_move):
            m.d.sync += W.beat.valid.eq(1)
        with m.If(self.acc_clear):
            m.d.sync += accumulators[self.acc_sel].eq(0)
        with m.If(self.init):
            for a in accumulators:
                m.d.sync += a.eq(0)

        # The output queue: shift out the head, then append this cycle's pushes in order.
        m.d.comb += [pushes[2].color.eq(self.send.color), pushes[2].data.eq(self.send.data),
                     pushes[2].ctrl.eq(self.send.ctrl), push_valid[2].eq(send_taken)]
        kept = out_count - out_pop
        for k in range(OUTPUT_DEPTH):
            if k + 1 < OUTPUT_DEPTH:
                with m.If(out_pop):
                    m.d.sync += out_q[k].eq(out_q[k + 1])
            for n in range(3):
                position = kept + sum(push_valid[i] for i in range(n))
                with m.If(push_valid[n] & (position == k)):
                    m.d.sync += out_q[k].eq(pushes[n])
        pushed = push_valid[0] + push_valid[1] + push_valid[2]
        m.d.sync += out_count.eq(kept + pushed)
        reserve = Mux(pick, beat.emit, 0)
        m.d.sync += [reserved.eq(reserved + reserve - (push_valid[0] + push_valid[1])),
                     room.eq(room + out_pop - reserve - push_valid[2])]

        # ---- counters and stopping ---------------------------------------------------------
        fin_colors = Const(0, C)
        for s in range(S):
            for k in (SRC0, SRC1):
                fin_colors = fin_colors | Mux(
                    slots["busy"][s] & (slots[f"kind{k}"][s] == DescKind.FIN),
                    Const(1, C) << slots[f"color{k}"][s], 0)
        m.d.comb += self.fin_colors.eq(fin_colors)
        m.d.comb += [
            self.busy.eq(Cat(slots["busy"]).any() | R.valid | A.valid | D.valid
                         | W.beat.valid),
            self.stall_bank.eq((R.valid & ~r_all_granted) | (wb.valid & ~writes_done)),
            self.stall_queue.eq(~pick & wait_input.any()),
            self.stall_output.eq(~pick & ~wait_input.any() & wait_output.any()),
        ]
        with m.If(self.stop):
            for s in range(S):
                m.d.sync += slots["busy"][s].eq(0)
            m.d.sync += [R.valid.eq(0), A.valid.eq(0), D.valid.eq(0), W.beat.valid.eq(0),
                         reserved.eq(0), room.eq(OUTPUT_DEPTH - (kept + pushed)),
                         arriving.eq(0), r_granted.eq(0)]
        return m

    def _start_slot(self, m, slots, s, held, desc, operand_type, uses, e_log2, dot_rows,
                    rowsum, pack):
        """Load slot ``s`` with the held instruction."""
        d0 = desc[SRC0]
        for name in ("op", "etype", "dtype", "to_acc", "acc", "shift", "scalar", "async_",
                     "on_done", "task"):
            m.d.sync += slots[name][s].eq(held[name])
        m.d.sync += [
            slots["busy"][s].eq(1), slots["issued"][s].eq(0), slots["e_log2"][s].eq(e_log2),
            slots["length"][s].eq(d0.len), slots["left"][s].eq(d0.len),
            slots["rows_left"][s].eq(d0.rows),
            slots["none"][s].eq(d0.rows == 0), slots["empty"][s].eq(d0.len == 0),
            rowsum[s].eq(0), pack[s].eq(0),
        ]
        for k in range(3):
            d = desc[k]
            used_kind = Mux(uses[k], d.kind, DescKind.NONE)
            # A beat of E elements (one, for a per-row dot product's destination) steps the
            # operand by stride * E elements of its type, in words and bits.
            step_log2 = Signal(4, name=f"step_log2_{k}")
            per_beat = e_log2 if k != DST else Mux(dot_rows, 0, e_log2)
            m.d.comb += step_log2.eq(per_beat + _log2_bits(operand_type[k]))
            step = Signal(signed(32), name=f"step_{k}")
            m.d.comb += step.eq(d.stride.as_signed() << step_log2)
            m.d.sync += [
                slots[f"kind{k}"][s].eq(used_kind),
                slots[f"color{k}"][s].eq(d.color),
                slots[f"addr{k}"][s].eq(d.base), slots[f"row_base{k}"][s].eq(d.base),
                slots[f"bit{k}"][s].eq(0),
                slots[f"step_words{k}"][s].eq(step >> 5), slots[f"step_bits{k}"][s].eq(step[:5]),
                slots[f"rowstride{k}"][s].eq(d.rowstride.as_signed()),
            ]


def _any_of(masks, width):
    """The OR of ``masks`` (``width`` bits; zero if there are none)."""
    out = Const(0, width)
    for mask in masks:
        out = out | mask
    return out
