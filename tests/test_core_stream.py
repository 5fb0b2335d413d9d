"""The stream engine (hdl/core/stream.py) against the reference model, one instruction at a
time, in Amaranth's simulator: random operations, types, shapes, strides, fabric operands,
random wavelet arrival and output stalls, and the faults found at issue."""

import os
import random

import numpy as np
import pytest
from amaranth.hdl import Module, Mux
from amaranth.lib import wiring

from tessera.hdl.core.datapath import VecOp
from tessera.hdl.core.isa import DescKind, ElemType, Fault
from tessera.hdl.core.queues import ColorQueues
from tessera.hdl.core.stream import StreamEngine
from tessera.hdl.link import wavelet_channel
from tessera.hdl.params import resolve_params
from tessera.hdl.sram import TileMemory
from tessera.sim.amaranth_sim import simulate
from tessera.sim.core_model import CoreModel, RunState
from tessera.sim.program import Program

OPS = {VecOp.MOV: "vmov", VecOp.ADD: "vadd", VecOp.SUB: "vsub", VecOp.MUL: "vmul",
       VecOp.MAX: "vmax", VecOp.MIN: "vmin", VecOp.DOT: "vdot", VecOp.AXPY: "vaxpy",
       VecOp.NARROW: "vnarrow"}
FIELDS = ("kind", "base", "len", "stride", "rows", "rowstride", "color")
REGION = 96          # words of memory per operand


class Harness(wiring.Component):
    def __init__(self, params):
        self.params = params
        self.engine = StreamEngine(params)
        self.memory = TileMemory(params)
        self.queues = ColorQueues(params)
        super().__init__({"flush": wiring.In(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = e = self.engine
        m.submodules.memory = mem = self.memory
        m.submodules.queues = q = self.queues
        for k in range(mem.banks):
            wiring.connect(m, e.banks[k], mem.lanes[k])
        for c in range(self.params.num_colors):
            m.d.comb += [e.queue_count[c].eq(q.count[c]), e.queue_head[c].eq(q.head[c]),
                         e.queue_second[c].eq(q.second[c]),
                         # flush: empty the queues (after a fault left wavelets unread).
                         q.pop[c].eq(Mux(self.flush, q.count[c] != 0, e.pop[c]))]
        m.d.comb += q.running.eq(1)
        return m


def _type_bits(t):
    return 8 << t


def random_instruction(rng, params, *, fault=False):
    """``(op, etype, dtype, to_acc, acc, shift, scalar, descriptors)`` with descriptors
    ``[dst, src0, src1]`` as field dicts, mostly valid, memory regions disjoint."""
    op = rng.choice(list(VecOp))
    types = [t for t in ElemType if not (op in (VecOp.MUL, VecOp.DOT, VecOp.AXPY)
                                         and t == ElemType.I64)
             and not (op == VecOp.NARROW and t == ElemType.I8)]
    etype = rng.choice(types)
    dtype = rng.choice([t for t in ElemType if t < etype]) if op == VecOp.NARROW else etype
    to_acc = op == VecOp.DOT and rng.random() < 0.3
    length = rng.choice([0, 1, 2, 3, 5, 8, 13, 16, 17]) if rng.random() < 0.9 else 40
    rows = rng.choice([0, 1, 1, 2, 3]) if rng.random() < 0.9 else 1
    # Two fabric sources on colors that share a router channel would wait for each other once
    # one's queue is full (docs/isa.md): give them different channels.
    channels = rng.sample(range(params.color_channels), 2)
    colors = [rng.randrange(params.num_colors)] + [
        rng.choice(range(ch, params.num_colors, params.color_channels)) for ch in channels]
    descs = []
    for k, role in enumerate(("dst", "src0", "src1")):
        t = (ElemType.I64 if op == VecOp.DOT else dtype) if role == "dst" else etype
        shape = (rows, 1) if role == "dst" and op == VecOp.DOT else (length, rows)
        fabric = rng.random() < 0.3 and not (role == "dst" and op == VecOp.NARROW)
        kind = (DescKind.FOUT if role == "dst" else DescKind.FIN) if fabric else DescKind.MEM
        stride = 1 if rng.random() < 0.7 else rng.choice([-3, -1, 0, 2, 3])
        bits = _type_bits(t)
        row_words = -(-shape[0] * max(abs(stride), 1) * bits // 32) + 1
        rowstride = rng.choice([row_words, row_words + 1, -row_words, 0]) \
            if shape[1] > 1 else rng.randrange(-4, 5)
        # Place the operand inside its region.
        along = (shape[0] - 1) * stride * bits // 32 if shape[0] else 0
        across = (shape[1] - 1) * rowstride if shape[1] else 0
        lo, hi = min(0, along) + min(0, across), max(0, along) + max(0, across) + 2
        if kind == DescKind.MEM and hi - lo > REGION:
            return random_instruction(rng, params)    # too big for its region: another
        base = k * REGION - lo + rng.randrange(max(1, REGION - (hi - lo) - 2))
        if rng.random() < 0.04:
            base = params.sram_bytes // 4 - rng.randrange(3)       # off the end
        descs.append({"kind": int(kind), "base": base & 0xFFFF, "len": shape[0],
                      "stride": stride & 0xFFFF, "rows": shape[1],
                      "rowstride": rowstride & 0xFFFF, "color": colors[k]})
    if fault or rng.random() < 0.03:
        kind = rng.randrange(3)
        if kind == 0:
            descs[1]["kind"] = int(DescKind.FOUT)    # a wrong kind
        elif kind == 1:
            descs[1]["len"] += 1                     # a shape mismatch
        else:
            descs[1].update(kind=int(DescKind.MEM), len=max(descs[1]["len"], 1),
                            rows=max(descs[1]["rows"], 1), base=params.sram_bytes // 4 - 1,
                            stride=1)                # off the end of the memory
            if op != VecOp.DOT:
                descs[0]["len"], descs[0]["rows"] = descs[1]["len"], descs[1]["rows"]
            descs[2]["len"], descs[2]["rows"] = descs[1]["len"], descs[1]["rows"]
    return (op, etype, dtype, to_acc, rng.randrange(params.core_accumulators),
            rng.randrange(32), rng.getrandbits(32), descs)


def model_run(params, instruction, memory, inputs, accumulators):
    """What the reference model does: ``(model, state)``."""
    op, etype, dtype, to_acc, acc, shift, scalar, descs = instruction
    p = Program(params)
    p.task("main", active=True)
    p.label("main")
    p.li("r3", scalar)
    for k, d in enumerate(descs):
        for name in FIELDS:
            value = d[name]
            if name in ("stride", "rowstride") and value >= 0x8000:
                value -= 0x10000
            p.dseti(f"d{k}", name, value)
    mnemonic = f"{OPS[op]}.{etype.suffix}" + (f".{dtype.suffix}" if op == VecOp.NARROW else "")
    dst = f"a{acc}" if to_acc else "d0"
    if op == VecOp.AXPY:
        p.emit(mnemonic, dst, "r3", "d1", "d2")
    elif op == VecOp.NARROW:
        p.emit(mnemonic, dst, "d1", shift)
    elif op == VecOp.MOV:
        p.emit(mnemonic, dst, "d1")
    else:
        p.emit(mnemonic, dst, "d1", "d2")
    p.halt()
    model = CoreModel(params, p.build())
    model.memory[:] = memory
    model.start()
    model.accumulators[:] = accumulators
    for color, words in inputs.items():
        for w in words:
            model.push(color, w)
    return model, model.run()


@pytest.mark.parametrize("preset, overrides, seed", [
    ("default", {}, 1),
    ("default", {"sram_banks": 4, "core_lanes": 8}, 2),
    ("tiny", {"data_width": 32, "coord_bits": 4, "core_lanes": 2, "sram_bytes": 2048}, 3),
    ("wse", {"sram_bytes": 8192}, 4),
])
def test_engine_agrees_with_the_model_on_random_instructions(preset, overrides, seed):
    params = resolve_params(preset, overrides=overrides)
    dut = Harness(params)
    engine, memory, queues = dut.engine, dut.memory, dut.queues
    rng = random.Random(seed)
    words = params.sram_bytes // 4
    tally = {"ok": 0, "faults": 0}

    async def bench(ctx):
        accumulators = [0] * params.core_accumulators
        # The RTL memory outside the area each trial writes keeps what earlier trials left
        # there (operands may reach any word), so the model starts from the same.
        beyond = np.zeros(words, dtype=np.uint32)
        for trial in range(int(os.environ.get("TESSERA_TRIALS", 40))):
            instruction = random_instruction(rng, params, fault=trial % 10 == 9)
            op, etype, dtype, to_acc, acc, shift, scalar, descs = instruction
            image = np.array([rng.getrandbits(32) for _ in range(4 * REGION)], dtype=np.uint32)
            full = beyond.copy()
            full[:len(image)] = image
            inputs = {}
            used = descs[1:2] if op in (VecOp.MOV, VecOp.NARROW) else descs[1:]
            for d in used:
                if d["kind"] == DescKind.FIN:
                    bits = _type_bits(etype)
                    n = -(-d["len"] * bits // 32) * d["rows"]
                    inputs[d["color"]] = [rng.getrandbits(32) for _ in range(n)]
            model, state = model_run(params, instruction, full, inputs, accumulators)
            # Load the memory through the agent port.
            for a in range(len(image)):
                ctx.set(memory.agent.addr, a)
                ctx.set(memory.agent.wdata, int(image[a]))
                ctx.set(memory.agent.write, 1)
                await ctx.tick()
            ctx.set(memory.agent.write, 0)
            # Issue, feed wavelets at random, take outputs with random stalls.
            ctx.set(engine.issue.valid, 1)
            ctx.set(engine.issue.op, op)
            ctx.set(engine.issue.etype, etype)
            ctx.set(engine.issue.dtype, dtype)
            ctx.set(engine.issue.to_acc, int(to_acc))
            ctx.set(engine.issue.acc, acc)
            ctx.set(engine.issue.shift, shift)
            ctx.set(engine.issue.scalar, scalar)
            for k, d in enumerate(descs):
                for name in FIELDS:
                    ctx.set(getattr(engine.issue.desc[k], name), d[name])
            # Each cycle a random color offers its next wavelet: any interleaving of colors,
            # each color's order kept.
            order = {c: list(ws) for c, ws in inputs.items()}
            sent, fault, done = [], None, False
            for cycle in range(4000):
                # Offer one wavelet of a random color that still has some.
                pending = [c for c, ws in order.items() if ws]
                if pending and rng.random() < 0.7:
                    c = rng.choice(pending)
                    ctx.set(queues.inp.valid, 1)
                    ctx.set(queues.inp.payload.color, c)
                    ctx.set(queues.inp.payload.data, order[c][0])
                    ready = ctx.get(queues.inp.ready) >> wavelet_channel(params, addressed=0,
                                                                         color=c) & 1
                    if ready:
                        order[c].pop(0)
                else:
                    ctx.set(queues.inp.valid, 0)
                take = rng.random() < 0.6
                ctx.set(engine.out.ready, take)
                if take and ctx.get(engine.out.valid):
                    sent.append((ctx.get(engine.out.payload.color),
                                 ctx.get(engine.out.payload.data)))
                if ctx.get(engine.issue.done):
                    done = True
                    fault = Fault(ctx.get(engine.issue.fault))
                    ctx.set(engine.issue.valid, 0)
                if done and not ctx.get(engine.busy) and not ctx.get(engine.out.valid) \
                        and not any(order.values()):
                    break
                await ctx.tick()
            ctx.set(queues.inp.valid, 0)
            ctx.set(engine.issue.valid, 0)
            assert done, f"trial {trial}: not done: {instruction}"
            if state == RunState.FAULT:
                assert fault == model.fault, (trial, instruction)
                tally["faults"] += 1
                # Drain the unread wavelets.
                ctx.set(dut.flush, 1)
                for _ in range(params.core_queue_depth):
                    await ctx.tick()
                ctx.set(dut.flush, 0)
                continue
            assert state == RunState.DONE and fault == Fault.NONE, (trial, instruction, fault)
            tally["ok"] += 1
            want = [(w.color, w.data) for w in model.sent]
            assert sent == want, (trial, instruction)
            for a in range(len(image)):
                ctx.set(memory.agent.addr, a)
                ctx.set(memory.agent.read, 1)
                await ctx.tick()
                ctx.set(memory.agent.read, 0)
                got = ctx.get(memory.agent.rdata)
                if got != int(model.memory[a]):     # pytest shows this with the failure
                    print(f"trial {trial}: word {a} is {got:#x}, the model's "
                          f"{int(model.memory[a]):#x} (was {int(image[a]):#x}): {instruction}")
                assert got == int(model.memory[a]), (trial, a)
            for k in range(params.core_accumulators):
                ctx.set(engine.acc_sel, k)
                assert ctx.get(engine.acc_value) == model.accumulators[k], (trial, k)
            accumulators = list(model.accumulators)
            beyond = model.memory.copy()
            # Every wavelet sent to the core was taken.
            assert [ctx.get(queues.count[c]) for c in range(params.num_colors)] == \
                [0] * params.num_colors, (trial, instruction)

    simulate(dut, bench)
    assert tally["ok"] >= 25 and tally["faults"] >= 1, tally
