"""cocotb testbench of tiles with compute cores (top module ``tessera_fabric``, 1x1).

Run by ``tests/test_core_verilator.py``. Everything goes through the fabric's west edge with
:class:`tessera.sim.host.Host`, as a user's host would: data loaded with WRITE requests,
routes set with ROUTE requests (every color the program receives from the west into the core,
every color it sends from the core back to the west), the program image written into program
memory, the core started by a write to its CONTROL register, wavelets sent, the core polled
until done or faulted, then memory, counters and flags read back and compared with the
reference model (``sim/core_model.py``): every memory word, every wavelet sent (in order per
color), the MACs, the tasks run and the fault.

``TESSERA_CORE_PROGRAMS`` sets how many random programs (``sim/random_programs.py``) run; a
failing one names its seed and index, which reproduce it.
"""

import json
import os
import random

import cocotb

from tessera.hdl.core.isa import Fault
from tessera.hdl.params import FabricParams
from tessera.hdl.routing import Route
from tessera.hdl.wavelet import Direction
from tessera.sim.core_model import CoreModel, RunState
from tessera.sim.host import EdgePort, Host
from tessera.sim.random_programs import random_program
from tessera.sim.wavelets import Wavelet

TIMEOUT = dict(timeout_time=2000, timeout_unit="ms")
PE = (0, 0)
WEST = EdgePort(Direction.WEST, 0)


def params_from_env():
    return FabricParams(**json.loads(os.environ["TESSERA_PARAMS"]))


def model_of(params, program):
    model = CoreModel(params, program.image)
    model.memory[:len(program.memory)] = program.memory
    model.start()
    for color, data, ctrl in program.inputs:
        model.push(color, data, ctrl)
    return model, model.run()


def host_order(program, rng):
    """The inputs in an order one edge port can send without waiting on itself: the colors
    ``main`` reads first (a task that waits for them may hold the core), then the rest,
    interleaved at random with each color's order kept."""
    main_colors = {c for c, _, ctrl in program.inputs[:1] if not ctrl}
    first = [w for w in program.inputs if w[0] in main_colors and not w[2]]
    rest = [w for w in program.inputs if not (w[0] in main_colors and not w[2])]
    by_color = {}
    for w in rest:
        by_color.setdefault(w[0], []).append(w)
    mixed = []
    while any(by_color.values()):
        color = rng.choice([c for c, ws in by_color.items() if ws])
        mixed.append(by_color[color].pop(0))
    return first + mixed


async def run_program(host, params, program, rng, where):
    model, state = model_of(params, program)
    assert state in (RunState.DONE, RunState.FAULT), (where, state)
    await host.write(PE, 0, program.memory)
    words = params.sram_bytes // 4
    await host.write(PE, len(program.memory), [0] * (words - len(program.memory)))
    colors_in = {c for c, _, ctrl in program.inputs if not ctrl}
    # A control wavelet is taken whatever its color, but it must be routed into the core:
    # send it on a color that goes there.
    sent_on = {w.color for w in model.sent}
    spare = sorted(colors_in) or sorted(set(range(params.num_colors)) - sent_on)
    program.inputs = [(spare[0] if ctrl else c, d, ctrl) for c, d, ctrl in program.inputs]
    colors_in = {c for c, _, _ in program.inputs}
    colors_out = set(range(params.num_colors)) - colors_in
    routes = {c: Route(Direction.WEST, {Direction.RAMP}) for c in colors_in}
    routes.update({c: Route(Direction.RAMP, {Direction.WEST}) for c in colors_out})
    await host.set_routes(PE, routes)
    await host.load_program(PE, program.image)
    await host.status(PE)                  # routes in place
    host.received[WEST].clear()
    await host.start_core(PE)
    inputs = [Wavelet(data=d, color=c, ctrl=int(ctrl)) for c, d, ctrl in
              host_order(program, rng)]
    await host.send(WEST, inputs)
    state_hw = await host.wait_core(PE)
    back = await host.read(PE, 0, words)
    assert state_hw.fault == model.fault, (where, state_hw, model.fault)
    if model.fault != Fault.NONE:
        assert state_hw.fault_pc == model.fault_pc, (where, state_hw.fault_pc, model.fault_pc)
    assert state_hw.done == model.done, where
    wrong = [a for a in range(words) if back[a] != int(model.memory[a])]
    assert not wrong, (where, f"{len(wrong)} words differ, first {wrong[:4]}",
                       [(a, hex(back[a]), hex(int(model.memory[a]))) for a in wrong[:4]])
    got = {}
    for w in host.received[WEST]:
        got.setdefault(w.color, []).append((w.data, bool(w.ctrl)))
    want = {}
    for w in model.sent:
        want.setdefault(w.color, []).append((w.data, w.ctrl))
    assert got == want, (where, "sent wavelets differ")
    assert state_hw.counters["macs"] == model.macs, where
    assert state_hw.counters["tasks_run"] == model.tasks_run, where
    return state_hw


@cocotb.test(**TIMEOUT)
async def random_programs_agree_with_the_model(dut):
    """Random timing-independent programs, random input timing and output stalls."""
    params = params_from_env()
    rng = random.Random(f"{cocotb.RANDOM_SEED}/programs")
    host = Host(dut, params, seed=rng.random(), idle=0.3, backpressure=0.3, watchdog=20000)
    await host.reset()
    count = int(os.environ.get("TESSERA_CORE_PROGRAMS", "40"))
    faults = 0
    for k in range(count):
        program = random_program(params, rng, fault=k % 6 == 5)
        where = (f"program {k} of seed {cocotb.RANDOM_SEED} (TESSERA_SEED="
                 f"{cocotb.RANDOM_SEED}): {program.summary}")
        state = await run_program(host, params, program, rng, where)
        faults += state.fault != Fault.NONE
    assert faults >= count // 6


@cocotb.test(**TIMEOUT)
async def a_core_is_reloaded_and_restarted_without_a_reset(dut):
    """One program, then another loaded over it and started, with no reset between; the host
    reads memory while the core runs a long vector instruction."""
    from tessera.sim.program import Program
    params = params_from_env()
    host = Host(dut, params, seed=3, idle=0.2, backpressure=0.2)
    await host.reset()
    rng = random.Random(7)
    for k in range(2):
        program = random_program(params, rng, fault=False)
        await run_program(host, params, program, rng, f"reload {k}")
    # A long copy while the host reads the words it copies from.
    p = Program(params)
    p.task("main", active=True)
    p.label("main")
    p.dmem("d1", base=0, len=512)
    p.dmem("d0", base=512, len=512)
    p.vmov_i32("d0", "d1")
    p.halt()
    data = [rng.getrandbits(32) for _ in range(512)]
    await host.write(PE, 0, data)
    await host.load_program(PE, p.build())
    await host.start_core(PE)
    during = await host.read(PE, 0, 64)
    state = await host.wait_core(PE)
    assert state.done and state.fault == Fault.NONE
    assert during == data[:64]
    assert await host.read(PE, 512, 512) == data
