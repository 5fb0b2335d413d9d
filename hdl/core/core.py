"""The compute core: its parts joined, program memory, the host's registers, the counters.

::

    RAMP side --> ColorQueues --data--> StreamEngine (fin) / ScalarUnit (data tasks, recv)
                       \\--control wavelets--> TaskScheduler <-- activate/block, completions
    program memory --> ScalarUnit --vector instructions--> StreamEngine --> output queue --> merge
    tile memory banks <-- the agent first, then the scalar unit, then the engine

The host reaches the core through the memory agent (``docs/isa.md``, "The host's view"):
program memory and the registers of :class:`~.isa.CoreReg`. Writing START loads the task
table (one word a cycle) and runs; a fault or ``halt`` stops the core, STOP stops it at once.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import enum, memory, wiring
from amaranth.lib.wiring import In, Out

from ..link import link_signature
from ..sram import BankPortSignature, MemoryPortSignature
from ..wavelet import wavelet_stream
from .isa import PROGRAM_BASE, CORE_REGS_BASE, CoreControl, CoreReg, Fault
from .queues import ColorQueues
from .scalar import INIT_CLEAR_CYCLES, ScalarUnit
from .scheduler import TaskScheduler
from .stream import StreamEngine

__all__ = ["Core", "CORE_WINDOW_WORDS", "core_window"]

# The agent's core window: program memory from 0, the registers from CORE_REGS_BASE -
# PROGRAM_BASE (word addresses relative to PROGRAM_BASE).
CORE_WINDOW_WORDS = CORE_REGS_BASE - PROGRAM_BASE + len(CoreReg)


def core_window(params):
    """``[(first, end), ...]``: the agent's word addresses that reach the core."""
    return [(PROGRAM_BASE, PROGRAM_BASE + params.core_program_words),
            (CORE_REGS_BASE, CORE_REGS_BASE + len(CoreReg))]


class _Run(enum.Enum, shape=2):
    STOPPED = 0
    INIT = 1        # loading the task table
    RUNNING = 2


class Core(wiring.Component):
    """One tile's compute core.

    Members
    -------
    inp : ``In(link_signature)``
        Colored wavelets (and replies to the tile, dropped) from the tile's RAMP demux.
    out : ``Out(wavelet_stream)``
        The core's wavelets, to the tile's merge.
    banks : ``Out(BankPortSignature).array(sram_banks)``
        The tile memory's lanes (their grants already leave the agent first).
    host : ``In(MemoryPortSignature(data_width=32, total_words=CORE_WINDOW_WORDS))``
        The memory agent's accesses to the core window (relative to ``PROGRAM_BASE``).
    x, y : ``In(coord_bits)``
    running, done, faulted : ``Out(1)``
    """

    def __init__(self, params):
        if params.data_width != 32:
            from ..params import ParamError
            raise ParamError(f"data_width must be 32 for a tile with a core (its words and "
                             f"instructions are 32 bits), not {params.data_width}")
        self._params = params
        bank_words = params.sram_bytes // 4 // params.sram_banks
        super().__init__({
            "inp": In(link_signature(params)),
            "out": Out(wavelet_stream(params)),
            "banks": Out(BankPortSignature(data_width=32, bank_words=bank_words))
            .array(params.sram_banks),
            "host": In(MemoryPortSignature(data_width=32, total_words=CORE_WINDOW_WORDS)),
            "x": In(params.coord_bits), "y": In(params.coord_bits),
            "running": Out(1), "done": Out(1), "faulted": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        C = p.num_colors
        B = p.sram_banks
        bank_bits = (B - 1).bit_length()
        m.submodules.queues = queues = ColorQueues(p)
        m.submodules.scheduler = sched = TaskScheduler(p)
        m.submodules.scalar = scalar = ScalarUnit(p)
        m.submodules.engine = engine = StreamEngine(p)

        # Program memory: the scalar unit fetches, the host reads and writes.
        m.submodules.program = program = memory.Memory(shape=32, depth=p.core_program_words,
                                                       init=[])
        fetch = program.read_port()
        host_write = program.write_port()
        host_read = program.read_port(transparent_for=(host_write,))

        run = Signal(_Run)
        done = Signal()
        fault_cause = Signal(Fault)
        fault_pc = Signal(16)
        # START lasts the task table's words, and at least as long as the scalar unit takes to
        # clear its register and descriptor files (a word a cycle).
        init_cycles = max(p.core_tasks, INIT_CLEAR_CYCLES)
        init_task = Signal(range(init_cycles + 1))
        init_pending = Signal()         # the table word read last cycle
        m.d.comb += [self.running.eq(run == _Run.RUNNING), self.done.eq(done),
                     self.faulted.eq(fault_cause != Fault.NONE)]

        # Counters.
        counters = {reg: Signal(32, name=f"count_{reg.name.lower()}") for reg in
                    (CoreReg.CYCLES, CoreReg.BUSY, CoreReg.TASKS_RUN, CoreReg.INSTRUCTIONS,
                     CoreReg.STALL_BANK, CoreReg.STALL_QUEUE_EMPTY, CoreReg.STALL_OUTPUT,
                     CoreReg.STALL_NO_TASK)}
        macs = Signal(64)

        wiring.connect(m, wiring.flipped(self.inp), queues.inp)
        wiring.connect(m, engine.out, wiring.flipped(self.out))
        wiring.connect(m, scalar.issue, engine.issue)
        wiring.connect(m, scalar.send, engine.send)
        wiring.connect(m, scalar.task_request, sched.requests[0])
        wiring.connect(m, engine.completion, sched.requests[1])
        m.d.comb += [
            queues.running.eq(self.running), queues.hold.eq(run == _Run.INIT),
            scalar.x.eq(self.x), scalar.y.eq(self.y), scalar.cycle.eq(counters[CoreReg.CYCLES]),
            scalar.run.eq(self.running),
            scalar.runnable.eq(sched.runnable), scalar.next_task.eq(sched.next_task),
            scalar.next_is_data.eq(sched.next_is_data), sched.start.eq(scalar.start),
            scalar.declared.eq(sched.declared), scalar.is_data.eq(sched.is_data),
            scalar.task_fault.eq(sched.fault[0]),
            sched.requests[2].valid.eq(queues.ctrl_valid),
            sched.requests[2].task.eq(queues.ctrl_task),
            engine.acc_sel.eq(scalar.acc_sel), engine.acc_clear.eq(scalar.acc_clear),
            scalar.acc_value.eq(engine.acc_value), scalar.engine_busy.eq(engine.busy),
            scalar.engine_colors.eq(engine.fin_colors),
            fetch.addr.eq(Mux(run == _Run.INIT, init_task, scalar.imem_addr)),
            fetch.en.eq(Mux(run == _Run.INIT, 1, scalar.imem_en)),
            scalar.imem_data.eq(fetch.data),
        ]
        for c in range(C):
            m.d.comb += [
                sched.color_waiting[c].eq(queues.count[c] != 0),
                engine.queue_count[c].eq(queues.count[c]), engine.queue_head[c].eq(queues.head[c]),
                engine.queue_second[c].eq(queues.second[c]),
                scalar.queue_count[c].eq(queues.count[c]), scalar.queue_head[c].eq(queues.head[c]),
                # The engine's pops, or the scalar unit's (it never pops a color the engine
                # takes from).
                queues.pop[c].eq(engine.pop[c] | scalar.pop[c]),
            ]

        # The banks: the agent has already taken its turn (the lanes' grants); the scalar
        # unit's word, then the engine's.
        scalar_bank = scalar.mem.addr[:bank_bits] if bank_bits else Const(0, 1)
        scalar_row = scalar.mem.addr[bank_bits:]
        for q in range(B):
            lane, port = self.banks[q], engine.banks[q]
            mine = scalar_bank == q
            s_read = scalar.mem.read & mine
            s_write = scalar.mem.write & mine
            m.d.comb += [
                lane.read.eq(Mux(s_read, 1, port.read)),
                lane.read_row.eq(Mux(s_read, scalar_row, port.read_row)),
                port.read_grant.eq(lane.read_grant & ~s_read),
                port.rdata.eq(lane.rdata),
                lane.write.eq(Mux(s_write, 1, port.write)),
                lane.write_row.eq(Mux(s_write, scalar_row, port.write_row)),
                lane.wdata.eq(Mux(s_write, scalar.mem.wdata, port.wdata)),
                lane.write_mask.eq(Mux(s_write, 0b1111, port.write_mask)),
                port.write_grant.eq(lane.write_grant & ~s_write),
            ]
        grants_read = Array(self.banks[q].read_grant for q in range(B))
        grants_write = Array(self.banks[q].write_grant for q in range(B))
        rdata = Array(self.banks[q].rdata for q in range(B))
        load_bank = Signal(range(B))
        with m.If(scalar.mem.read):
            m.d.sync += load_bank.eq(scalar_bank)
        m.d.comb += [
            scalar.mem.grant.eq(Mux(scalar.mem.read, grants_read[scalar_bank],
                                    grants_write[scalar_bank])),
            scalar.mem.rdata.eq(rdata[load_bank]),
        ]

        # Starting, stopping, faults, done.
        control_write = Signal(32)
        host = self.host
        regs_first = CORE_REGS_BASE - PROGRAM_BASE
        is_reg = host.addr >= regs_first
        reg_index = host.addr - regs_first
        # The host's writes are posted: registered, then decoded and done a cycle later, so
        # no path runs from the agent's address compares into the core's control. (The agent
        # sends no read of the core within a cycle of a write: a READ has three words first.)
        posted = Signal(name="host_write_posted")
        posted_addr = Signal.like(host.addr, name="host_write_addr")
        posted_data = Signal(32, name="host_write_data")
        m.d.sync += [posted.eq(host.write), posted_addr.eq(host.addr),
                     posted_data.eq(host.wdata)]
        posted_is_reg = posted_addr >= regs_first
        with m.If(posted & posted_is_reg & (posted_addr - regs_first == CoreReg.CONTROL)):
            m.d.comb += control_write.eq(posted_data)
        start = control_write == CoreControl.START
        stop = control_write == CoreControl.STOP
        fault = Signal()
        m.d.comb += fault.eq(scalar.fault | sched.fault[2] | sched.fault[1])
        m.d.comb += [
            # (A fault stops the engine in the next cycle, when the core has stopped.)
            engine.stop.eq(start | stop | (run != _Run.RUNNING)),
            scalar.init.eq(run == _Run.INIT), engine.init.eq(run == _Run.INIT),
            sched.load_valid.eq(init_pending & (init_task <= p.core_tasks)),
            sched.load_task.eq(init_task - 1),
            sched.load_word.eq(fetch.data),
        ]
        m.d.sync += init_pending.eq(0)
        with m.Switch(run):
            with m.Case(_Run.INIT):
                # One task-table word a cycle; the scheduler loads each the cycle after.
                with m.If(init_task < init_cycles):
                    m.d.sync += [init_task.eq(init_task + 1), init_pending.eq(1)]
                with m.Elif(~init_pending):
                    m.d.sync += run.eq(_Run.RUNNING)
            with m.Case(_Run.RUNNING):
                with m.If(fault):
                    m.d.sync += [run.eq(_Run.STOPPED),
                                 fault_cause.eq(Mux(scalar.fault, scalar.fault_cause,
                                                    Fault.TASK)),
                                 fault_pc.eq(Mux(scalar.fault, scalar.fault_pc, 0xFFFF))]
                with m.Elif(scalar.halted):
                    m.d.sync += [run.eq(_Run.STOPPED), done.eq(1)]
        with m.If(start):
            m.d.sync += [run.eq(_Run.INIT), init_task.eq(0), done.eq(0),
                         fault_cause.eq(Fault.NONE), fault_pc.eq(0), macs.eq(0)]
            for counter in counters.values():
                m.d.sync += counter.eq(0)
        with m.Elif(stop):
            m.d.sync += run.eq(_Run.STOPPED)

        # Counters, while running. Each cycle's events are registered and counted a cycle
        # later (no path from the units' handshakes into 32-bit adders); the last cycle's
        # events are counted after the core stops.
        running = run == _Run.RUNNING
        events = {
            CoreReg.CYCLES: Const(1),
            CoreReg.BUSY: scalar.task_running | engine.busy,
            CoreReg.TASKS_RUN: scalar.started,
            CoreReg.INSTRUCTIONS: scalar.retired,
            CoreReg.STALL_BANK: scalar.stall_bank | engine.stall_bank,
            CoreReg.STALL_QUEUE_EMPTY: scalar.stall_queue | engine.stall_queue,
            CoreReg.STALL_OUTPUT: scalar.stall_output | engine.stall_output,
            CoreReg.STALL_NO_TASK: ~scalar.task_running & ~engine.busy & ~scalar.started,
        }
        counted = {reg: Signal(name=f"event_{reg.name.lower()}") for reg in events}
        macs_now = Signal.like(engine.macs)
        for reg, event in events.items():
            m.d.sync += counted[reg].eq(running & ~start & event)
        m.d.sync += macs_now.eq(Mux(running & ~start, engine.macs, 0))
        with m.If(~start):
            for reg in events:
                m.d.sync += counters[reg].eq(counters[reg] + counted[reg])
            m.d.sync += macs.eq(macs + macs_now)

        # The host's reads and writes.
        m.d.comb += [
            host_write.addr.eq(posted_addr[:len(host_write.addr)]),
            host_write.data.eq(posted_data),
            host_write.en.eq(posted & ~posted_is_reg),
            host_read.addr.eq(host.addr[:len(host_read.addr)]),
            host_read.en.eq(host.read),
        ]
        reg_values = Array([
            Const(0, 32),                                            # CONTROL reads 0
            Cat(running | (run == _Run.INIT), done, fault_cause != Fault.NONE, Const(0, 1),
                fault_cause, Const(0, 24)),                          # STATUS
            fault_pc,
            counters[CoreReg.CYCLES], counters[CoreReg.BUSY], macs[:32], macs[32:],
            counters[CoreReg.TASKS_RUN], counters[CoreReg.INSTRUCTIONS],
            counters[CoreReg.STALL_BANK], counters[CoreReg.STALL_QUEUE_EMPTY],
            counters[CoreReg.STALL_OUTPUT], counters[CoreReg.STALL_NO_TASK],
        ])
        assert len(reg_values) == len(CoreReg)
        read_reg = Signal()
        reg_word = Signal(32)
        with m.If(host.read):
            m.d.sync += [read_reg.eq(is_reg),
                         reg_word.eq(reg_values[reg_index[:4]])]
        m.d.comb += host.rdata.eq(Mux(read_reg, reg_word, host_read.data))
        return m
