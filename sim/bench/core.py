"""``tessera bench core``: one core's vector throughput and overheads, measured on the RTL.

Every case is a small program (``dmem``/``dfin``/``dfout`` descriptors, one vector
instruction, ``halt``) run on :class:`~tessera.hdl.core.core.Core` beside its tile memory in
Amaranth's simulator. The core's own ``CYCLES`` counter is read through the host port; the
instruction's cost is the difference from the same program without the vector instruction, so
the descriptor set-up, the start and the ``halt`` cancel out. All cases of a preset run in one
simulation: the program is reloaded and the core restarted between them (as a host does).

The bound a case is measured against is the **lanes bound**: the elements a beat carries
(:func:`~tessera.hdl.core.datapath.beat_elements`: ``16 x lanes / bits``, int8 products at
``lanes``) and at most one 32-bit wavelet per cycle where an operand is on the fabric. The
*fixed cost* is the measured cycles minus the bound's cycles: issue, checks and the beat
pipeline's fill and drain, plus any bank stalls (counted separately).
"""

import math
import time
from dataclasses import dataclass

from ...hdl.core.datapath import beat_elements
from ...hdl.core.isa import CORE_REGS_BASE, PROGRAM_BASE, CoreReg, ElemType
from ...hdl.link import wavelet_channel
from ..program import Program

__all__ = ["CASES", "DEFAULT_LENGTHS", "DEFAULT_TYPES", "bench_core", "format_core_report"]

DEFAULT_LENGTHS = (16, 64, 256, 1024)
DEFAULT_TYPES = ("i8", "i16", "i32")

# The fabric color the receiving and sending cases use.
_IN_COLOR, _OUT_COLOR = 1, 2


@dataclass(frozen=True)
class Case:
    """One vector operation shape: how its operands are placed and what it computes."""
    name: str
    mnemonic: str
    sources: tuple          # "mem" or "fin", per source
    dst: str                # "mem", "fout", "acc"
    multiplying: bool = False
    narrows: bool = False   # vnarrow to the next narrower type
    description: str = ""


CASES = {c.name: c for c in [
    Case("vmov", "vmov", ("mem",), "mem", description="copy, memory to memory"),
    Case("vadd", "vadd", ("mem", "mem"), "mem", description="memory + memory to memory"),
    Case("vsub", "vsub", ("mem", "mem"), "mem"),
    Case("vmul", "vmul", ("mem", "mem"), "mem", multiplying=True),
    Case("vmax", "vmax", ("mem", "mem"), "mem"),
    Case("vmin", "vmin", ("mem", "mem"), "mem"),
    Case("vdot", "vdot", ("mem", "mem"), "acc", multiplying=True,
         description="dot product into an accumulator"),
    Case("vaxpy", "vaxpy", ("mem", "mem"), "mem", multiplying=True,
         description="r * x + y to memory"),
    Case("vnarrow", "vnarrow", ("mem",), "mem", narrows=True,
         description="to the next narrower type, shift 3, saturating"),
    Case("recv", "vmov", ("fin",), "mem", description="a color's wavelets to memory"),
    Case("send", "vmov", ("mem",), "fout", description="memory to wavelets on a color"),
    Case("recv-add-send", "vadd", ("fin", "mem"), "fout",
         description="fabric in + memory to fabric out"),
]}

_NARROWER = {"i16": "i8", "i32": "i16", "i64": "i32"}


def _words(n, etype):
    return -(-n * etype.bits // 32)


def lanes_bound(params, case, etype):
    """Elements per cycle the case can reach: a full beat, one wavelet (32 bits: half an int64)
    a cycle with a fabric operand."""
    per = beat_elements(params.core_lanes, etype, case.multiplying)
    if "fin" in case.sources or case.dst == "fout":
        per = min(per, 32 / etype.bits)
    return per


def runs(case, etype):
    """The ISA has the case for the type: no int64 products, nothing narrower than int8."""
    if case.narrows:
        return etype.name.lower() in _NARROWER
    return not (case.multiplying and etype == ElemType.I64)


def _layout(params, case, etype, n):
    """Word bases of the memory operands, sources in different banks where the memory has
    enough (each source beat takes ``lanes / 2`` words); ``None`` if they do not fit."""
    banks = params.sram_banks
    per_beat = max(1, params.core_lanes // 2)
    dst_type = ElemType[_NARROWER[etype.name.lower()].upper()] if case.narrows else etype
    sizes = [(_words(n, etype), k * per_beat) for k, s in enumerate(case.sources) if s == "mem"]
    if case.dst == "mem":
        sizes.append((_words(n, dst_type), 0))
    bases, top = [], 0
    for size, bank in sizes:
        base = -(-top // banks) * banks + bank % banks
        bases.append(base)
        top = base + size
    return (bases if top <= params.sram_bytes // 4 else None), dst_type


def case_program(params, case, etype, n, *, with_op=True):
    """The program of one case (``with_op=False``: the same without the vector instruction)
    and the number of input wavelets it takes; ``None`` if its operands do not fit."""
    bases, dst_type = _layout(params, case, etype, n)
    if bases is None:
        return None
    p = Program(params)
    p.task("main", active=True)
    p.label("main")
    bases = iter(bases)
    operands = []
    for k, kind in enumerate(case.sources):
        d = f"d{k + 1}"
        if kind == "mem":
            p.dmem(d, base=next(bases), len=n)
        else:
            p.dfin(d, _IN_COLOR, n)
        operands.append(d)
    if case.dst == "mem":
        p.dmem("d0", base=next(bases), len=n)
        dst = "d0"
    elif case.dst == "fout":
        p.dfout("d0", _OUT_COLOR, n)
        dst = "d0"
    else:
        dst = "a0"
    if case.name == "vaxpy":
        p.li("r1", 3)
        operands.insert(0, "r1")
    if with_op:
        if case.narrows:
            p.emit(f"{case.mnemonic}.{etype.name.lower()}.{dst_type.name.lower()}", dst,
                   *operands, 3)
        else:
            p.emit(f"{case.mnemonic}.{etype.name.lower()}", dst, *operands)
    p.halt()
    inputs = _words(n, etype) if with_op and "fin" in case.sources else 0
    return p.build(), inputs


def _task_chain(params, tasks):
    """``tasks`` local tasks, each ``activate`` the next and ``ret``; the last halts."""
    p = Program(params)
    names = [f"t{k}" for k in range(tasks)]
    for k, name in enumerate(names):
        p.task(name, active=(k == 0))
    for k, name in enumerate(names):
        p.label(name)
        if k + 1 < tasks:
            p.activate(names[k + 1])
            p.ret()
        else:
            p.halt()
    return p.build()


class _Runner:
    """One simulation of a core and its memory; programs run one after another through the
    host port, as a host reloads and restarts a core."""

    def __init__(self, params):
        from ..core_harness import CoreHarness
        self.params = params
        self.dut = CoreHarness(params)

    def run(self, jobs):
        """``jobs``: ``[(image, input wavelets)]``; returns ``[{counter: value}]``."""
        from amaranth.sim import Simulator

        from ..core_harness import host_read, host_write, start_core
        core = self.dut.core
        params = self.params
        channel = wavelet_channel(params, addressed=0, color=_IN_COLOR)
        results = []

        async def bench(ctx):
            ctx.set(core.out.ready, 1)          # the router always takes the core's output
            for image, inputs in jobs:
                for a, w in enumerate(image.words):
                    await host_write(ctx, core, PROGRAM_BASE + a, w)
                await start_core(ctx, core)
                # Keep the input color's queue fed, a wavelet a cycle, as a neighbour would.
                ctx.set(core.inp.payload.color, _IN_COLOR)
                ctx.set(core.inp.payload.ctrl, 0)
                ctx.set(core.inp.payload.addressed, 0)
                left = inputs
                while left:
                    ctx.set(core.inp.valid, 1)
                    ctx.set(core.inp.payload.data, 0x01020304 + left)
                    if ctx.get(core.inp.ready) >> channel & 1:
                        left -= 1
                    await ctx.tick()
                ctx.set(core.inp.valid, 0)
                if not (ctx.get(core.done) or ctx.get(core.faulted)):
                    await ctx.tick().until(core.done | core.faulted)
                counters = {reg: await host_read(ctx, core, CORE_REGS_BASE + reg)
                            for reg in CoreReg if reg != CoreReg.CONTROL}
                results.append(counters)

        sim = Simulator(self.dut)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
        return results


def _check(counters, what):
    status = counters[CoreReg.STATUS]
    if not status >> 1 & 1 or status >> 2 & 1:
        raise RuntimeError(f"core benchmark: {what} did not finish cleanly (STATUS "
                           f"{status:#x}: fault cause {status >> 4 & 7})")


def bench_core(param_sets, *, cases=tuple(CASES), types=DEFAULT_TYPES, lengths=DEFAULT_LENGTHS,
               chain=8, progress=None):
    """Measure each case, element type and length on each parameter set's core.

    Returns ``{"config": {...}, "presets": {label: {"params", "rows": [...], "task_switch",
    "vector_fixed_cost", "seconds"}}}``; a row is ``{case, type, length, cycles, bound_cycles,
    elements_per_cycle, bound_per_cycle, share, fixed, bank_stalls, ...}`` or, where the
    operands do not fit the tile memory, ``cycles = None``.
    """
    from .report import machine_info, tool_versions
    say = progress or (lambda message: None)
    out = {}
    for label, params in param_sets.items():
        start = time.perf_counter()
        jobs, keys = [], []        # keys: (case, type, length, whether its operands fit)
        for name in cases:
            case = CASES[name]
            for tname in types:
                etype = ElemType[tname.upper()]
                if not runs(case, etype):
                    continue
                for n in lengths:
                    with_op = case_program(params, case, etype, n)
                    keys.append((case, etype, n, with_op is not None))
                    if with_op is not None:
                        jobs += [with_op, case_program(params, case, etype, n, with_op=False)]
        # Local task ids are those above the colors' (data tasks): a chain needs two at least.
        tasks = min(chain, params.core_tasks - params.num_colors)
        if tasks >= 2:
            jobs += [(_task_chain(params, 1), 0), (_task_chain(params, tasks), 0)]
        say(f"[{label}] {len(jobs)} programs in one simulation of the core ...")
        counters = _Runner(params).run(jobs)
        for c in counters:
            _check(c, "a benchmark program")
        results = iter(counters)
        rows = []
        for case, etype, n, fits in keys:
            if not fits:
                rows.append({"case": case.name, "type": etype.name.lower(), "length": n,
                             "cycles": None})
                continue
            full, empty = next(results), next(results)
            cycles = full[CoreReg.CYCLES] - empty[CoreReg.CYCLES]
            per = lanes_bound(params, case, etype)
            bound = math.ceil(n / per)
            rows.append({
                "case": case.name, "type": etype.name.lower(), "length": n, "cycles": cycles,
                "bound_cycles": bound, "elements_per_cycle": n / cycles,
                "bound_per_cycle": per, "share": bound / cycles, "fixed": cycles - bound,
                "bank_stalls": full[CoreReg.STALL_BANK] - empty[CoreReg.STALL_BANK],
                "queue_empty_stalls": full[CoreReg.STALL_QUEUE_EMPTY],
                "output_stalls": full[CoreReg.STALL_OUTPUT],
                "macs": full[CoreReg.MACS_LO] | full[CoreReg.MACS_HI] << 32,
            })
        switch = None
        if tasks >= 2:
            one, many = next(results), next(results)
            # Each task of the chain is `activate next` (1 cycle) then `ret` and the switch.
            per_task = (many[CoreReg.CYCLES] - one[CoreReg.CYCLES]) / (tasks - 1)
            switch = {"tasks": tasks, "cycles_per_task": per_task,
                      "switch_cycles": per_task - 1}
        unstalled = [r["fixed"] for r in rows if r["cycles"] is not None
                     and not r["bank_stalls"] and not r["queue_empty_stalls"]
                     and not r["output_stalls"]]
        out[label] = {
            "params": params.as_dict(), "rows": rows,
            "task_switch": switch,
            "vector_fixed_cost": {"min": min(unstalled), "max": max(unstalled)}
            if unstalled else None,
            "seconds": time.perf_counter() - start,
        }
        say(f"[{label}] done in {out[label]['seconds']:.0f} s")
    return {"config": {"cases": list(cases), "types": list(types), "lengths": list(lengths),
                       "simulator": "Amaranth (pysim) of hdl/core/core.py",
                       "versions": tool_versions(("amaranth",)), "machine": machine_info()},
            "presets": out}


def format_core_report(report):
    """The report of :func:`bench_core` as text: one table per preset, then the overheads."""
    from .report import environment_lines, format_table
    cfg = report["config"]
    out = ["Core benchmark: one vector instruction per case on one core, cycles from its "
           "CYCLES counter", ""]
    out.append(f"simulator: {cfg['simulator']}; unit stride, operands in memory unless the "
               f"case says fabric; sources placed in different banks where there are enough")
    out += environment_lines(cfg["versions"], cfg["machine"])
    for label, res in report["presets"].items():
        p = res["params"]
        out += ["", f"[{label}] lanes={p['core_lanes']}, sram_banks={p['sram_banks']}, "
                    f"sram_bytes={p['sram_bytes']}, microthreads={p['core_microthreads']}"]
        lengths = cfg["lengths"]
        header = ["case", "type", "bound el/cyc",
                  *[f"n={n} el/cyc (% bound)" for n in lengths], "bank stalls @max"]
        table, index = [], {}
        for r in res["rows"]:
            index.setdefault((r["case"], r["type"]), {})[r["length"]] = r
        for (case, tname), by_n in index.items():
            cells, stalls, bound = [], "-", "-"
            for n in lengths:
                r = by_n.get(n)
                if r is None or r["cycles"] is None:
                    cells.append("does not fit")
                    continue
                bound = f"{r['bound_per_cycle']:g}"
                cells.append(f"{r['elements_per_cycle']:.2f} ({100 * r['share']:.0f}%)")
                stalls = r["bank_stalls"]
            table.append([case, tname, bound, *cells, stalls])
        out.append(format_table(header, table))
        ts, fc = res["task_switch"], res["vector_fixed_cost"]
        if ts:
            out.append(f"task switch: {ts['cycles_per_task']:.1f} cycles per task of `activate "
                       f"next; ret` over a chain of {ts['tasks']} tasks: "
                       f"{ts['switch_cycles']:.1f} cycles from `ret` to the next task's first "
                       f"instruction")
        else:
            out.append("task switch: not measured (fewer than 2 local task ids: core_tasks - "
                       "num_colors < 2)")
        if fc:
            out.append(f"vector instruction fixed cost (cycles beyond the lanes bound, cases "
                       f"without stalls): {fc['min']} to {fc['max']}")
        dots = [r for r in res["rows"] if r["case"] == "vdot" and r["cycles"] is not None]
        if dots:
            best = max(dots, key=lambda r: (r["length"], r["type"] == "i16"))
            out.append(f"vdot.{best['type']} of {best['length']} elements: {best['cycles']} "
                       f"cycles, {100 * best['share']:.1f} % of the lanes bound")
        out.append(f"({res['seconds']:.0f} s)")
    return "\n".join(out)
