"""The SIMD datapath (hdl/core/datapath.py): every operation and type against Python."""

import random

import pytest

from tessera.hdl.core.datapath import SimdDatapath, VecOp, beat_bits, beat_elements
from tessera.hdl.core.isa import ElemType
from tessera.hdl.params import resolve_params
from tessera.sim.amaranth_sim import simulate


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _reference(op, t, d, a, b, scalar, shift, count):
    bits = t.bits
    wrap = lambda v: _signed(v, bits)  # noqa: E731
    s = _signed(scalar, bits if bits <= 32 else 32)
    fn = {VecOp.MOV: lambda x, y: x, VecOp.ADD: lambda x, y: wrap(x + y),
          VecOp.SUB: lambda x, y: wrap(x - y), VecOp.MUL: lambda x, y: wrap(x * y),
          VecOp.MAX: max, VecOp.MIN: min, VecOp.AXPY: lambda x, y: wrap(s * x + y),
          VecOp.NARROW: lambda x, y: max(-(1 << (d.bits - 1)),
                                         min((1 << (d.bits - 1)) - 1, x >> shift)),
          VecOp.DOT: lambda x, y: 0}[op]
    out = [fn(x, y) for x, y in zip(a, b)][:count]
    dot = sum(x * y for x, y in zip(a[:count], b[:count]))
    return out, _signed(dot, 64)


CASES = [(op, t) for op in VecOp for t in ElemType
         if not (op in (VecOp.MUL, VecOp.DOT, VecOp.AXPY) and t == ElemType.I64)
         and not (op == VecOp.NARROW and t == ElemType.I8)]


@pytest.mark.parametrize("lanes", [2, 4])
def test_every_operation_and_type_against_python(lanes):
    params = resolve_params(overrides={"core_lanes": lanes})
    dut = SimdDatapath(params)
    rng = random.Random(lanes)
    bits = beat_bits(lanes)

    async def bench(ctx):
        for op, t in CASES * 12:
            multiplying = op in (VecOp.MUL, VecOp.DOT, VecOp.AXPY)
            n = beat_elements(lanes, t, multiplying)
            d = rng.choice([x for x in ElemType if x < t]) if op == VecOp.NARROW else t
            edge = [-(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1, 0, -1]
            a = [rng.choice(edge) if rng.random() < 0.3 else
                 rng.randrange(-(1 << (t.bits - 1)), 1 << (t.bits - 1)) for _ in range(n)]
            b = [rng.choice(edge) if rng.random() < 0.3 else
                 rng.randrange(-(1 << (t.bits - 1)), 1 << (t.bits - 1)) for _ in range(n)]
            scalar, shift, count = rng.getrandbits(32), rng.randrange(32), rng.randint(1, n)
            ctx.set(dut.op, op)
            ctx.set(dut.etype, t)
            ctx.set(dut.dtype, d)
            ctx.set(dut.shift, shift)
            ctx.set(dut.scalar, scalar)
            ctx.set(dut.count, count)
            pack = lambda xs: sum((x & ((1 << t.bits) - 1)) << (k * t.bits)  # noqa: E731
                                  for k, x in enumerate(xs))
            ctx.set(dut.a, pack(a))
            ctx.set(dut.b, pack(b))
            want, dot = _reference(op, t, d, a, b, scalar, shift, count)
            got = ctx.get(dut.result)
            got = [_signed(got >> (k * d.bits), d.bits) for k in range(count)]
            assert got == want, (op, t, d, a, b)
            if op == VecOp.DOT:
                assert ctx.get(dut.dot) == dot, (t, a, b, count)
            assert ctx.get(dut.macs) == (count if op in (VecOp.DOT, VecOp.AXPY) else 0)
            assert len(a) * t.bits <= bits

    simulate(dut, bench)
