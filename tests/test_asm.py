"""The assembler, the disassembler and the Python programming API (sim/asm.py, sim/program.py)."""

import random

import pytest

from tessera.hdl.core.isa import INSTRUCTIONS, TaskEntry, decode, encode
from tessera.hdl.params import resolve_params
from tessera.sim.asm import assemble, disassemble
from tessera.sim.program import AsmError, Async, Mem, Program, ProgramImage

P = resolve_params()
T = P.core_tasks   # code starts after the task table

EXAMPLE = """\
; every kind of line
.equ N, 64
.task main, local, active
.task rx, data, color=3
.task fin, local, id=20, blocked

main:
    li r1, 0x12345678
    li r2, -5
    dmem d0, base=0, len=N, rows=4, rowstride=N
    dfin d1, 3, N
    dfout d2, color=4, len=4
    vdot.i16 d2, d0, d1
    vdot.i16 a1, d0, d1
    vnarrow.i32.i16 d2, d0, 3
    vaxpy.i16 d2, r3, d0, d1, async activate fin
loop: addi r1, r1, -1        # a comment
    bne r1, r0, loop
    ld r4, 4(r2)
    st r4, (r2)
    activate fin
    unblock r4
    csr r5, wdata
    send r5, 2
    sendc r5, 2
    acclo r1, a0
    accsat r1, a0, 12
    .word 0
    halt
rx: csr r1, wdata
    ret
fin: ret
"""


def test_the_example_assembles_and_its_disassembly_gives_the_same_words():
    image = assemble(EXAMPLE, P)
    text = disassemble(image, P)
    assert assemble(text, P).words == image.words
    assert image.tasks()[3] == TaskEntry(image.symbols["rx"], data=True)
    assert image.tasks()[20] == TaskEntry(image.symbols["fin"], blocked=True)
    # A local task without an id takes the lowest free one from num_colors.
    assert image.tasks()[P.num_colors] == TaskEntry(T, active=True)
    assert ".word 0x00000000" in text


def test_li_takes_one_word_when_the_value_fits_eighteen_bits():
    image = assemble(".task m, local\nm: li r1, 131071\n li r2, -131072\n li r3, 0x40000\n"
                     " li r4, 0xFFFFFFFF\n", P)
    assert len(image.words) == T + 1 + 1 + 1 + 1
    texts = disassemble(image, P)
    assert "lui r3, 256" in texts and "addi r4, r0, -1" in texts


def test_the_python_api_builds_the_same_image_as_the_text():
    p = Program(P)
    p.equ("N", 64)
    p.task("main", active=True)
    p.task("rx", "data", color=3)
    p.task("fin", id=20, blocked=True)
    p.label("main")
    p.li("r1", 0x12345678)
    p.li("r2", -5)
    p.dmem("d0", base=0, len="N", rows=4, rowstride="N")
    p.dfin("d1", 3, "N")
    p.dfout("d2", color=4, len=4)
    p.vdot_i16("d2", "d0", "d1")
    p.emit("vdot.i16", "a1", "d0", "d1")
    p.vnarrow_i32_i16("d2", "d0", 3)
    p.vaxpy_i16("d2", "r3", "d0", "d1", Async("activate", "fin"))
    p.label("loop")
    p.addi("r1", "r1", -1)
    p.bne("r1", "r0", "loop")
    p.ld("r4", Mem(4, "r2"))
    p.st("r4", Mem(0, "r2"))
    p.activate("fin")
    p.unblock("r4")
    p.csr("r5", "wdata")
    p.send("r5", 2)
    p.sendc("r5", 2)
    p.acclo("r1", "a0")
    p.accsat("r1", "a0", 12)
    p.word(0)
    p.halt()
    p.label("rx")
    p.csr("r1", "wdata")
    p.ret()
    p.label("fin")
    p.ret()
    assert p.build() == assemble(EXAMPLE, P)


def test_image_file_round_trip_and_bad_files():
    image = assemble(EXAMPLE, P)
    assert ProgramImage.from_bytes(image.to_bytes()) == image
    with pytest.raises(ValueError, match=r"^x must be a Tessera program image"):
        ProgramImage.from_bytes(b"\x7fELF" + bytes(20), name="x")
    with pytest.raises(ValueError, match=r"^x must hold the \d+ words its header says"):
        ProgramImage.from_bytes(image.to_bytes()[:-4], name="x")


def test_random_words_disassemble_to_text_that_assembles_back_to_them():
    """Every word: an instruction when one encodes back to it, else .word."""
    rng = random.Random(1)
    mnemonics = sorted(INSTRUCTIONS)
    for trial in range(20):
        words = [TaskEntry(T + rng.randrange(40), data=t < P.num_colors and rng.random() < .5,
                           active=rng.random() < .5).word() if rng.random() < 0.3 else
                 (rng.getrandbits(32) if rng.random() < 0.05 else 0) for t in range(T)]
        for _ in range(40):
            if rng.random() < 0.3:
                words.append(rng.getrandbits(32))
            else:
                inst = INSTRUCTIONS[rng.choice(mnemonics)]
                word = (int(inst.opcode) << 26) | rng.getrandbits(26)
                decoded, fields = decode(word)
                words.append(encode(decoded, {k: v for k, v in fields.items()
                                              if k not in decoded.fixed}) if decoded else word)
        image = ProgramImage(words, T)
        assert assemble(disassemble(image, P), P).words == image.words, trial


# Each bad program: its text, then the whole expected message (anchored).
BAD = [
    (".task m, local\nm: addx r1, r2, r3\n",
     r"t.s:2:4: unknown mnemonic 'addx' \(did you mean 'add'\?\)"),
    (".task m, local\nm: add r1, r2\n", r"t.s:2:4: add takes 3 operands \(rd, rs1, rs2\), not 2"),
    (".task m, local\nm: add r1, r2, r16\n", r"t.s:2:16: a register must be r0..r15, not 'r16'"),
    (".task m, local\nm: addi r1, r2, 131072\n",
     r"t.s:2:17: addi's imm must be from -131072 to 131071, not 131072"),
    (".task m, local\nm: slli r1, r2, 32\n", r"t.s:2:17: slli's imm must be from 0 to 31, not 32"),
    (".task m, local\nm: jmp nowhere\n", r"t.s:2:4: a label must be defined, not 'nowhere'"),
    (".task m, local\nm: nop\nm: nop\n",
     r"t.s:3:1: a label or constant must be defined once, not again: 'm' \(first defined at "
     r"t.s:2:1\)"),
    (".task m, local\nm: activate 99\n",
     r"t.s:2:4: a task id must be from 0 to core_tasks - 1 = 31, not 99"),
    (".task m, local\nm: activate ghost\n",
     r"t.s:2:4: a task must be a declared task's name or an id, not 'ghost'"),
    (".task m, local\nm: send r1, 8\n", r"t.s:2:13: a color must be from 0 to num_colors - 1 = "
                                        r"7, not 8"),
    (".task m, data, color=9\nm: ret\n",
     r"t.s:1:10: a color must be from 0 to num_colors - 1 = 7, not 9"),
    (".task m, local\n.task m, local\nm: ret\n",
     r"t.s:2:10: a task must be declared once, not again: 'm'"),
    (".task m, local\n", r"t.s:1:10: a task's entry must be a defined label, not 'm' "
                         r"\(task 'm'\)"),
    (".task m, local\nm: vadd.i12 d0, d1, d2\n",
     r"t.s:2:4: an element type must be one of i8, i16, i32, i64, not 'i12' in 'vadd.i12'"),
    (".task m, local\nm: vmul.i64 d0, d1, d2\n",
     r"t.s:2:4: vmul takes element types i8, i16, i32, not i64 in 'vmul.i64'"),
    (".task m, local\nm: vnarrow.i16.i32 d0, d1, 0\n",
     r"t.s:2:4: vnarrow must go to a narrower type, not i16 to i32 in 'vnarrow.i16.i32'"),
    (".task m, local\nm: vadd.i16 a0, d1, d2\n",
     r"t.s:2:13: a descriptor must be d0..d7, not 'a0'"),
    (".task m, local\nm: vdot.i16 a4, d1, d2\n",
     r"t.s:2:13: a accumulator must be a0..a3, not 'a4'"),
    (".task m, local\nm: vadd.i16 d0, d1, d2, async wake m\n",
     r"t.s:2:25: an async completion must be activate or unblock, not 'wake'"),
    (".task m, local\nm: dseti d0, stride, 40000\n",
     r"t.s:2:22: a descriptor's stride must be from -32768 to 32767, not 40000"),
    (".task m, local\nm: dseti d0, size, 4\n",
     r"t.s:2:14: a descriptor field must be one of kind, base, len, stride, rows, rowstride, "
     r"color, not 'size'"),
    (".task m, local\nm: dmem d0, base=0\n", r"t.s:2:4: dmem needs len"),
    (".task m, local\nm: ld r1, 4(r99)\n", r"t.s:2:11: a register must be r0..r15, not 'r99'"),
    (".tusk m\n", r"t.s:1:1: a directive must be .task, .equ, .word or .tableword, not '.tusk'"),
    (".task m, local\nr1: ret\n", r"t.s:2:1: a label or constant must not be named like a "
                                  r"register, descriptor or accumulator, not 'r1'"),
    (".task m, local\nm: add r1, , r2\n", r"t.s:2:12: an operand must not be empty: "
                                          r"'m: add r1, , r2'"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_programs_get_one_line_with_place_rule_and_text(text, message):
    with pytest.raises(AsmError, match=rf"^{message}$") as info:
        assemble(text, P, file="t.s")
    assert "\n" not in str(info.value)


def test_a_program_larger_than_program_memory_is_refused():
    text = ".task m, local\nm:\n" + " nop\n" * (P.core_program_words - T + 1)
    with pytest.raises(AsmError, match=rf"^t.s:{P.core_program_words - T + 3}:2: a program must "
                                       rf"fit program memory \(core_program_words = 1024: 32 "
                                       rf"task-table words and 992 of code\), not 1025 words$"):
        assemble(text, P, file="t.s")


def test_python_api_errors_name_the_rule_without_a_place():
    p = Program(P)
    with pytest.raises(AsmError, match=r"^addi's imm must be from -131072 to 131071, not 1000000$"):
        p.addi("r1", "r0", 1_000_000)
    with pytest.raises(AttributeError):
        p.frobnicate
    p.task("m")
    p.label("m")
    p.jmp("later")
    with pytest.raises(AsmError, match=r"^a label must be defined, not 'later'$"):
        p.build()


def test_tessera_asm_and_disasm_round_trip_through_files(tmp_path, capsys):
    from tessera.scripts.cli import main
    source = tmp_path / "prog.s"
    source.write_text(EXAMPLE)
    assert main(["asm", str(source)]) == 0
    assert "3 tasks, 37 words of code (69 of 1024 words" in capsys.readouterr().out
    image = ProgramImage.from_bytes((tmp_path / "prog.bin").read_bytes())
    assert image == assemble(EXAMPLE, P)
    assert main(["disasm", str(tmp_path / "prog.bin"), "-o", str(tmp_path / "back.s")]) == 0
    assert main(["asm", str(tmp_path / "back.s"), "-o", str(tmp_path / "back.bin")]) == 0
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "prog.bin").read_bytes()


def test_tessera_asm_refuses_a_bad_program_with_exit_2_and_writes_nothing(tmp_path, capsys):
    from tessera.scripts.cli import main
    source = tmp_path / "bad.s"
    source.write_text(".task m, local\nm: frob r1\n")
    assert main(["asm", str(source)]) == 2
    assert capsys.readouterr().err == f"tessera asm: error: {source}:2:4: unknown mnemonic " \
                                      f"'frob'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.s"]
    assert main(["disasm", str(source)]) == 2
    assert "must be a Tessera program image" in capsys.readouterr().err


def _isa_doc():
    from pathlib import Path
    return (Path(__file__).resolve().parents[1] / "docs" / "isa.md").read_text()


def test_docs_isa_describes_every_instruction_and_its_example_assembles():
    doc = _isa_doc()
    for mnemonic in INSTRUCTIONS:
        assert f"`{mnemonic} " in doc or f"`{mnemonic}.T" in doc or f"`{mnemonic}`" in doc, \
            mnemonic
    example = doc.split("```\n; comments")[1].split("```")[0]
    image = assemble("; comments" + example, P)
    assert sorted(image.tasks()) == [3, 8, 20]
