"""The assembler and disassembler of PE programs (the language: ``docs/isa.md``).

:func:`assemble` parses text into calls of :class:`~.program.Program` (the Python API), so both
make the same images; :func:`disassemble` turns an image back into text that assembles to the
same words.
"""

import re

from ..hdl.core.isa import (CompletionAction, Csr, DescField, DescKind, ElemType, Opcode,
                            TaskEntry, decode)
from .program import AsmError, Async, Location, Mem, Program

__all__ = ["assemble", "assemble_file", "disassemble"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:")
_MEM = re.compile(r"^(?P<offset>[^()]*)\((?P<base>[^()]*)\)$")


class _Source:
    """One line being assembled: file name, line number, text."""

    def __init__(self, file, number, text):
        self.file, self.number, self.text = file, number, text

    def at(self, column):
        return Location(self.file, self.number, column)


def assemble(text, params, *, file="<text>"):
    """The :class:`ProgramImage` of assembly ``text``; :class:`AsmError` (one line:
    ``file:line:column: rule: text``) for the first error."""
    program = Program(params)
    for number, line in enumerate(text.splitlines(), start=1):
        _line(program, _Source(file, number, line))
    program.location, program.text = None, None
    return program.build()


def assemble_file(path, params):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise AsmError(f"the program must be an existing file, not {str(path)!r}") from None
    except UnicodeDecodeError as e:
        raise AsmError(f"{path}: the program must be UTF-8 text ({e.reason} at byte "
                       f"{e.start})") from None
    except OSError as e:
        raise AsmError(f"the program must be a readable file, not {str(path)!r} "
                       f"({e.strerror or e})") from None
    return assemble(text, params, file=str(path))


def _strip_comment(text):
    for mark in (";", "#"):
        cut = text.find(mark)
        if cut >= 0:
            text = text[:cut]
    return text


def _line(program, src):
    text = _strip_comment(src.text)
    pos = 0
    while True:
        m = _LABEL.match(text, pos)
        if not m or text[m.end():m.end() + 1] == ":":
            break
        program.location, program.text = src.at(m.start(1) + 1), m.group(1)
        program.label(m.group(1))
        pos = m.end()
    rest = text[pos:]
    if not rest.strip():
        return
    start = pos + len(rest) - len(rest.lstrip())
    head = re.match(r"\S+", text[start:]).group(0)
    operands = _split_operands(text, start + len(head), src)
    program.location, program.text = src.at(start + 1), text[start:].strip()
    if head.startswith("."):
        _directive(program, head, operands, src, start)
        return
    values, keywords = [], {}
    for column, token in operands:
        program.location = src.at(column)
        key, value = _operand(token, src, column)
        if key is None:
            if keywords:
                raise AsmError(f"{src.at(column)}: a positional operand must come before "
                               f"keyword operands, not after them: {token!r}")
            values.append(value)
        else:
            keywords[key] = value
    program.location = src.at(start + 1)
    program.columns = [src.at(c) for c, _ in operands]
    try:
        if keywords:
            _keyword_emit(program, head, values, keywords, src, start)
        else:
            program.emit(head, *values)
    finally:
        program.columns = None


def _split_operands(text, pos, src):
    """``[(column, token)]`` of the comma-separated operands after ``pos``."""
    out = []
    body = text[pos:]
    if not body.strip():
        return out
    offset = pos
    for piece in body.split(","):
        stripped = piece.strip()
        column = offset + len(piece) - len(piece.lstrip()) + 1
        if not stripped:
            raise AsmError(f"{src.at(column)}: an operand must not be empty: "
                           f"{text.strip()!r}")
        out.append((column, stripped))
        offset += len(piece) + 1
    return out


def _operand(token, src, column):
    """``(keyword or None, value)`` of one operand's text."""
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)", token)
    if m:
        return m.group(1), _value(m.group(2).strip())
    words = token.split()
    if words[0] == "async":
        if len(words) != 3:
            raise AsmError(f"{src.at(column)}: an async completion must be 'async activate "
                           f"TASK' or 'async unblock TASK', not {token!r}")
        return None, Async(words[1], _value(words[2]))
    m = _MEM.match(token)
    if m:
        offset = m.group("offset").strip() or "0"
        return None, Mem(_value(offset), m.group("base").strip())
    if len(words) != 1:
        raise AsmError(f"{src.at(column)}: an operand must be one word, not {token!r}")
    return None, _value(token)


def _value(text):
    try:
        return int(text, 0)
    except ValueError:
        return text


_KEYWORD_PSEUDO = {
    "dmem": ("desc", "base", "len", "stride", "rows", "rowstride"),
    "dfin": ("desc", "color", "len", "rows"),
    "dfout": ("desc", "color", "len", "rows"),
}


def _keyword_emit(program, head, values, keywords, src, start):
    if head not in _KEYWORD_PSEUDO:
        raise AsmError(f"{src.at(start + 1)}: only dmem, dfin and dfout take key=value "
                       f"operands, not {head!r}")
    names = _KEYWORD_PSEUDO[head]
    for key in keywords:
        if key not in names[1:]:
            raise AsmError(f"{src.at(start + 1)}: {head}'s keys are {', '.join(names[1:])}, "
                           f"not {key!r}")
        if key in names[:len(values)]:
            raise AsmError(f"{src.at(start + 1)}: {head}'s {key} is given twice")
    missing = [n for n in names[len(values):3] if n not in keywords]
    if missing:
        raise AsmError(f"{src.at(start + 1)}: {head} needs {', '.join(missing)}")
    program.emit(head, *values, **keywords)


def _directive(program, head, operands, src, start):
    tokens = [t for _, t in operands]
    if head == ".equ":
        if len(tokens) != 2:
            raise AsmError(f"{src.at(start + 1)}: .equ takes NAME, VALUE, not "
                           f"{len(tokens)} operands")
        program.location = src.at(operands[0][0])
        program.equ(tokens[0], _value(tokens[1]))
    elif head == ".word":
        if len(tokens) != 1:
            raise AsmError(f"{src.at(start + 1)}: .word takes one value, not {len(tokens)}")
        program.location = src.at(operands[0][0])
        program.word(_value(tokens[0]))
    elif head == ".tableword":
        if len(tokens) != 2:
            raise AsmError(f"{src.at(start + 1)}: .tableword takes ID, VALUE, not "
                           f"{len(tokens)} operands")
        program.table_word(_value(tokens[0]), _value(tokens[1]))
    elif head == ".task":
        _task(program, operands, src, start)
    else:
        raise AsmError(f"{src.at(start + 1)}: a directive must be .task, .equ, .word or "
                       f".tableword, not {head!r}")


def _task(program, operands, src, start):
    if len(operands) < 2:
        raise AsmError(f"{src.at(start + 1)}: .task takes NAME, data|local, then color=, "
                       f"id=, entry=, active, blocked")
    name, kind = operands[0][1], operands[1][1]
    options = {}
    for column, token in operands[2:]:
        program.location = src.at(column)
        m = re.fullmatch(r"(color|id|entry)\s*=\s*(\S+)", token)
        if m:
            options[m.group(1)] = _value(m.group(2))
        elif token in ("active", "blocked"):
            options[token] = True
        else:
            raise AsmError(f"{src.at(column)}: a task option must be color=N, id=N, "
                           f"entry=LABEL, active or blocked, not {token!r}")
    program.location = src.at(operands[1][0])
    program.task(name, kind, **options)


# --- disassembly ----------------------------------------------------------------------------

def disassemble(image, params):
    """Assembly text for ``image`` that :func:`assemble` turns back into the same words.

    Each word is written as the instruction it decodes to; a word that would not assemble back
    to itself (an illegal opcode, stray bits, an operand out of this fabric's ranges) is
    written as ``.word`` instead, found by assembling the text and comparing.
    """
    raw = set()
    while True:
        text, line_of = _disassembly(image, params, raw)
        try:
            again = assemble(text, params, file="<disassembly>")
        except AsmError as e:
            m = re.match(r"<disassembly>:(\d+):", str(e))
            line = int(m.group(1)) if m else None
            address = next((a for a, n in line_of.items() if n == line), None)
            if address is None or address in raw:  # pragma: no cover - a disassembler bug
                raise
            raw.add(address)
            continue
        wrong = {a for a in line_of if again.words[a] != image.words[a]} - raw
        if not wrong:
            return text
        raw |= wrong


def _disassembly(image, params, raw):
    """``(text, {address: line number})``; words at ``raw`` addresses written as ``.word``."""
    tasks = image.task_count
    code = range(tasks, len(image.words))
    targets = set()
    table_lines = []
    for tid in range(tasks):
        word = image.words[tid]
        if word == 0:
            continue
        entry = TaskEntry.from_word(word)
        canonical = (entry.word() == word and entry.declared and entry.entry in code
                     and not (entry.data and tid >= params.num_colors))
        if not canonical:
            table_lines.append(f".tableword {tid}, 0x{word:08x}")
            continue
        targets.add(entry.entry)
        kind = f"data, color={tid}" if entry.data else f"local, id={tid}"
        flags = (", active" if entry.active else "") + (", blocked" if entry.blocked else "")
        table_lines.append(f".task task{tid}, {kind}{flags}, entry=L{entry.entry}")
    declared = {t for t in range(tasks) if TaskEntry.from_word(image.words[t]).declared}
    texts = {}
    for address in code:
        text = None if address in raw else _instruction_text(
            *decode(image.words[address]), address, code, declared)
        if text is None:
            texts[address] = f".word 0x{image.words[address]:08x}"
        else:
            texts[address] = text[0]
            if text[1] is not None:
                targets.add(text[1])
    out = [f"; {len(image.words)} words: a {tasks}-entry task table, then code from "
           f"address {tasks}"]
    out += table_lines
    line_of = {}
    for address in code:
        if address in targets:
            out.append(f"L{address}:")
        out.append(f"    {texts[address]}")
        line_of[address] = len(out)
    return "\n".join(out) + "\n", line_of


def _instruction_text(inst, fields, address, code, declared):
    """``(text, branch target or None)`` of a decoded word, or ``None`` if it is illegal or
    its target has no label."""
    if inst is None:
        return None
    f = fields

    def task_name(tid):
        return f"task{tid}" if tid in declared else str(tid)

    fmt = inst.format
    target = None
    if fmt == "R":
        ops = [f"r{f['rd']}", f"r{f['rs1']}", f"r{f['rs2']}"]
    elif inst.opcode == Opcode.LD:
        ops = [f"r{f['rd']}", f"{f['imm']}(r{f['rs1']})"]
    elif inst.opcode == Opcode.ST:
        ops = [f"r{f['rs2']}", f"{f['imm']}(r{f['rs1']})"]
    elif fmt == "I":
        ops = [f"r{f['rd']}", f"r{f['rs1']}", str(f["imm"])]
    elif fmt == "U":
        ops = [f"r{f['rd']}", str(f["imm"])]
    elif fmt in ("B", "J"):
        target = address + f["offset"] if fmt == "B" else f["target"]
        if target not in code:
            return None
        ops = ([f"r{f['rs1']}", f"r{f['rs2']}"] if fmt == "B" else []) + [f"L{target}"]
    elif fmt == "T":
        ops = [f"r{f['rs1']}" if f["use_reg"] else task_name(f["task"])]
    elif fmt == "N":
        ops = []
    elif fmt in ("SEND", "RECV"):
        ops = [f"r{f['rs1' if fmt == 'SEND' else 'rd']}", str(f["color"])]
    elif fmt == "CSR":
        if f["csr"] not in set(Csr):
            return None
        ops = [f"r{f['rd']}", Csr(f["csr"]).name.lower()]
    elif fmt in ("DSET", "DSETI"):
        if f["field"] not in set(DescField):
            return None
        field = DescField(f["field"])
        value = f"r{f['rs1']}" if fmt == "DSET" else str(f["imm"])
        if fmt == "DSETI" and field == DescField.KIND and f["imm"] in set(DescKind):
            value = DescKind(f["imm"]).name.lower()
        ops = [f"d{f['desc']}", field.name.lower(), value]
    elif fmt == "ACC":
        ops = {"accclr": [f"a{f['acc']}"], "acclo": [f"r{f['rd']}", f"a{f['acc']}"],
               "acchi": [f"r{f['rd']}", f"a{f['acc']}"],
               "accsat": [f"r{f['rd']}", f"a{f['acc']}", str(f["shift"])]}[inst.mnemonic]
    else:
        return _vector_text(inst, f, task_name), None
    return f"{inst.mnemonic} {', '.join(ops)}".rstrip(), target


def _vector_text(inst, f, task_name):
    mnemonic = f"{inst.mnemonic}.{ElemType(f['type']).suffix}"
    if inst.opcode == Opcode.VNARROW:
        mnemonic += f".{ElemType(f['dtype']).suffix}"
    ops = [f"a{f['dst']}" if inst.opcode == Opcode.VDOT and f["to_acc"] else f"d{f['dst']}"]
    if inst.opcode == Opcode.VAXPY:
        ops.append(f"r{f['scalar']}")
    ops.append(f"d{f['src0']}")
    if any(name == "src1" for _, name in inst.operands):
        ops.append(f"d{f['src1']}")
    if inst.opcode == Opcode.VNARROW:
        ops.append(str(f["shift"]))
    if f["async_"]:
        action = CompletionAction(f["on_done"]).name.lower()
        ops.append(f"async {action} {task_name(f['task'])}")
    return f"{mnemonic} {', '.join(ops)}"
