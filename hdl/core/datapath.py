"""The SIMD datapath: one beat of a vector instruction, combinational.

A beat is up to ``E`` elements of one type packed from bit 0 of each source (``docs/isa.md``,
"Cycle costs"); the datapath computes the destination's elements, packed the same way at the
destination's width, and, for the multiplying instructions, the sum of the beat's products
(the dot product's contribution) and the number of multiply-accumulates.

Multipliers: ``lanes`` signed 16 x 16 (int16, and int8 sign-extended: a multiplying int8 beat
has at most ``lanes`` elements) and ``lanes / 2`` signed 32 x 32 (int32).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from .isa import ElemType, Opcode

__all__ = ["VecOp", "VECTOR_OPCODES", "SimdDatapath", "beat_bits", "beat_elements"]


class VecOp(enum.Enum, shape=4):
    """The vector operations (their opcodes' order)."""
    MOV = 0
    ADD = 1
    SUB = 2
    MUL = 3
    MAX = 4
    MIN = 5
    DOT = 6
    AXPY = 7
    NARROW = 8


VECTOR_OPCODES = {Opcode.VMOV: VecOp.MOV, Opcode.VADD: VecOp.ADD, Opcode.VSUB: VecOp.SUB,
                  Opcode.VMUL: VecOp.MUL, Opcode.VMAX: VecOp.MAX, Opcode.VMIN: VecOp.MIN,
                  Opcode.VDOT: VecOp.DOT, Opcode.VAXPY: VecOp.AXPY,
                  Opcode.VNARROW: VecOp.NARROW}


def beat_bits(lanes):
    """Bits of a source beat: ``lanes`` 16-bit lanes, and at least one int64."""
    return max(16 * lanes, 64)


def beat_elements(lanes, etype, multiplying):
    """Elements of a full beat with every operand a unit-stride memory operand."""
    if etype == ElemType.I8:
        return lanes if multiplying else 2 * lanes
    return max(1, 16 * lanes // etype.bits)


class SimdDatapath(wiring.Component):
    """One beat.

    Members
    -------
    op : ``In(VecOp)``; etype, dtype : ``In(ElemType)``
        The operation, its element type and (``NARROW``) the destination's.
    shift : ``In(5)``; scalar : ``In(32)``
        ``NARROW``'s shift; ``AXPY``'s scalar.
    count : ``In(range(2 * lanes + 1))``
        Valid elements of the beat (the rest are computed but not counted).
    a, b : ``In(beat_bits)``
        The sources' elements, packed from bit 0.
    result : ``Out(beat_bits)``
        The destination's elements (at the destination type's width).
    dot : ``Out(signed(64))``
        Sum of the valid elements' products (``DOT``), wrapped to 64 bits.
    macs : ``Out(range(2 * lanes + 1))``
        Multiply-accumulates of this beat (``DOT``, ``AXPY``: ``count``).
    """

    def __init__(self, params):
        self._lanes = params.core_lanes
        bits = beat_bits(self._lanes)
        super().__init__({
            "op": In(VecOp), "etype": In(ElemType), "dtype": In(ElemType),
            "shift": In(5), "scalar": In(32),
            "count": In(range(2 * self._lanes + 1)),
            "a": In(bits), "b": In(bits),
            "result": Out(bits), "dot": Out(signed(64)),
            "macs": Out(range(2 * self._lanes + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self._lanes
        bits = beat_bits(lanes)

        def elements(vector, t):
            # Only as many as a beat of type t carries: with 2 lanes a 64-bit beat (for one
            # int64) holds 4 int8, not 8, and logic for the rest would never be used.
            n = beat_elements(lanes, t, False)
            return [vector[k * t.bits:(k + 1) * t.bits].as_signed() for k in range(n)]

        # Products: the 16-bit multipliers serve int8 and int16, the 32-bit ones int32. The
        # first operand is the scalar for AXPY.
        axpy = self.op == VecOp.AXPY
        small = []
        for k in range(lanes):
            x16 = Mux(self.etype == ElemType.I8, self.a[8 * k:8 * k + 8].as_signed(),
                      self.a[16 * k:16 * k + 16].as_signed())
            y16 = Mux(self.etype == ElemType.I8, self.b[8 * k:8 * k + 8].as_signed(),
                      self.b[16 * k:16 * k + 16].as_signed())
            s16 = Mux(self.etype == ElemType.I8, self.scalar[:8].as_signed(),
                      self.scalar[:16].as_signed())
            left = Signal(signed(16), name=f"mul16_l{k}")
            right = Signal(signed(16), name=f"mul16_r{k}")
            product = Signal(signed(32), name=f"mul16_{k}")
            m.d.comb += [left.eq(Mux(axpy, s16, x16)), right.eq(Mux(axpy, x16, y16)),
                         product.eq(left * right)]
            small.append(product)
        wide = []
        for k in range(max(1, lanes // 2)):
            x32 = self.a[32 * k:32 * k + 32].as_signed()
            y32 = self.b[32 * k:32 * k + 32].as_signed()
            left = Signal(signed(32), name=f"mul32_l{k}")
            right = Signal(signed(32), name=f"mul32_r{k}")
            product = Signal(signed(64), name=f"mul32_{k}")
            m.d.comb += [left.eq(Mux(axpy, self.scalar.as_signed(), x32)),
                         right.eq(Mux(axpy, x32, y32)), product.eq(left * right)]
            wide.append(product)

        def products(t):
            if t == ElemType.I32:
                return wide
            return small

        # Each type's results, then the one the instruction has.
        results = {}
        for t in ElemType:
            a, b = elements(self.a, t), elements(self.b, t)
            out = []
            prods = products(t) if t != ElemType.I64 else []
            for k in range(len(a)):
                r = Signal(t.bits, name=f"r_{t.suffix}_{k}")
                less = Signal(name=f"lt_{t.suffix}_{k}")     # one comparator for max and min
                m.d.comb += less.eq(a[k] < b[k])
                prod = prods[k] if k < len(prods) else None
                with m.Switch(self.op):
                    with m.Case(VecOp.MOV):
                        m.d.comb += r.eq(a[k])
                    with m.Case(VecOp.ADD):
                        m.d.comb += r.eq(a[k] + b[k])
                    with m.Case(VecOp.SUB):
                        m.d.comb += r.eq(a[k] - b[k])
                    with m.Case(VecOp.MAX):
                        m.d.comb += r.eq(Mux(less, b[k], a[k]))
                    with m.Case(VecOp.MIN):
                        m.d.comb += r.eq(Mux(less, a[k], b[k]))
                    if prod is not None:
                        with m.Case(VecOp.MUL):
                            m.d.comb += r.eq(prod)
                        with m.Case(VecOp.AXPY):
                            m.d.comb += r.eq(prod + b[k])
                out.append(r)
            results[t] = Cat(out)
        with m.Switch(self.etype):
            for t in ElemType:
                with m.Case(t):
                    m.d.comb += self.result.eq(results[t])

        # Narrowing: each source element shifted (once per source type) and saturated to the
        # destination's width: it fits when the bits from the destination's sign bit up are
        # all equal (cheaper than two signed comparisons).
        with m.If(self.op == VecOp.NARROW):
            with m.Switch(Cat(self.dtype, self.etype)):
                for src in ElemType:
                    if src == ElemType.I8:
                        continue
                    shifted = []
                    for k, x in enumerate(elements(self.a, src)):
                        value = Signal(signed(src.bits), name=f"n_{src.suffix}_{k}")
                        m.d.comb += value.eq(x >> self.shift)
                        shifted.append(value)
                    for dst in ElemType:
                        if dst >= src:
                            continue
                        with m.Case(int(dst) | int(src) << 2):
                            out = []
                            for k, value in enumerate(shifted):
                                top = value[dst.bits - 1:]
                                fits = (top == 0) | (top == (1 << len(top)) - 1)
                                hi = (1 << (dst.bits - 1)) - 1
                                lo = 1 << (dst.bits - 1)           # the most negative, as bits
                                narrow = Signal(dst.bits,
                                                name=f"n_{src.suffix}_{dst.suffix}_{k}")
                                m.d.comb += narrow.eq(Mux(fits, value[:dst.bits],
                                                          Mux(value[-1], lo, hi)))
                                out.append(narrow)
                            m.d.comb += self.result.eq(Cat(out))

        # The dot product of the valid elements, and the MAC count.
        sums = {}
        for t in (ElemType.I8, ElemType.I16, ElemType.I32):
            prods = products(t)[:beat_elements(lanes, t, True)]
            total = 0
            for k, prod in enumerate(prods):
                total = total + Mux(k < self.count, prod, 0)
            sums[t] = total
        with m.Switch(self.etype):
            for t, total in sums.items():
                with m.Case(t):
                    m.d.comb += self.dot.eq(total)
        with m.If((self.op == VecOp.DOT) | axpy):
            m.d.comb += self.macs.eq(self.count)
        return m
