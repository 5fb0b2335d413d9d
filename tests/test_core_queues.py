"""The core's per-color input queues (hdl/core/queues.py), in Amaranth's simulator."""

import random

from tessera.hdl.core.queues import ColorQueues
from tessera.hdl.link import wavelet_channel
from tessera.hdl.params import resolve_params
from tessera.sim.amaranth_sim import simulate


def _offer(ctx, dut, params, color, data, ctrl=0):
    ctx.set(dut.inp.valid, 1)
    ctx.set(dut.inp.payload.color, color)
    ctx.set(dut.inp.payload.data, data)
    ctx.set(dut.inp.payload.ctrl, ctrl)
    ctx.set(dut.inp.payload.addressed, 0)
    channel = wavelet_channel(params, addressed=0, color=color)
    return (ctx.get(dut.inp.ready) >> channel) & 1


def test_queues_keep_order_per_color_take_two_at_once_and_pass_control_wavelets():
    params = resolve_params(overrides={"core_queue_depth": 4})
    dut = ColorQueues(params)
    rng = random.Random(3)
    sent = {c: [] for c in range(params.num_colors)}
    got = {c: [] for c in range(params.num_colors)}
    controls = []

    async def bench(ctx):
        ctx.set(dut.running, 1)
        n = 0
        control = None      # the control wavelet taken in the previous cycle
        for cycle in range(3000):
            # A control wavelet shows on ctrl_valid in the cycle after it was taken.
            if control is None:
                assert not ctx.get(dut.ctrl_valid)
            else:
                assert ctx.get(dut.ctrl_valid) and ctx.get(dut.ctrl_task) == control & 63
                controls.append(control)
            control = None
            color = rng.randrange(params.num_colors)
            ctrl = rng.random() < 0.1
            offered = rng.random() < 0.7
            if offered:
                ready = _offer(ctx, dut, params, color, n, int(ctrl))
            else:
                ctx.set(dut.inp.valid, 0)
                ready = 0
            # Pop 0, 1 or 2 (at most what is there) per color, at random.
            for c in range(params.num_colors):
                count = ctx.get(dut.count[c])
                k = min(count, rng.choice([0, 0, 1, 2]))
                ctx.set(dut.pop[c], k)
                if k >= 1:
                    got[c].append(ctx.get(dut.head[c]))
                if k == 2:
                    got[c].append(ctx.get(dut.second[c]))
            if offered and ready:
                if ctrl:
                    control = n
                else:
                    sent[color].append(n)
                n += 1
            await ctx.tick()
        for c in range(params.num_colors):
            ctx.set(dut.pop[c], 0)
        ctx.set(dut.inp.valid, 0)
        for c in range(params.num_colors):
            for i in range(ctx.get(dut.count[c])):
                ctx.set(dut.pop[c], 1)
                got[c].append(ctx.get(dut.head[c]))
                await ctx.tick()
            ctx.set(dut.pop[c], 0)

    simulate(dut, bench)
    assert got == sent
    assert sum(map(len, sent.values())) > 1000 and len(controls) > 100


def test_a_full_color_stops_its_channel_only_and_shared_channels_stop_together():
    own = resolve_params()                        # a channel per color
    shared = resolve_params(overrides={"color_channels": 2})
    for params, stopped in ((own, {1}), (shared, {1, 3, 5, 7})):
        dut = ColorQueues(params)

        async def bench(ctx):
            for _ in range(params.core_queue_depth):
                assert _offer(ctx, dut, params, 1, 7)
                await ctx.tick()
            for color in range(params.num_colors):
                assert _offer(ctx, dut, params, color, 9) == (color not in stopped), color
            ctx.set(dut.inp.valid, 0)

        simulate(dut, bench)


def test_control_wavelets_are_dropped_while_the_core_is_stopped():
    params = resolve_params()
    dut = ColorQueues(params)

    async def bench(ctx):
        assert _offer(ctx, dut, params, 2, 5, ctrl=1)
        await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        assert not ctx.get(dut.ctrl_valid)
        assert ctx.get(dut.count[2]) == 0
        # Taken while running, but the core stops before the next cycle: dropped too.
        ctx.set(dut.running, 1)
        assert _offer(ctx, dut, params, 2, 6, ctrl=1)
        await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        ctx.set(dut.running, 0)
        assert not ctx.get(dut.ctrl_valid)
        ctx.set(dut.running, 1)
        assert ctx.get(dut.ctrl_valid) and ctx.get(dut.ctrl_task) == 6

    simulate(dut, bench)
