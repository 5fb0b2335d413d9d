"""The core's reference model (sim/core_model.py): the ISA's semantics, checked against numpy."""

import numpy as np
import pytest

from tessera.hdl.core.isa import Fault
from tessera.hdl.params import resolve_params
from tessera.sim.asm import assemble
from tessera.sim.core_model import CoreModel, RunState, SentWavelet

P = resolve_params()
NP = {"i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64}


def run(src, *, inputs=(), memory=None, params=P, state=RunState.DONE):
    """Assemble ``src`` (a task ``main``, active), run it; the model."""
    model = CoreModel(params, assemble(".task main, local, active\n" + src, params))
    for base, values in (memory or {}).items():
        raw = np.ascontiguousarray(values).tobytes()
        words = np.frombuffer(raw + bytes(-len(raw) % 4), dtype=np.uint32)
        model.memory[base:base + words.size] = words
    model.start()
    for color, data, *ctrl in inputs:
        model.push(color, data, *ctrl)
    assert model.run() == state, (model.fault, model.fault_pc)
    return model


def elements(model, base, count, t):
    words = -(-count * np.dtype(NP[t]).itemsize // 4)
    return model.memory[base:base + words].view(NP[t])[:count]


def test_scalar_alu_branches_loads_and_stores():
    m = run("""
main:
    li r1, 7
    li r2, -3
    add r3, r1, r2
    sub r4, r2, r1
    mul r5, r1, r2
    sra r6, r2, r1
    srl r7, r2, r1
    slt r8, r2, r1
    sltu r9, r2, r1
    li r10, 0
    li r11, 5
loop: addi r10, r10, 2
    addi r11, r11, -1
    bne r11, r0, loop
    st r10, 100(r0)
    ld r12, 100(r0)
    xori r13, r12, -1
    lui r14, 0x3FFFFF
    csr r15, task
    st r3, 0(r0)
    st r4, 1(r0)
    st r5, 2(r0)
    st r6, 3(r0)
    st r7, 4(r0)
    st r8, 5(r0)
    st r9, 6(r0)
    st r12, 7(r0)
    st r13, 8(r0)
    st r14, 9(r0)
    st r15, 10(r0)
    halt
""")
    got = m.memory[:11].view(np.int32).tolist()
    assert got == [4, -10, -21, -1, (2**32 - 3) >> 7, 1, 0, 10, ~10,
                   np.uint32(0x3FFFFF << 10).view(np.int32), P.num_colors]


ELEMENTWISE = [
    ("vadd", lambda a, b: a + b), ("vsub", lambda a, b: a - b), ("vmul", lambda a, b: a * b),
    ("vmax", np.maximum), ("vmin", np.minimum),
]


# vmul has no i64 form (the assembler refuses it: test_asm).
@pytest.mark.parametrize("op, fn, t", [(op, fn, t) for op, fn in ELEMENTWISE
                                       for t in ("i8", "i16", "i32", "i64")
                                       if (op, t) != ("vmul", "i64")])
def test_elementwise_ops_wrap_like_numpy(op, fn, t):
    rng = np.random.default_rng(1)
    info = np.iinfo(NP[t])
    a = rng.integers(info.min, info.max, 13, dtype=NP[t], endpoint=True)
    b = rng.integers(info.min, info.max, 13, dtype=NP[t], endpoint=True)
    a[:2], b[:2] = [info.min, info.max], [info.min, info.max]
    m = run(f"""
main:
    dmem d0, base=0, len=13
    dmem d1, base=40, len=13
    dmem d2, base=80, len=13
    {op}.{t} d2, d0, d1
    halt
""", memory={0: a, 40: b})
    with np.errstate(over="ignore"):
        want = fn(a, b).astype(NP[t])
    assert elements(m, 80, 13, t).tolist() == want.tolist()


@pytest.mark.parametrize("t", ["i8", "i16", "i32"])
def test_dot_product_rows_into_memory_and_into_an_accumulator(t):
    rng = np.random.default_rng(2)
    info = np.iinfo(NP[t])
    rows, length = 5, 12
    a = rng.integers(info.min, info.max, (rows, 16), dtype=NP[t], endpoint=True)
    x = rng.integers(info.min, info.max, length, dtype=NP[t], endpoint=True)
    a[0, :] = info.min
    x[:] = np.where(np.arange(length) % 2, info.min, x)
    words_per_row = 16 * np.dtype(NP[t]).itemsize // 4
    m = run(f"""
main:
    dmem d0, base=0, len={length}, rows={rows}, rowstride={words_per_row}
    dmem d1, base=200, len={length}, rows={rows}, stride=1, rowstride=0
    dmem d2, base=300, len={rows}
    vdot.{t} d2, d0, d1
    vdot.{t} a2, d0, d1
    vdot.{t} a2, d0, d1
    halt
""", memory={0: a, 200: x})
    def wrap48(v):    # core_acc_bits: i8 and i16 sums fit; i32 products overflow it
        return (v + 2**47) % 2**48 - 2**47

    exact = [int(v) for v in a[:, :length].astype(object) @ x.astype(object)]
    assert elements(m, 300, rows, "i64").tolist() == [wrap48(v) for v in exact]
    assert m.accumulators[2] == wrap48(2 * sum(exact))
    assert m.macs == 3 * rows * length


def test_axpy_narrow_and_strided_and_two_dimensional_descriptors():
    a = np.arange(32, dtype=np.int16) * 100 - 1600
    m = run("""
main:
    li r3, -3
    dmem d0, base=0, len=4, stride=3, rows=2, rowstride=8
    dmem d1, base=0, len=4, stride=0, rows=2, rowstride=0
    dmem d2, base=40, len=4, rows=2, rowstride=2
    vaxpy.i16 d2, r3, d0, d1
    dmem d4, base=60, len=4, rows=2, rowstride=1
    vnarrow.i16.i8 d4, d2, 4
    halt
""", memory={0: a})
    picked = np.concatenate([a[0:12:3], a[16:28:3]])
    want = (-3 * picked.astype(np.int64) + a[0]).astype(np.int16)
    assert elements(m, 40, 8, "i16").tolist() == want.tolist()
    assert elements(m, 60, 8, "i8").tolist() == np.clip(want >> 4, -128, 127).tolist()
    assert m.macs == 8


def test_receive_add_send_and_fabric_packing():
    local = np.arange(6, dtype=np.int16)
    incoming = np.array([10, -20, 30, -40, 50, -60], dtype=np.int16).view(np.uint32)
    m = run("""
main:
    dfin d0, 2, 6
    dmem d1, base=0, len=6
    dfout d2, 5, 6
    vadd.i16 d2, d0, d1
    halt
""", memory={0: local}, inputs=[(2, int(w)) for w in incoming])
    want = (np.array([10, -20, 30, -40, 50, -60], dtype=np.int16) + local).view(np.uint32)
    assert m.sent == [SentWavelet(5, int(w)) for w in want]


def test_tasks_by_data_instruction_control_wavelet_and_async_completion():
    m = run("""
.task rx, data, color=1
.task by_ctrl, local, id=12
.task after, local, id=13, blocked
.task waker, local, id=14
main:
    activate waker
    dmem d0, base=0, len=4
    dmem d1, base=8, len=4
    vadd.i32 d1, d0, d0, async unblock after
    activate after
    ret
rx: csr r1, wdata
    send r1, 3
    ret
by_ctrl: li r2, 111
    send r2, 4
    ret
after: li r2, 222
    send r2, 4
    ret
waker: li r2, 333
    send r2, 4
    ret
""", inputs=[(1, 5), (1, 6), (2, 12, True)], memory={0: np.arange(4, dtype=np.int32)},
        state=RunState.IDLE)
    by_color = {}
    for w in m.sent:
        by_color.setdefault(w.color, []).append(w.data)
    assert by_color[3] == [5, 6]
    assert sorted(by_color[4]) == [111, 222, 333]
    assert m.memory[8:12].tolist() == [0, 2, 4, 6]
    assert m.tasks_run == 1 + 2 + 1 + 1 + 1


def test_a_blocked_data_task_holds_its_wavelets_while_others_run():
    m = run("""
.task held, data, color=1, blocked
.task free, data, color=2
main: ret
held: csr r1, wdata
    send r1, 5
    ret
free: csr r1, wdata
    send r1, 6
    ret
""", inputs=[(1, 1), (2, 2), (1, 3), (2, 4)], state=RunState.IDLE)
    assert [(w.color, w.data) for w in m.sent] == [(6, 2), (6, 4)]
    assert len(m.queues[1]) == 2


FAULTS = [
    ("main: .word 0\n", Fault.ILLEGAL_INSTRUCTION, 0),
    ("main: nop\n nop\n jmp 2000\n", Fault.PC_RANGE, 2000 - P.core_tasks),  # the pc itself
    ("main: li r1, 1024\n ld r2, 0(r1)\n", Fault.MEMORY_RANGE, 1),
    ("main: dmem d0, base=1020, len=5\n dmem d1, base=0, len=5\n vadd.i32 d1, d0, d0\n",
     Fault.MEMORY_RANGE, 12),
    ("main: dmem d0, base=0, len=5, stride=-1\n dmem d1, base=8, len=5\n vmov.i32 d1, d0\n",
     Fault.MEMORY_RANGE, 12),
    ("main: dmem d0, base=0, len=5\n dmem d1, base=8, len=4\n vadd.i32 d1, d0, d0\n",
     Fault.DESCRIPTOR, 12),
    ("main: dmem d0, base=0, len=5\n vadd.i32 d1, d0, d0\n", Fault.DESCRIPTOR, 6),
    ("main: dfin d0, 1, 4\n dfin d1, 1, 4\n dmem d2, base=0, len=4\n vadd.i32 d2, d0, d1\n",
     Fault.DESCRIPTOR, 14),
    ("main: activate 30\n", Fault.TASK, 0),
    (".task rx, data, color=1\nmain: activate rx\nrx: ret\n", Fault.TASK, 0),
    # accclr a5, with 4 accumulators
    ("main: accclr a0\n acclo r1, a3\n .word 0x88140000\n", Fault.ILLEGAL_INSTRUCTION, 2),
]


@pytest.mark.parametrize("src, cause, offset", FAULTS)
def test_each_fault_stops_the_core_at_its_instruction(src, cause, offset):
    m = run(src, state=RunState.FAULT)
    assert m.fault == cause
    assert m.fault_pc == P.core_tasks + offset


def test_operands_must_have_one_shape_and_fabric_rows_start_new_wavelets():
    m = run("""
main:
    dfin d0, 1, 3, rows=2
    dmem d1, base=0, len=3, rows=2, rowstride=2
    vmov.i16 d1, d0
    dfout d2, 2, 3, rows=2
    vmov.i16 d2, d1
    dmem d3, base=0, len=6
    vmov.i16 d3, d0
""", inputs=[(1, 0x00020001), (1, 0x00000003), (1, 0x00050004), (1, 0xFFFF0006)],
        state=RunState.FAULT)
    assert m.memory[:4].tolist() == [0x00020001, 0x00000003, 0x00050004, 0x00000006]
    assert [w.data for w in m.sent] == [0x00020001, 0x00000003, 0x00050004, 0x00000006]
    assert (m.fault, m.fault_pc) == (Fault.DESCRIPTOR, P.core_tasks + 4 + 6 + 1 + 4 + 1 + 6)


def test_control_wavelets_are_dropped_while_the_core_is_stopped():
    model = CoreModel(P, assemble(".task main, local\nmain: send r0, 1\n halt\n", P))
    model.push(0, P.num_colors, ctrl=True)
    model.start()
    assert model.run() == RunState.IDLE
    model.push(5, P.num_colors, ctrl=True)
    assert model.run() == RunState.DONE and len(model.sent) == 1


def test_a_control_wavelet_for_a_task_that_does_not_exist_faults_without_a_pc():
    m = run("main: ret\n", inputs=[(0, 25, True)], state=RunState.FAULT)
    assert (m.fault, m.fault_pc) == (Fault.TASK, None)


def test_a_vector_op_waits_for_its_wavelets_and_resumes():
    model = CoreModel(P, assemble(""".task main, local, active
main: dfin d0, 3, 2
    dmem d1, base=0, len=2
    vmov.i32 d1, d0
    halt
""", P))
    model.start()
    model.push(3, 9)
    assert model.run() == RunState.WAITING
    model.push(3, 10)
    assert model.run() == RunState.DONE
    assert model.memory[:2].tolist() == [9, 10]
