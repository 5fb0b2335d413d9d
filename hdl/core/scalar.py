"""The scalar control unit: fetches and runs a task's instructions, one at a time.

It starts the task the scheduler offers (a data task takes its wavelet, ``csr wdata``), reads
the task's entry from the task table, and then runs instructions from program memory until
``ret`` or ``halt``. Scalar instructions take a cycle (``ld`` three, ``mul`` and a taken
branch two); a vector instruction goes to the stream engine with the descriptor registers'
contents, and the unit waits until the engine says it may go on. Faults stop it and say why
and where (``docs/isa.md``).

Two stages, so that no path runs from program memory's output (a block RAM, slow to its
output) through the ALU: *decode* reads the fetched word's register operands (the result of
the instruction executing is forwarded) and registers them with the word; *execute* runs the
registered instruction. Program memory is a synchronous block RAM read a word ahead: the next
address is fetched while an instruction executes, so a taken branch or ``jmp`` drops the
decoded word and costs a cycle more. Waiting keeps the word (the read port's enable is low).
An address beyond program memory is not read; it faults when it comes to execute.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import enum, memory, wiring
from amaranth.lib.wiring import In, Out

from .datapath import VECTOR_OPCODES, VecOp
from .isa import (FORMATS, NUM_DESCRIPTORS, NUM_REGS, AccFunc, AluFunc, CompletionAction, Csr,
                  DescField, ElemType, Fault, Opcode)
from .scheduler import TaskOp, TaskRequestSignature
from .stream import IssueSignature, descriptor_layout

__all__ = ["ScalarUnit", "ScalarMemorySignature", "SendSignature", "INIT_CLEAR_CYCLES"]

# Cycles ``init`` must last: the register and descriptor files are small RAMs (LUT RAM on an
# FPGA, not flip-flops and wide multiplexers), cleared a word a cycle.
INIT_CLEAR_CYCLES = max(NUM_REGS, NUM_DESCRIPTORS)


class ScalarMemorySignature(wiring.Signature):
    """The scalar unit's word access to the tile memory (``read`` data in the next cycle)."""

    def __init__(self, total_words):
        super().__init__({
            "addr": Out(range(total_words)), "read": Out(1), "write": Out(1),
            "wdata": Out(32), "rdata": In(32), "grant": In(1),
        })


class SendSignature(wiring.Signature):
    def __init__(self, params):
        super().__init__({"valid": Out(1), "ready": In(1), "color": Out(params.color_bits),
                          "data": Out(32), "ctrl": Out(1)})


def _field(word, fmt, name):
    f = FORMATS[fmt][name]
    value = word[f.lo:f.lo + f.width]
    return value.as_signed() if f.signed else value


class ScalarUnit(wiring.Component):
    """Fetch, decode and run; see the module's description.

    Members
    -------
    run : ``In(1)``
        The core is running; ``init`` (held for at least :data:`INIT_CLEAR_CYCLES`) clears
        the registers and descriptors.
    imem_addr, imem_en : ``Out``; imem_data : ``In(32)``
        Program memory's read port.
    runnable, next_task, next_is_data, declared, is_data : ``In``; start : ``Out``
        The scheduler.
    task_request : ``Out(TaskRequestSignature())``; task_fault : ``In(1)``
        ``activate``, ``block``, ``unblock``.
    queue_count, queue_head : ``In`` per color; pop : ``Out(1)`` per color
        The input queues, for a data task's wavelet and ``recv``.
    engine_colors : ``In(num_colors)``
        Colors the stream engine takes wavelets from: not the scalar unit's to pop (a program
        gives each color one consumer, ``docs/isa.md``; this keeps the two from popping one
        queue in the same cycle when a program does not).
    mem : ``Out(ScalarMemorySignature(...))``
    issue : ``Out(IssueSignature())``; send : ``Out(SendSignature(...))``
    acc_sel, acc_clear : ``Out``; acc_value : ``In``
    engine_busy : ``In(1)``
        A vector instruction is in flight (``halt`` waits for none).
    x, y, cycle : ``In``
        For ``csr``.
    fault, fault_cause, fault_pc : ``Out``
        A fault (one cycle), its cause and the address of the instruction.
    halted : ``Out(1)``
        ``halt`` completed (one cycle).
    task_running, retired, started, stall_queue, stall_output, stall_bank : ``Out(1)``
        For the counters.
    """

    def __init__(self, params):
        self._params = params
        p = params
        C = p.num_colors
        super().__init__({
            "run": In(1), "init": In(1),
            "imem_addr": Out(range(p.core_program_words)), "imem_en": Out(1),
            "imem_data": In(32),
            "runnable": In(1), "next_task": In(6), "next_is_data": In(1), "start": Out(1),
            "declared": In(p.core_tasks), "is_data": In(p.core_tasks),
            "task_request": Out(TaskRequestSignature()), "task_fault": In(1),
            "queue_count": In(range(p.core_queue_depth + 1)).array(C),
            "queue_head": In(32).array(C),
            "engine_colors": In(C),
            "pop": Out(1).array(C),
            "mem": Out(ScalarMemorySignature(p.sram_bytes // 4)),
            "issue": Out(IssueSignature()),
            "send": Out(SendSignature(p)),
            "acc_sel": Out(3), "acc_clear": Out(1), "acc_value": In(signed(64)),
            "engine_busy": In(1),
            "x": In(p.coord_bits), "y": In(p.coord_bits), "cycle": In(32),
            "fault": Out(1), "fault_cause": Out(Fault), "fault_pc": Out(16),
            "halted": Out(1),
            "task_running": Out(1), "retired": Out(1), "started": Out(1),
            "stall_queue": Out(1), "stall_output": Out(1), "stall_bank": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        C = p.num_colors
        words = p.sram_bytes // 4
        color_index = max(1, (C - 1).bit_length())
        task_index = max(1, (p.core_tasks - 1).bit_length())

        # The register file: two asynchronous read ports, one write port.
        m.submodules.regfile = regfile = memory.Memory(shape=32, depth=NUM_REGS, init=[])
        reg_write = regfile.write_port()
        reg_p, reg_q = regfile.read_port(domain="comb"), regfile.read_port(domain="comb")
        # The descriptor file: a read port per operand of a vector instruction; a write port
        # that writes one 16-bit field.
        m.submodules.descfile = descfile = memory.Memory(shape=descriptor_layout().size,
                                                         depth=NUM_DESCRIPTORS, init=[])
        desc_write = descfile.write_port(granularity=16)
        desc_reads = [descfile.read_port(domain="comb") for _ in range(3)]   # dst, src0, src1
        clear = Signal(range(INIT_CLEAR_CYCLES))      # the word init clears this cycle
        with m.If(self.init):
            m.d.sync += clear.eq(clear + 1)
        with m.Else():
            m.d.sync += clear.eq(0)

        # ---- decode: the fetched word's register operands ---------------------------------
        # The word on program memory's read port is decoded while the instruction before it
        # executes: its two register operands are read (the executing instruction's result
        # forwarded) and registered with it. `p` reads bits 21:18 (rs1 of R, I and S; rs2 of
        # B), `q` the other operand wherever its format keeps it (each extra read port is a
        # 16-way mux of 32 bits).
        d_word = self.imem_data
        d_opcode = d_word[26:32]
        q_index = Signal(4)
        with m.Switch(d_opcode):
            with m.Case(Opcode.ALU):
                m.d.comb += q_index.eq(_field(d_word, "R", "rs2"))
            with m.Case(Opcode.DSET):
                m.d.comb += q_index.eq(_field(d_word, "DSET", "rs1"))
            with m.Case(*VECTOR_OPCODES):
                m.d.comb += q_index.eq(_field(d_word, "V", "scalar"))
            with m.Default():        # B rs1, S rs2, T rs1, SEND rs1: bits 25:22
                m.d.comb += q_index.eq(_field(d_word, "B", "rs1"))
        m.d.comb += [reg_p.addr.eq(_field(d_word, "R", "rs1")), reg_q.addr.eq(q_index)]

        def forwarded(port):
            written = reg_write.en & (reg_write.addr == port.addr)
            return Mux(written, reg_write.data, port.data)

        # The ALU's function and where its second operand comes from (`q` or the immediate)
        # are decoded here and registered with the word, so that execute's adder and shifter
        # start from registers, with no opcode decode in front of them.
        immediate_alu = {Opcode.ADDI: AluFunc.ADD, Opcode.ANDI: AluFunc.AND,
                         Opcode.ORI: AluFunc.OR, Opcode.XORI: AluFunc.XOR,
                         Opcode.SLLI: AluFunc.SLL, Opcode.SRLI: AluFunc.SRL,
                         Opcode.SRAI: AluFunc.SRA, Opcode.SLTI: AluFunc.SLT}
        d_alu_func = Signal(4)
        d_b_reg = Signal()
        with m.Switch(d_opcode):
            with m.Case(Opcode.ALU):
                m.d.comb += [d_alu_func.eq(_field(d_word, "R", "func")), d_b_reg.eq(1)]
            for opc, func in immediate_alu.items():
                with m.Case(opc):
                    m.d.comb += d_alu_func.eq(func)

        # ---- the instruction executing, as decode registered it ---------------------------
        x_valid = Signal()          # an instruction is in execute
        word = Signal(32)
        pc = Signal(17)             # the executing instruction's address
        x_pc_range = pc >= p.core_program_words     # ... beyond program memory: not read
        fetch_pc = Signal(17)       # the address of the word on the read port
        p_value = Signal(32)
        q_value = Signal(32)
        task = Signal(6)
        wdata = Signal(32)
        opcode = word[26:32]

        def field(fmt, name):
            return _field(word, fmt, name)

        rd = field("R", "rd")
        rs1_v, rs2_v = p_value, q_value
        imm = field("I", "imm")

        # Results and what the instruction does this cycle.
        write_rd = Signal()
        rd_value = Signal(32)
        advance = Signal()          # the instruction completed
        redirect = Signal()         # ... and the next one is not the next address
        target = Signal(17)
        illegal = Signal()
        fault_now = Signal()
        cause = Signal(Fault)
        end_task = Signal()

        # The ALU, shared by the register and immediate forms.
        a = Signal(32)
        b = Signal(32)
        alu_func = Signal(4)        # as decode registered them
        b_reg = Signal()
        alu_out = Signal(32)
        m.d.comb += [a.eq(rs1_v), b.eq(Mux(b_reg, rs2_v, imm))]
        results = {
            AluFunc.ADD: a + b, AluFunc.SUB: a - b, AluFunc.AND: a & b, AluFunc.OR: a | b,
            AluFunc.XOR: a ^ b, AluFunc.SLL: a << b[:5], AluFunc.SRL: a >> b[:5],
            AluFunc.SRA: a.as_signed() >> b[:5], AluFunc.SLT: a.as_signed() < b.as_signed(),
            AluFunc.SLTU: a < b,
        }
        # `mul` takes two cycles: the product is registered before it is written (no path
        # from the multipliers' adders through the register file's write and forwarding).
        product = Signal(32)
        product_ready = Signal()
        m.d.sync += [product.eq(rs1_v * rs2_v), product_ready.eq(0)]
        with m.Switch(alu_func):
            for func, value in results.items():
                with m.Case(func):
                    m.d.comb += alu_out.eq(value)

        b_a, b_b = q_value, p_value
        branches = {
            Opcode.BEQ: b_a == b_b, Opcode.BNE: b_a != b_b,
            Opcode.BLT: b_a.as_signed() < b_b.as_signed(),
            Opcode.BGE: b_a.as_signed() >= b_b.as_signed(),
            Opcode.BLTU: b_a < b_b, Opcode.BGEU: b_a >= b_b,
        }

        # Loads and stores go to the tile memory from a request register: a store is posted
        # (the instruction completes as it is registered), a load waits for its word. Nothing
        # the scalar unit does in a cycle depends on that cycle's grant (the memory agent's
        # accesses, decided from the router's output, come first). One request at a time: a
        # load, store, vector instruction or halt waits until the one before was granted.
        mem_addr = Signal(32)
        m.d.comb += mem_addr.eq(rs1_v + imm)
        req_valid = Signal()
        req_write = Signal()
        req_addr = Signal(range(words))
        req_wdata = Signal(32)
        load_granted = Signal()     # the load's read was granted: its word is on rdata
        m.d.comb += [self.mem.addr.eq(req_addr), self.mem.wdata.eq(req_wdata),
                     self.mem.read.eq(req_valid & ~req_write),
                     self.mem.write.eq(req_valid & req_write)]
        with m.If(req_valid & self.mem.grant):
            m.d.sync += req_valid.eq(0)
        m.d.sync += load_granted.eq(req_valid & ~req_write & self.mem.grant)

        # Task requests.
        t_task = Mux(field("T", "use_reg"), q_value[:6], field("T", "task"))
        t_reg_big = field("T", "use_reg") & (q_value[6:] != 0)

        # Queues: a color the engine pops this cycle is not the scalar unit's to pop.
        color_r = field("RECV", "color")
        engine_popping = self.engine_colors.bit_select(color_r[:color_index], 1)

        # Vector instructions: ILLEGAL and TASK checks here, the rest in the engine.
        v = {name: field("V", name) for name in FORMATS["V"]}
        vop = Signal(VecOp)
        for opc, op in VECTOR_OPCODES.items():
            with m.If(opcode == opc):
                m.d.comb += vop.eq(op)
        multiplying = (vop == VecOp.MUL) | (vop == VecOp.DOT) | (vop == VecOp.AXPY)
        v_illegal = Signal()
        m.d.comb += v_illegal.eq(
            (multiplying & (v["type"] == ElemType.I64))
            | ((vop == VecOp.NARROW) & ((v["type"] == ElemType.I8) | (v["dtype"] >= v["type"])))
            | ((vop == VecOp.DOT) & v["to_acc"] & (v["dst"] >= p.core_accumulators)))
        v_task_bad = Signal()
        v_task = v["task"]
        known = (v_task < p.core_tasks) & self.declared.bit_select(v_task[:task_index], 1)
        data_task = self.is_data.bit_select(v_task[:task_index], 1)
        m.d.comb += v_task_bad.eq(v["async_"] & (~known | ((v["on_done"] == CompletionAction.ACTIVATE)
                                                          & data_task)))
        m.d.comb += [
            self.issue.op.eq(vop), self.issue.etype.eq(v["type"]), self.issue.dtype.eq(v["dtype"]),
            self.issue.to_acc.eq(v["to_acc"] & (vop == VecOp.DOT)), self.issue.acc.eq(v["dst"]),
            self.issue.shift.eq(v["shift"]), self.issue.scalar.eq(q_value),
            self.issue.async_.eq(v["async_"]), self.issue.on_done.eq(v["on_done"]),
            self.issue.task.eq(v_task),
        ]
        for k, name in enumerate(("dst", "src0", "src1")):
            m.d.comb += [desc_reads[k].addr.eq(v[name]), self.issue.desc[k].eq(desc_reads[k].data)]

        acc_idx = field("ACC", "acc")
        m.d.comb += self.acc_sel.eq(Mux(opcode == Opcode.ACC, acc_idx, 0))
        acc = self.acc_value
        acc_shifted = Signal(signed(64))
        m.d.comb += acc_shifted.eq(acc >> field("ACC", "shift"))
        saturated = Mux(acc_shifted > (1 << 31) - 1, (1 << 31) - 1,
                        Mux(acc_shifted < -(1 << 31), -(1 << 31), acc_shifted))

        state = Signal(_State)
        fault_at = Signal(17)
        m.d.comb += fault_at.eq(pc)
        # Fetch: a new word for decode. `fetch_to` is its address; an address beyond program
        # memory is not read, and faults if it comes to execute.
        fetch = Signal()
        fetch_to = Signal(17)
        fetch_in_range = fetch_to < p.core_program_words
        with m.If(fetch):
            m.d.comb += [self.imem_addr.eq(fetch_to), self.imem_en.eq(fetch_in_range)]
            m.d.sync += fetch_pc.eq(fetch_to)
        # Decode to execute: the word on the read port becomes the executing instruction.
        take = Signal()
        with m.If(take):
            m.d.sync += [x_valid.eq(1), word.eq(d_word), pc.eq(fetch_pc),
                         p_value.eq(forwarded(reg_p)), q_value.eq(forwarded(reg_q)),
                         alu_func.eq(d_alu_func), b_reg.eq(d_b_reg)]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                data_color = self.next_task[:color_index]
                blocked_pop = self.next_is_data & self.engine_colors.bit_select(data_color, 1)
                with m.If(self.run & self.runnable & ~blocked_pop & ~self.init):
                    m.d.comb += [self.start.eq(1), self.imem_addr.eq(self.next_task),
                                 self.imem_en.eq(1), self.started.eq(1)]
                    m.d.sync += task.eq(self.next_task)
                    with m.If(self.next_is_data):
                        m.d.comb += Array(self.pop)[data_color].eq(1)
                        m.d.sync += wdata.eq(Array(self.queue_head)[data_color])
                    m.d.sync += state.eq(_State.ENTRY)
            with m.Case(_State.ENTRY):
                # The task table's word: fetch the entry (nothing executes yet).
                entry = d_word[:16]
                m.d.comb += self.task_running.eq(1)
                with m.If(entry >= p.core_program_words):
                    m.d.comb += [fault_now.eq(1), cause.eq(Fault.PC_RANGE), fault_at.eq(entry)]
                with m.Else():
                    m.d.comb += [fetch.eq(1), fetch_to.eq(entry)]
                    m.d.sync += [state.eq(_State.EXEC), x_valid.eq(0)]
            with m.Case(_State.LOAD):
                # The load's request waits for its bank, then its word arrives; the ld
                # instruction is still executing.
                m.d.comb += [self.task_running.eq(1), rd_value.eq(self.mem.rdata),
                             self.stall_bank.eq(req_valid & ~self.mem.grant)]
                with m.If(load_granted):
                    m.d.comb += [write_rd.eq(1), advance.eq(1)]
            with m.Case(_State.EXEC):
                m.d.comb += self.task_running.eq(1)
                with m.If(~x_valid):
                    m.d.comb += [take.eq(1), fetch.eq(1), fetch_to.eq(fetch_pc + 1)]
                with m.Elif(x_pc_range):
                    m.d.comb += [fault_now.eq(1), cause.eq(Fault.PC_RANGE)]
                with m.Else():
                    with m.Switch(opcode):
                        with m.Case(Opcode.ALU):
                            func = field("R", "func")
                            m.d.comb += [write_rd.eq(1), rd_value.eq(alu_out), advance.eq(1),
                                         illegal.eq(func > max(AluFunc))]
                            with m.If(func == AluFunc.MUL):
                                m.d.comb += [rd_value.eq(product), advance.eq(product_ready),
                                             write_rd.eq(product_ready)]
                                m.d.sync += product_ready.eq(~product_ready)
                        with m.Case(*immediate_alu):
                            m.d.comb += [write_rd.eq(1), rd_value.eq(alu_out), advance.eq(1)]
                        with m.Case(Opcode.LUI):
                            m.d.comb += [write_rd.eq(1), rd_value.eq(field("U", "imm") << 10),
                                         advance.eq(1)]
                        with m.Case(Opcode.LD, Opcode.ST):
                            in_range = mem_addr < words
                            with m.If(~in_range):
                                m.d.comb += [fault_now.eq(1), cause.eq(Fault.MEMORY_RANGE)]
                            with m.Elif(req_valid):
                                m.d.comb += self.stall_bank.eq(1)
                            with m.Else():
                                m.d.sync += [req_valid.eq(1), req_write.eq(opcode == Opcode.ST),
                                             req_addr.eq(mem_addr), req_wdata.eq(q_value)]
                                with m.If(opcode == Opcode.LD):
                                    m.d.sync += state.eq(_State.LOAD)
                                with m.Else():
                                    m.d.comb += advance.eq(1)
                        for opc, taken in branches.items():
                            with m.Case(opc):
                                m.d.comb += [advance.eq(1), redirect.eq(taken),
                                             target.eq(pc + field("B", "offset"))]
                        with m.Case(Opcode.JMP):
                            m.d.comb += [advance.eq(1), redirect.eq(1),
                                         target.eq(field("J", "target"))]
                        with m.Case(Opcode.ACTIVATE, Opcode.BLOCK, Opcode.UNBLOCK):
                            op = Mux(opcode == Opcode.ACTIVATE, TaskOp.ACTIVATE,
                                     Mux(opcode == Opcode.BLOCK, TaskOp.BLOCK, TaskOp.UNBLOCK))
                            m.d.comb += [self.task_request.valid.eq(~t_reg_big),
                                         self.task_request.op.eq(op),
                                         self.task_request.task.eq(t_task)]
                            with m.If(self.task_fault | t_reg_big):
                                m.d.comb += [fault_now.eq(1), cause.eq(Fault.TASK)]
                            with m.Else():
                                m.d.comb += advance.eq(1)
                        with m.Case(Opcode.RET):
                            m.d.comb += end_task.eq(1)
                        with m.Case(Opcode.HALT):
                            with m.If(~self.engine_busy & ~req_valid):
                                m.d.comb += [self.halted.eq(1), self.retired.eq(1)]
                                m.d.sync += state.eq(_State.HALTED)
                        with m.Case(Opcode.SEND):
                            color = field("SEND", "color")
                            with m.If(color >= C):
                                m.d.comb += illegal.eq(1)
                            with m.Else():
                                m.d.comb += [self.send.valid.eq(1), self.send.color.eq(color),
                                             self.send.data.eq(q_value),
                                             self.send.ctrl.eq(field("SEND", "ctrl")),
                                             advance.eq(self.send.ready),
                                             self.stall_output.eq(~self.send.ready)]
                        with m.Case(Opcode.RECV):
                            with m.If(color_r >= C):
                                m.d.comb += illegal.eq(1)
                            with m.Else():
                                available = (Array(self.queue_count)[color_r] != 0) & ~engine_popping
                                m.d.comb += [self.stall_queue.eq(~available),
                                             write_rd.eq(available), advance.eq(available),
                                             rd_value.eq(Array(self.queue_head)[color_r])]
                                with m.If(available):
                                    m.d.comb += Array(self.pop)[color_r].eq(1)
                        with m.Case(Opcode.CSR):
                            number = field("CSR", "csr")
                            m.d.comb += [write_rd.eq(1), advance.eq(1)]
                            with m.Switch(number):
                                with m.Case(Csr.CYCLE):
                                    m.d.comb += rd_value.eq(self.cycle)
                                with m.Case(Csr.X):
                                    m.d.comb += rd_value.eq(self.x.as_signed())
                                with m.Case(Csr.Y):
                                    m.d.comb += rd_value.eq(self.y.as_signed())
                                with m.Case(Csr.WDATA):
                                    m.d.comb += rd_value.eq(wdata)
                                with m.Case(Csr.TASK):
                                    m.d.comb += rd_value.eq(task)
                                with m.Default():
                                    m.d.comb += [illegal.eq(1), write_rd.eq(0), advance.eq(0)]
                        with m.Case(Opcode.DSET, Opcode.DSETI):
                            d = field("DSET", "desc")
                            fnum = field("DSET", "field")
                            value = Mux(opcode == Opcode.DSET, q_value,
                                        field("DSETI", "imm"))
                            with m.If(fnum >= len(DescField)):
                                m.d.comb += illegal.eq(1)
                            with m.Else():
                                m.d.comb += [advance.eq(1), desc_write.addr.eq(d),
                                             desc_write.data.eq(Cat([value[:16]] * len(DescField))),
                                             desc_write.en.eq(1 << fnum)]
                        with m.Case(Opcode.ACC):
                            func = field("ACC", "func")
                            with m.If(acc_idx >= p.core_accumulators):
                                m.d.comb += illegal.eq(1)
                            with m.Else():
                                m.d.comb += advance.eq(1)
                                with m.Switch(func):
                                    with m.Case(AccFunc.CLR):
                                        m.d.comb += self.acc_clear.eq(1)
                                    with m.Case(AccFunc.LO):
                                        m.d.comb += [write_rd.eq(1), rd_value.eq(acc[:32])]
                                    with m.Case(AccFunc.HI):
                                        m.d.comb += [write_rd.eq(1), rd_value.eq(acc[32:64])]
                                    with m.Case(AccFunc.SAT):
                                        m.d.comb += [write_rd.eq(1), rd_value.eq(saturated)]
                        with m.Case(*VECTOR_OPCODES):
                            with m.If(v_illegal):
                                m.d.comb += illegal.eq(1)
                            with m.Elif(v_task_bad):
                                m.d.comb += [fault_now.eq(1), cause.eq(Fault.TASK)]
                            with m.Elif(req_valid):
                                pass        # a store still on its way to memory
                            with m.Else():
                                m.d.comb += self.issue.valid.eq(1)
                                with m.If(self.issue.done):
                                    with m.If(self.issue.fault != Fault.NONE):
                                        m.d.comb += [fault_now.eq(1), cause.eq(self.issue.fault)]
                                    with m.Else():
                                        m.d.comb += advance.eq(1)
                        with m.Default():
                            m.d.comb += illegal.eq(1)
                with m.If(illegal):
                    m.d.comb += [fault_now.eq(1), cause.eq(Fault.ILLEGAL_INSTRUCTION)]
                with m.If(end_task & ~fault_now):
                    m.d.comb += self.retired.eq(1)
                    m.d.sync += [state.eq(_State.IDLE), x_valid.eq(0)]

        # A completed instruction: its register write, and the next one.
        good = advance & ~fault_now
        # `write_rd` is set only by instructions that write now and can fault only as
        # illegal, so the write does not wait on the other faults (a load or store's address
        # check: an adder and a compare).
        m.d.comb += [reg_write.addr.eq(rd), reg_write.data.eq(rd_value),
                     reg_write.en.eq(write_rd & ~illegal & (rd != 0))]
        with m.If(good):
            m.d.comb += self.retired.eq(1)
            m.d.sync += state.eq(_State.EXEC)
            with m.If(redirect):
                # Taken: the word in decode is not the next instruction.
                m.d.comb += [fetch.eq(1), fetch_to.eq(target)]
                m.d.sync += x_valid.eq(0)
            with m.Else():
                m.d.comb += [take.eq(1), fetch.eq(1), fetch_to.eq(fetch_pc + 1)]

        m.d.comb += [self.fault.eq(fault_now & self.run),
                     self.fault_cause.eq(cause),
                     self.fault_pc.eq(fault_at)]
        with m.If(fault_now | ~self.run):
            m.d.sync += state.eq(_State.HALTED)
        with m.If(self.init):
            m.d.sync += [state.eq(_State.IDLE), wdata.eq(0), x_valid.eq(0)]
            m.d.comb += [reg_write.addr.eq(clear), reg_write.data.eq(0), reg_write.en.eq(1),
                         desc_write.addr.eq(clear[:3]), desc_write.data.eq(0),
                         desc_write.en.eq(Const(-1, len(desc_write.en)))]
        return m

class _State(enum.Enum, shape=3):
    IDLE = 0      # no task: start the one the scheduler offers
    ENTRY = 1     # the task table's word arrives: fetch the entry
    EXEC = 2      # run the fetched instruction
    LOAD = 3      # a load waits for its bank and its word
    HALTED = 4    # halted, faulted or stopped: until the core starts again
