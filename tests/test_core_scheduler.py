"""The task scheduler (hdl/core/scheduler.py) against a Python model of its bits."""

import random

from tessera.hdl.core.isa import TaskEntry
from tessera.hdl.core.scheduler import TaskOp, TaskScheduler
from tessera.hdl.params import resolve_params
from tessera.sim.amaranth_sim import simulate


def test_scheduler_follows_the_task_rules_under_random_requests():
    params = resolve_params(overrides={"core_tasks": 12, "num_colors": 8})
    dut = TaskScheduler(params)
    rng = random.Random(5)
    tasks = params.core_tasks
    table = [TaskEntry(0, declared=rng.random() < 0.8, data=t < 10 and rng.random() < 0.4,
                       active=rng.random() < 0.5, blocked=rng.random() < 0.3)
             for t in range(tasks)]
    declared = [e.declared for e in table]
    is_data = [e.declared and e.data for e in table]
    active = [e.declared and e.active and not e.data for e in table]
    blocked = [e.declared and e.blocked for e in table]
    stats = {"starts": 0, "faults": 0, "data starts": 0}

    async def bench(ctx):
        for t, e in enumerate(table):
            ctx.set(dut.load_valid, 1)
            ctx.set(dut.load_task, t)
            ctx.set(dut.load_word, e.word())
            await ctx.tick()
        ctx.set(dut.load_valid, 0)
        for cycle in range(2000):
            waiting = [rng.random() < 0.3 for _ in range(params.num_colors)]
            ctx.set(dut.color_waiting, sum(b << c for c, b in enumerate(waiting)))
            runnable = [declared[t] and not blocked[t] and
                        ((is_data[t] and t < params.num_colors and waiting[t]) or
                         (not is_data[t] and active[t])) for t in range(tasks)]
            assert ctx.get(dut.runnable) == any(runnable)
            start = any(runnable) and rng.random() < 0.5
            if any(runnable):
                chosen = runnable.index(True)
                assert ctx.get(dut.next_task) == chosen
                assert ctx.get(dut.next_is_data) == is_data[chosen]
            ctx.set(dut.start, start)
            new_active, new_blocked = list(active), list(blocked)
            if start and not is_data[chosen]:
                new_active[chosen] = False
                stats["starts"] += 1
            elif start:
                stats["data starts"] += 1
            requests = []
            for i in range(3):
                valid = rng.random() < 0.3
                op = rng.choice(list(TaskOp))
                task = rng.randrange(16)
                ctx.set(dut.requests[i].valid, valid)
                ctx.set(dut.requests[i].op, op)
                ctx.set(dut.requests[i].task, task)
                requests.append((valid, op, task))
            for i, (valid, op, t) in enumerate(requests):
                known = t < tasks and declared[t]
                bad = not known or (op == TaskOp.ACTIVATE and is_data[t])
                assert (ctx.get(dut.fault) >> i) & 1 == (valid and bad)
                if valid and bad:
                    stats["faults"] += 1
                if valid and not bad:
                    if op == TaskOp.ACTIVATE:
                        new_active[t] = True
                    else:
                        new_blocked[t] = op == TaskOp.BLOCK
            active[:], blocked[:] = new_active, new_blocked
            await ctx.tick()

    simulate(dut, bench)
    assert min(stats.values()) > 50, stats
