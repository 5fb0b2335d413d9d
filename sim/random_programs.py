"""Random PE programs whose results do not depend on timing, for differential tests.

:func:`random_program` builds, with the Python API, a program of several tasks that a core and
the reference model must agree on bit for bit whatever the order wavelets arrive in
(``docs/isa.md``, "Determinism"):

- ``main`` (local, active) runs random scalar code and random vector instructions over a shared
  read-only input area and its own area, reading one input color (only it does) and sending on
  one output color; it may issue asynchronous vector instructions, each completing into a task
  of its own (``after0``, ``after1``) that records and sends on a color of its own;
- up to two data tasks each sum and transform their color's wavelets and send on their own
  color; one may start blocked and be unblocked by ``main``;
- one local task may be started by a control wavelet;
- every task that must run counts itself in a shared word; the last one activates ``finish``,
  which halts (so ``halt`` never cuts off work that timing may have delayed);
- or, now and then, ``main`` ends in a fault instead (and is then the only task: what other
  tasks would have done before the fault depends on timing).
"""

from dataclasses import dataclass, field

from ..hdl.core.isa import ElemType
from .program import Async, Mem, Program

__all__ = ["RandomProgram", "random_program", "INPUT_WORDS"]

INPUT_WORDS = 128          # the shared read-only input area: words [0, 128)
AREA_WORDS = 80            # each task's own area (main has two)
COUNT_WORD = INPUT_WORDS   # the shared count of finished tasks


@dataclass
class RandomProgram:
    image: object
    memory: list                      # words from address 0
    inputs: list                      # (color, data, ctrl) in order per color
    expect_fault: bool
    summary: list = field(default_factory=list)


_ELEMENTWISE = ["vmov", "vadd", "vsub", "vmul", "vmax", "vmin", "vaxpy", "vdot", "vnarrow"]


def random_program(params, rng, *, fault=None):
    """A :class:`RandomProgram` for ``params`` (at least 8 colors, 4 KiB of memory); ``fault``
    True or False makes it end in a fault or not (default: one in six do)."""
    if params.num_colors < 8:
        raise ValueError(f"num_colors must be at least 8 for random programs, not "
                         f"{params.num_colors}")
    p = Program(params)
    colors = rng.sample(range(params.num_colors), 8)
    c_in, c_out, c_after = colors[0], colors[1], colors[2:4]
    data_colors = [(colors[4], colors[5]), (colors[6], colors[7])]
    data_colors = [dc for dc in data_colors if dc[0] < params.core_tasks]
    summary = []
    inputs = []
    areas = iter(range(INPUT_WORDS + 8, params.sram_bytes // 4 - AREA_WORDS, AREA_WORDS))
    memory = [rng.getrandbits(32) for _ in range(INPUT_WORDS)] + [0] * 8

    expect_fault = rng.random() < 1 / 6 if fault is None else fault
    n_data = 0 if expect_fault else rng.randrange(len(data_colors) + 1)
    use_ctrl = not expect_fault and rng.random() < 0.5
    n_async = 0 if expect_fault else rng.randrange(3)
    counted = 1 + n_data + n_async + int(use_ctrl)     # tasks that count themselves

    p.task("main", active=True)
    for k in range(n_async):
        p.task(f"after{k}")
    p.task("finish")
    if use_ctrl:
        ctrl_task = p.task("by_ctrl")
    data_tasks = []
    for k in range(n_data):
        cin, cout = data_colors[k]
        blocked = rng.random() < 0.4
        p.task(f"data{k}", "data", color=cin, blocked=blocked)
        data_tasks.append((cin, cout, blocked, rng.randrange(1, 6)))

    def count_and_maybe_finish(tag):
        # The shared count; the last to arrive starts finish.
        p.ld("r13", Mem(COUNT_WORD))
        p.addi("r13", "r13", 1)
        p.st("r13", Mem(COUNT_WORD))
        p.li("r14", counted)
        p.bne("r13", "r14", f"skip_{tag}")
        p.activate("finish")
        p.label(f"skip_{tag}")
        p.ret()

    # --- main -------------------------------------------------------------------------------
    p.label("main")
    main_area = next(areas)
    next(areas)
    for step in range(rng.randrange(2, 7)):
        if rng.random() < 0.4:
            _scalar_block(p, rng, main_area + 64 + step * 4)
            summary.append("scalar")
        else:
            text, words = _vector(p, rng, params, src_colors=[c_in], dst_color=c_out,
                                  dst_area=main_area + 8 * (step % 8))
            summary.append(text)
            inputs += [(c_in, w, False) for w in (rng.getrandbits(32) for _ in range(words))]
    if rng.random() < 0.5:
        p.li("r1", rng.getrandbits(32))
        p.send("r1", c_out)
    for k in range(n_async):
        area = next(areas)
        text, _ = _vector(p, rng, params, src_colors=[], dst_color=None, dst_area=area,
                          done=Async("activate", f"after{k}"))
        summary.append("async " + text)
    for k, (_, _, blocked, _) in enumerate(data_tasks):
        if blocked:
            p.unblock(f"data{k}")
    if expect_fault:
        kind = rng.randrange(4)
        if kind == 0:
            p.word(0)                                           # ILLEGAL_INSTRUCTION
        elif kind == 1:
            p.li("r1", params.sram_bytes // 4 + rng.randrange(100))
            p.ld("r2", Mem(0, "r1"))                            # MEMORY_RANGE
        elif kind == 2:
            p.dmem("d0", base=0, len=5)
            p.dmem("d1", base=main_area, len=4)
            p.emit("vadd.i32", "d1", "d0", "d0")                # DESCRIPTOR
        else:
            p.li("r9", 63)
            p.activate("r9")                                    # TASK: no task 63
        summary.append(f"fault {kind}")
    count_and_maybe_finish("main")

    # --- completions, data tasks, control -----------------------------------------------------
    for k in range(n_async):
        p.label(f"after{k}")
        area = next(areas)
        p.li("r1", rng.getrandbits(32))
        p.st("r1", Mem(area))
        p.send("r1", c_after[k])
        count_and_maybe_finish(f"after{k}")
    for k, (cin, cout, blocked, runs) in enumerate(data_tasks):
        p.label(f"data{k}")
        area = next(areas)
        p.csr("r1", "wdata")
        p.ld("r2", Mem(area))
        p.add("r2", "r2", "r1")
        p.st("r2", Mem(area))
        p.ld("r3", Mem(area + 1))
        p.addi("r3", "r3", 1)
        p.st("r3", Mem(area + 1))
        p.xori("r4", "r1", rng.randrange(-1000, 1000))
        p.send("r4", cout)
        # The last wavelet's run counts the task as finished.
        p.li("r5", runs)
        p.bne("r3", "r5", f"data{k}_more")
        count_and_maybe_finish(f"data{k}")
        p.label(f"data{k}_more")
        p.ret()
        inputs += [(cin, rng.getrandbits(32), False) for _ in range(runs)]
        summary.append(f"data task x{runs}{' blocked' if blocked else ''}")
    if use_ctrl:
        p.label("by_ctrl")
        area = next(areas)
        p.li("r1", 0x5A5A)
        p.st("r1", Mem(area))
        count_and_maybe_finish("by_ctrl")
        inputs.append((rng.randrange(params.num_colors), ctrl_task, True))
        summary.append("control")
    p.label("finish")
    p.halt()
    # (Per color in the order made; the harness interleaves the colors at random.)
    return RandomProgram(p.build(), memory, inputs, expect_fault, summary)


def _scalar_block(p, rng, store_at):
    ops = ["add", "sub", "and", "or", "xor", "sll", "srl", "sra", "slt", "sltu", "mul"]
    immediates = ["addi", "andi", "ori", "xori", "slli", "srli", "srai", "slti"]
    # Registers are the core's, not a task's: a task reads only what it wrote itself.
    for r in ("r1", "r2", "r3", "r4"):
        p.li(r, rng.getrandbits(32))
    for _ in range(rng.randrange(3, 8)):
        rd, rs1, rs2 = (rng.choice(["r1", "r2", "r3", "r4"]) for _ in range(3))
        if rng.random() < 0.5:
            p.emit(rng.choice(ops), rd, rs1, rs2)
        else:
            op = rng.choice(immediates)
            imm = rng.randrange(32) if op in ("slli", "srli", "srai") else \
                rng.randrange(-(1 << 17), 1 << 17)
            p.emit(op, rd, rs1, imm)
    for k, r in enumerate(("r1", "r2", "r3", "r4")):
        p.st(r, Mem(store_at + k))


def _vector(p, rng, params, *, src_colors, dst_color, dst_area, done=None):
    """One random vector instruction; ``(text, fabric-in wavelets it takes)``."""
    op = rng.choice(_ELEMENTWISE)
    types = [t for t in ElemType if not (op in ("vmul", "vdot", "vaxpy") and t == ElemType.I64)
             and not (op == "vnarrow" and t == ElemType.I8)]
    etype = rng.choice(types)
    dtype = rng.choice([t for t in ElemType if t < etype]) if op == "vnarrow" else etype
    length, rows = rng.randrange(1, 13), rng.randrange(1, 3)
    bits = etype.bits
    row_words = -(-length * bits // 32)
    fin = bool(src_colors) and rng.random() < 0.3
    wavelets = 0
    # Sources: the input area (unit or other strides), or the fabric.
    for k, d in enumerate(("d1", "d2")):
        if k == 0 and fin:
            p.dfin(d, src_colors[0], length, rows=rows)
            wavelets = rows * row_words
            continue
        stride = 1 if rng.random() < 0.7 else rng.choice([0, 2, 3])
        span = -(-length * max(stride, 1) * bits // 32) + 1
        rowstride = rng.choice([span, 0])
        if span + rowstride * (rows - 1) + 2 > INPUT_WORDS:      # too big: unit stride
            stride, rowstride = 1, 0
            span = -(-length * bits // 32) + 1
        base = rng.randrange(0, INPUT_WORDS - span - rowstride * (rows - 1) - 2)
        p.dmem(d, base=base, len=length, stride=stride, rows=rows, rowstride=rowstride)
    # (An asynchronous sum into an accumulator would race with reading it back.)
    to_acc = op == "vdot" and done is None and rng.random() < 0.3
    fout = dst_color is not None and op != "vnarrow" and rng.random() < 0.3
    dst_type = ElemType.I64 if op == "vdot" else dtype
    if op == "vdot":
        shape = (rows, 1)
    else:
        shape = (length, rows)
    if fout:
        p.dfout("d0", dst_color, shape[0], rows=shape[1])
    else:
        row = -(-shape[0] * dst_type.bits // 32)
        p.dmem("d0", base=dst_area, len=shape[0], rows=shape[1], rowstride=row)
    mnemonic = f"{op}.{etype.suffix}" + (f".{dtype.suffix}" if op == "vnarrow" else "")
    dst = f"a{rng.randrange(params.core_accumulators)}" if to_acc else "d0"
    extra = [done] if done is not None else []
    if op == "vaxpy":
        p.li("r6", rng.getrandbits(32))
        p.emit(mnemonic, dst, "r6", "d1", "d2", *extra)
    elif op == "vnarrow":
        p.emit(mnemonic, dst, "d1", rng.randrange(32), *extra)
    elif op == "vmov":
        p.emit(mnemonic, dst, "d1", *extra)
    else:
        p.emit(mnemonic, dst, "d1", "d2", *extra)
    if to_acc:
        p.acclo("r7", dst)
        p.acchi("r8", dst)
        p.st("r7", Mem(dst_area + 40))
        p.st("r8", Mem(dst_area + 41))
    return f"{mnemonic} {length}x{rows}{' fin' if fin else ''}{' fout' if fout else ''}", \
        wavelets
