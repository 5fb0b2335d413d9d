"""Verilog text of Tessera designs, correct in every standard simulator.

Every Tessera design goes to Verilog through :func:`convert`, never through
``amaranth.back.verilog.convert`` directly.

Amaranth's own Verilog back end keeps combinational logic as Yosys processes and writes them as
``always @*`` blocks. Two of their forms are wrong in an event-driven simulator (Icarus, and
commercial ones), which Verilator, being two-state and evaluating everything at start, hides:

* a constant driven onto part of a ``reg`` becomes ``always @* r[37:32] = 6'h00;``, a block
  that reads nothing and so, by the standard, never runs: the bits stay X;
* every other block is made to run at time 0 by reading a register initialised in its
  declaration, which SystemVerilog semantics (Icarus ``-g2012``, cocotb's default) initialise
  before any process starts, so the trigger never fires; a block whose real inputs keep their
  initial value stays X.

So :func:`convert` lowers every process to cells (Yosys ``proc`` with multiplexers) before
writing: combinational logic becomes continuous assignments (``assign``, with a ``function``
for each parallel case), which every simulator evaluates at time 0, and only flip-flops and
memories remain procedural (``always @(posedge clk)``). Synthesis reads the same cells.
Internal names (Yosys's ``$``-names, which Icarus would take for system functions when
escaped) are written as ``_123_``; every named signal keeps its name.
"""

import re

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

__all__ = ["combinational_blocks", "convert"]

# Amaranth 0.5 itself asks for Yosys 0.40 or newer (amaranth.back.verilog).
_YOSYS_VERSION = (0, 40)
_SCRIPT = [
    "proc -norom",       # processes -> $mux/$pmux/$dff cells: no `always @*` is written
    "opt_clean",         # the wires proc leaves undriven or unused
    "memory_collect",    # memories as one cell each, written as Verilog arrays
    "write_verilog",
]


def convert(elaboratable, *, name):
    """Verilog text of ``elaboratable`` (an Amaranth component) as top module ``name``, with
    no source locations and no combinational process (see the module's documentation)."""
    text = rtlil.convert(elaboratable, name=name, emit_src=False)
    yosys = find_yosys(lambda version: version >= _YOSYS_VERSION)
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", *_SCRIPT]
    # Yosys warns about nothing that matters here; errors still raise YosysError.
    return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)


def combinational_blocks(text):
    """The first statement of every combinational ``always @*`` block in ``text``: empty for
    any output of :func:`convert`, for tests."""
    return re.findall(r"^\s*always @\*\s*\n\s*([^\n]*)", text, flags=re.MULTILINE)
