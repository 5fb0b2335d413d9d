"""Running one core (with its tile memory) in Amaranth's simulator, like the reference model.

:class:`CoreHarness` is a core and a tile memory; :func:`run_on_core` loads a program image
and memory words, starts the core through its host port, delivers wavelets (data and control,
at random times), takes its output with random stalls, and returns what happened in the same
terms as :class:`~.core_model.CoreModel`: memory, sent wavelets, MACs, tasks run, fault.
"""

import random
from dataclasses import dataclass, field

from amaranth.hdl import Module
from amaranth.lib import wiring

from ..hdl.core.core import Core
from ..hdl.core.scalar import INIT_CLEAR_CYCLES
from ..hdl.core.isa import CORE_REGS_BASE, PROGRAM_BASE, CoreControl, CoreReg, Fault
from ..hdl.link import wavelet_channel
from ..hdl.sram import TileMemory
from .core_model import SentWavelet

__all__ = ["CoreHarness", "CoreRun", "run_on_core", "host_write", "host_read", "start_core"]


async def host_write(ctx, core, addr, value):
    """Write ``value`` at agent address ``addr`` (program memory or a core register) through
    ``core``'s host port, as the memory agent does: one cycle."""
    ctx.set(core.host.addr, addr - PROGRAM_BASE)
    ctx.set(core.host.wdata, value)
    ctx.set(core.host.write, 1)
    await ctx.tick()
    ctx.set(core.host.write, 0)


async def start_core(ctx, core):
    """Start ``core`` through its host port, as :meth:`tessera.sim.host.Host.start_core` does:
    the START write, then a read of STATUS, so that the (posted) start has taken effect when
    this returns. Two cycles."""
    await host_write(ctx, core, CORE_REGS_BASE + CoreReg.CONTROL, CoreControl.START)
    await host_read(ctx, core, CORE_REGS_BASE + CoreReg.STATUS)


async def host_read(ctx, core, addr):
    """The word at agent address ``addr`` through ``core``'s host port: one cycle."""
    ctx.set(core.host.addr, addr - PROGRAM_BASE)
    ctx.set(core.host.read, 1)
    await ctx.tick()
    ctx.set(core.host.read, 0)
    return ctx.get(core.host.rdata)


class CoreHarness(wiring.Component):
    """A :class:`~tessera.hdl.core.core.Core` and its :class:`~tessera.hdl.sram.TileMemory`
    (the memory's agent port is the test's)."""

    def __init__(self, params):
        self.params = params
        self.core = Core(params)
        self.memory = TileMemory(params)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.memory = memory = self.memory
        for k in range(memory.banks):
            wiring.connect(m, core.banks[k], memory.lanes[k])
        return m


@dataclass
class CoreRun:
    memory: list
    sent: list
    macs: int
    tasks_run: int
    fault: Fault
    fault_pc: object
    done: bool
    counters: dict = field(default_factory=dict)
    cycles: int = 0


def run_on_core(params, image, *, memory=(), inputs=(), seed=0, max_cycles=20000,
                read_words=None, x=0, y=0, earlier=()):
    """Run ``image`` on a simulated core; a :class:`CoreRun`.

    ``memory``: words written from address 0 before the start; ``inputs``: ``(color, data,
    ctrl)`` wavelets, delivered after the start in order per color, interleaved at random;
    ``read_words``: how many words to read back (default: all). The run ends at done, a fault,
    the core stopped, or after ``max_cycles`` (a program that waits for ever). ``earlier``: images
    run first on the same core, each loaded, started and run to its end (done or a fault)
    without wavelets, as a host reuses a core without a reset.
    """
    from amaranth.sim import Simulator

    dut = CoreHarness(params)
    core, mem = dut.core, dut.memory
    rng = random.Random(seed)
    words = params.sram_bytes // 4
    read_words = words if read_words is None else read_words
    result = {}

    async def bench(ctx):
        ctx.set(core.x, x)
        ctx.set(core.y, y)
        for a, w in enumerate(memory):
            ctx.set(mem.agent.addr, a)
            ctx.set(mem.agent.wdata, int(w))
            ctx.set(mem.agent.write, 1)
            await ctx.tick()
        ctx.set(mem.agent.write, 0)
        for before in earlier:
            for a, w in enumerate(before.words):
                await host_write(ctx, core, PROGRAM_BASE + a, w)
            await start_core(ctx, core)
            await ctx.tick().until(core.done | core.faulted)
        for a, w in enumerate(image.words):
            await host_write(ctx, core, PROGRAM_BASE + a, w)
        await start_core(ctx, core)
        queues = {}
        for color, data, ctrl in inputs:
            queues.setdefault(color, []).append((data, ctrl))
        sent = []
        starting = max(params.core_tasks, INIT_CLEAR_CYCLES) + 2    # INIT's cycles
        cycles = 0
        for cycles in range(max_cycles):
            pending = [c for c, q in queues.items() if q]
            if pending and rng.random() < 0.6:
                color = rng.choice(pending)
                data, ctrl = queues[color][0]
                ctx.set(core.inp.valid, 1)
                ctx.set(core.inp.payload.color, color)
                ctx.set(core.inp.payload.data, data)
                ctx.set(core.inp.payload.ctrl, int(ctrl))
                ctx.set(core.inp.payload.addressed, 0)
                channel = wavelet_channel(params, addressed=0, color=color)
                if ctx.get(core.inp.ready) >> channel & 1:
                    queues[color].pop(0)
            else:
                ctx.set(core.inp.valid, 0)
            # Not running once the start is over: stopped (STOP, or never got going). (Before
            # this cycle's output is taken: the drain below takes it.)
            stopped = not ctx.get(core.running) and cycles > starting
            if (ctx.get(core.done) or ctx.get(core.faulted) or stopped) and not pending:
                break
            take = rng.random() < 0.7
            ctx.set(core.out.ready, int(take))
            if take and ctx.get(core.out.valid):
                sent.append(SentWavelet(ctx.get(core.out.payload.color),
                                        ctx.get(core.out.payload.data),
                                        bool(ctx.get(core.out.payload.ctrl))))
            await ctx.tick()
        ctx.set(core.inp.valid, 0)
        # Let the output queue drain.
        ctx.set(core.out.ready, 1)
        for _ in range(8):
            if ctx.get(core.out.valid):
                sent.append(SentWavelet(ctx.get(core.out.payload.color),
                                        ctx.get(core.out.payload.data),
                                        bool(ctx.get(core.out.payload.ctrl))))
            await ctx.tick()
        status = await host_read(ctx, core, CORE_REGS_BASE + CoreReg.STATUS)
        counters = {}
        for reg in CoreReg:
            if reg not in (CoreReg.CONTROL, CoreReg.STATUS):
                counters[reg] = await host_read(ctx, core, CORE_REGS_BASE + reg)
        words_back = []
        for a in range(read_words):
            ctx.set(mem.agent.addr, a)
            ctx.set(mem.agent.read, 1)
            await ctx.tick()
            ctx.set(mem.agent.read, 0)
            words_back.append(ctx.get(mem.agent.rdata))
        fault = Fault(status >> 4 & 7) if status >> 2 & 1 else Fault.NONE
        pc = counters[CoreReg.FAULT_PC]
        result["run"] = CoreRun(
            memory=words_back, sent=sent,
            macs=counters[CoreReg.MACS_LO] | counters[CoreReg.MACS_HI] << 32,
            tasks_run=counters[CoreReg.TASKS_RUN], fault=fault,
            fault_pc=None if pc == 0xFFFF else pc, done=bool(status >> 1 & 1),
            counters=counters, cycles=cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return result["run"]
