"""The whole core (hdl/core/core.py) against the reference model, in Amaranth's simulator:
programs loaded through the host port, started, fed wavelets at random times."""

import numpy as np
import pytest

from tessera.hdl.core.isa import Fault
from tessera.hdl.params import resolve_params
from tessera.sim.asm import assemble
from tessera.sim.core_harness import run_on_core
from tessera.sim.core_model import CoreModel, RunState

P = resolve_params()


def model_of(params, image, memory, inputs):
    model = CoreModel(params, image)
    model.memory[:len(memory)] = memory
    model.start()
    for color, data, ctrl in inputs:
        model.push(color, data, ctrl)
    state = model.run()
    return model, state


def check_against_model(src, *, memory=(), inputs=(), params=P, seed=0, read_words=256):
    image = assemble(".task main, local, active\n" + src, params)
    model, state = model_of(params, image, memory, inputs)
    run = run_on_core(params, image, memory=memory, inputs=inputs, seed=seed,
                      read_words=read_words)
    assert run.fault == model.fault, (run.fault, model.fault)
    if model.fault != Fault.NONE:
        assert run.fault_pc == model.fault_pc
    assert run.done == model.done
    assert run.memory == [int(w) for w in model.memory[:read_words]]
    by_color = lambda ws: {c: [(w.data, w.ctrl) for w in ws if w.color == c]  # noqa: E731
                           for c in range(params.num_colors)}
    assert by_color(run.sent) == by_color(model.sent)
    assert run.macs == model.macs
    assert run.tasks_run == model.tasks_run
    return run, model


def test_scalar_program():
    run, model = check_against_model("""
main:
    li r1, 7
    li r2, -3
    add r3, r1, r2
    mul r5, r1, r2
    sra r6, r2, r1
    li r10, 0
    li r11, 5
loop: addi r10, r10, 2
    addi r11, r11, -1
    bne r11, r0, loop
    st r10, 100(r0)
    ld r12, 100(r0)
    st r12, 101(r0)
    st r3, 0(r0)
    st r5, 1(r0)
    st r6, 2(r0)
    li r7, 0x12345678
    st r7, 3(r0)
    csr r8, task
    st r8, 4(r0)
    send r12, 2
    halt
""")
    assert run.done and run.memory[100:102] == [10, 10]


def test_vector_instructions_with_fabric_operands_and_accumulators():
    rng = np.random.default_rng(3)
    memory = rng.integers(0, 2**32, 200, dtype=np.uint64).astype(np.uint32)
    inputs = [(3, int(w), False) for w in rng.integers(0, 2**32, 8, dtype=np.uint64)]
    check_against_model("""
main:
    dmem d0, base=0, len=16, rows=2, rowstride=8
    dmem d1, base=40, len=16, rows=2, rowstride=8
    dmem d2, base=80, len=2
    vdot.i16 d2, d0, d1
    vdot.i8 a1, d0, d1
    dfin d3, 3, 16
    dmem d4, base=100, len=16
    dfout d5, 4, 16
    vadd.i16 d5, d3, d4
    dmem d6, base=120, len=8, stride=2
    dmem d7, base=140, len=8
    vmax.i32 d7, d6, d7
    acclo r1, a1
    acchi r2, a1
    st r1, 150(r0)
    st r2, 151(r0)
    halt
""", memory=memory, inputs=inputs)


def test_tasks_by_data_instruction_control_wavelet_and_async_completion():
    check_against_model("""
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
    ld r2, 20(r0)
    add r2, r2, r1
    st r2, 20(r0)
    ret
by_ctrl: li r2, 111
    st r2, 21(r0)
    ret
after: li r2, 222
    send r2, 4
    ret
waker: li r2, 333
    st r2, 22(r0)
    ret
""", inputs=[(1, 5, False), (1, 6, False), (2, 12, True), (1, 7, False)],
        memory=list(range(10, 30)))


@pytest.mark.parametrize("src, cause", [
    ("main: .word 0\n", Fault.ILLEGAL_INSTRUCTION),
    ("main: nop\n nop\n jmp 2000\n", Fault.PC_RANGE),
    ("main: li r1, 1024\n ld r2, 0(r1)\n", Fault.MEMORY_RANGE),
    ("main: dmem d0, base=1020, len=5\n dmem d1, base=0, len=5\n vadd.i32 d1, d0, d0\n",
     Fault.MEMORY_RANGE),
    ("main: dmem d0, base=0, len=5\n dmem d1, base=8, len=4\n vadd.i32 d1, d0, d0\n",
     Fault.DESCRIPTOR),
    ("main: activate 30\n", Fault.TASK),
    (".task rx, data, color=1\nmain: activate rx\nrx: ret\n", Fault.TASK),
    ("main: li r1, 5\n st r1, 0(r0)\n accclr a0\n .word 0x88140000\n",
     Fault.ILLEGAL_INSTRUCTION),
])
def test_each_fault_stops_the_core_at_its_instruction(src, cause):
    run, model = check_against_model(src)
    assert run.fault == cause


def test_random_programs_agree_with_the_model():
    """Random timing-independent programs (sim/random_programs.py) on the core in Amaranth's
    simulator; the Verilator tests run many more."""
    import random
    from tessera.sim.random_programs import random_program
    import os
    rng = random.Random(int(os.environ.get("TESSERA_SEED", 11)))
    faults = 0
    for trial in range(int(os.environ.get("TESSERA_TRIALS", 12))):
        program = random_program(P, rng, fault=trial % 4 == 3)
        model, state = model_of(P, program.image, program.memory, program.inputs)
        assert state in (RunState.DONE, RunState.FAULT), (trial, state, program.summary)
        assert (state == RunState.FAULT) == program.expect_fault, (trial, program.summary)
        run = run_on_core(P, program.image, memory=program.memory, inputs=program.inputs,
                          seed=trial)
        where = (trial, program.summary)
        assert run.fault == model.fault, where
        faults += run.fault != Fault.NONE
        assert run.done == model.done, where
        assert run.memory == [int(w) for w in model.memory], where
        by_color = lambda ws: {c: [(w.data, w.ctrl) for w in ws if w.color == c]  # noqa: E731
                               for c in range(P.num_colors)}
        assert by_color(run.sent) == by_color(model.sent), where
        assert (run.macs, run.tasks_run) == (model.macs, model.tasks_run), where
    assert faults >= 1


@pytest.mark.parametrize("preset", ["tiny", "default"])     # 8 tasks (START lasts 16), 32
def test_a_restart_clears_registers_descriptors_and_accumulators(preset):
    """A program run earlier on the same core leaves nothing the next one can see: START
    clears the register and descriptor files (RAMs, a word a cycle) and the accumulators."""
    params = resolve_params(preset)
    dirty = assemble("""
.task main, local, active
main:
    li r1, 3
    li r5, 77
    li r15, -1
    dmem d3, base=0, len=4
    dmem d7, base=8, len=4
    vdot.i32 a1, d3, d3
    halt
""", params)
    clean = assemble("""
.task main, local, active
main:
    st r5, 20(r0)
    st r15, 21(r0)
    acclo r2, a1
    st r2, 22(r0)
    vmov.i32 d7, d3
    halt
""", params)
    run = run_on_core(params, clean, memory=[5, 6, 7, 8], earlier=[dirty], read_words=24)
    model, _ = model_of(params, clean, [5, 6, 7, 8], [])
    assert run.memory[20:23] == [0, 0, 0]
    assert run.fault == model.fault == Fault.DESCRIPTOR     # d3 and d7 are kind none again
    assert run.memory == [int(w) for w in model.memory[:24]]


def test_each_instruction_sees_the_one_before_and_a_taken_branch_drops_the_next():
    """The scalar unit decodes a word while the one before it executes: every kind of result
    (ALU, immediate, ld, recv, csr, acclo) is forwarded to the next instruction's operands, and
    the word after a taken branch or jmp, already decoded, never runs."""
    run, model = check_against_model("""
main:
    li r1, 5
    addi r2, r1, 1          # ALU -> ALU
    add r3, r2, r2
    st r3, 0(r0)            # ALU -> store data
    ld r4, 0(r0)
    addi r5, r4, 3          # ld -> ALU
    st r5, 1(r0)
    recv r6, 1
    st r6, 2(r0)            # recv -> store data
    csr r7, task
    addi r7, r7, 40
    st r7, 3(r0)
    accclr a0
    acclo r8, a0
    addi r8, r8, 9          # acclo -> ALU
    st r8, 4(r0)
    beq r1, r1, taken
    st r1, 5(r0)            # decoded, dropped
taken:
    jmp over
    st r1, 6(r0)            # decoded, dropped
over:
    li r9, 77
    bne r9, r9, main        # not taken: the next word runs
    st r9, 7(r0)
    halt
""", inputs=[(1, 1234, False)], memory=[0] * 8)
    # (main is task 8, the assembler's first local id.)
    assert run.memory[:8] == [12, 15, 1234, 48, 9, 0, 0, 77]


def test_a_word_fetched_beyond_program_memory_faults_only_if_it_runs():
    """The address after program memory's last word is fetched ahead (and not read) while the
    last word is decoded: a halt there ends the run, an instruction that runs on faults at
    the next address."""
    p = resolve_params("tiny")
    last = p.core_program_words - 1

    def program(final):
        # li at the first code address, then nops, so that `final` is the last word.
        pad = "\n".join("    nop" for _ in range(last - p.core_tasks - 3))
        return f"main:\n    li r1, 3\n    jmp end\n{pad}\nend:\n    st r1, 0(r0)\n    {final}\n"

    words = p.sram_bytes // 4
    run, model = check_against_model(program("halt"), params=p, memory=[0], read_words=words)
    assert run.done and run.memory[0] == 3
    run, model = check_against_model(program("addi r1, r1, 1"), params=p, memory=[0],
                                     read_words=words)
    assert run.fault == Fault.PC_RANGE and run.fault_pc == last + 1
