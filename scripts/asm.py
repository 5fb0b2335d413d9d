"""``tessera asm`` and ``tessera disasm``: PE programs to program images and back."""

import os
import sys

from .argtypes import HelpFormatter

__all__ = ["register"]


def register(commands, add_param_arguments, params_from_args, usage_error):
    a = commands.add_parser(
        "asm", help="assemble a PE program into a program image",
        description="Assemble a PE program (the language: docs/isa.md) into a program image "
                    "(a 12-byte header, then the task table and code as little-endian 32-bit "
                    "words) that the memory agent loads into a core's program memory. The "
                    "fabric parameters set the ranges operands are checked against (colors, "
                    "task ids, accumulators, program memory). An error is one line, "
                    "FILE:LINE:COLUMN: rule: text, with exit status 2, and nothing is written.",
        formatter_class=HelpFormatter)
    a.add_argument("source", metavar="PROGRAM.s", help="the assembly text")
    a.add_argument("-o", "--out", metavar="FILE",
                   help="the image to write (default: PROGRAM.bin beside the source)")
    add_param_arguments(a)

    def cmd_asm(args):
        from ..sim.asm import assemble_file
        from ..sim.program import AsmError
        params = params_from_args(args)
        try:
            image = assemble_file(args.source, params)
        except AsmError as e:
            raise usage_error(str(e)) from None
        out = args.out or os.path.splitext(args.source)[0] + ".bin"
        _write_atomically(out, image.to_bytes(), usage_error)
        code = len(image.words) - image.task_count
        print(f"tessera asm: {args.source} -> {out}: {len(image.tasks())} task"
              f"{'s' * (len(image.tasks()) != 1)}, {code} words of code "
              f"({len(image.words)} of {params.core_program_words} words of program memory)")
        return 0

    a.set_defaults(func=cmd_asm)

    d = commands.add_parser(
        "disasm", help="print a program image as assembly",
        description="Disassemble a program image made by 'tessera asm' (or any image of the "
                    "same format) into assembly text; assembling that text with the same "
                    "fabric parameters gives the same words. Words that are not instructions "
                    "print as .word.",
        formatter_class=HelpFormatter)
    d.add_argument("image", metavar="PROGRAM.bin", help="the program image")
    d.add_argument("-o", "--out", metavar="FILE", help="write the text here (default: stdout)")
    add_param_arguments(d)

    def cmd_disasm(args):
        from ..sim.asm import disassemble
        from ..sim.program import ProgramImage
        params = params_from_args(args)
        try:
            with open(args.image, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise usage_error(f"image must be a readable file, not {args.image!r} "
                              f"({e.strerror or e})") from None
        try:
            image = ProgramImage.from_bytes(raw, name=args.image)
        except ValueError as e:
            raise usage_error(str(e)) from None
        if image.task_count != params.core_tasks:
            raise usage_error(f"core_tasks must be the image's task-table size "
                              f"({image.task_count}) to disassemble it, not "
                              f"{params.core_tasks} (give --core-tasks "
                              f"{image.task_count} or the preset it was assembled for)")
        text = disassemble(image, params)
        if args.out:
            _write_atomically(args.out, text.encode(), usage_error)
        else:
            sys.stdout.write(text)
        return 0

    d.set_defaults(func=cmd_disasm)


def _write_atomically(path, data, usage_error):
    """Write ``data`` to ``path`` through a temporary file, so a failure leaves nothing."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise usage_error(f"out must be a file that can be written, not {path!r} "
                          f"({e.strerror or e})") from None
