"""Formal proofs (SymbiYosys, smtbmc) of the core's task scheduler.

The scheduler's policy is priority by id (``docs/isa.md``, "Tasks"): the proofs show, for every
state the scheduler can reach and every input, that the task it offers is runnable (declared,
not blocked, and active or with a wavelet waiting), that no lower-numbered task is runnable,
that it offers none only when none is runnable, that exactly the bad requests fault and that a
cycle of only bad requests changes nothing. Unbounded (k-induction) with invariants on the
task bits; a scheduler that ignores the blocked bit must fail the same proof.
"""

import pytest
from amaranth.hdl import Assert, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from tessera.hdl.core.scheduler import TaskOp, TaskRequestSignature, TaskScheduler
from tessera.hdl.params import resolve_params
from tessera.sim.formal import internal_signals, run_formal

STATE = ("active", "blocked")


class SchedulerHarness(wiring.Component):
    """Every input of a :class:`TaskScheduler` free; its properties asserted every cycle."""

    def __init__(self, scheduler, params):
        self._scheduler = scheduler
        self._params = params
        super().__init__({
            "load_valid": In(1), "load_task": In(6), "load_word": In(32),
            "color_waiting": In(params.num_colors),
            "requests": In(TaskRequestSignature()).array(3),
            "start": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        tasks = p.core_tasks
        sched = self._scheduler
        fragment, internal = internal_signals(sched, *STATE)
        m.submodules.scheduler = fragment
        m.d.comb += [sched.load_valid.eq(self.load_valid), sched.load_task.eq(self.load_task),
                     sched.load_word.eq(self.load_word),
                     sched.color_waiting.eq(self.color_waiting), sched.start.eq(self.start)]
        for mine, theirs in zip(self.requests, sched.requests):
            m.d.comb += [theirs.valid.eq(mine.valid), theirs.op.eq(mine.op),
                         theirs.task.eq(mine.task)]
        declared, is_data = sched.declared, sched.is_data
        active, blocked = internal["active"], internal["blocked"]

        waiting = Signal(tasks)
        m.d.comb += waiting.eq(self.color_waiting[:min(tasks, p.num_colors)])
        ready = Signal(tasks)
        m.d.comb += ready.eq(declared & ~blocked & ((is_data & waiting) | (~is_data & active)))

        # The picker: the offered task may run, none below it may, and it offers one if any.
        t = sched.next_task
        self.picks_runnable = Assert(~sched.runnable | ((t < tasks) & ready.bit_select(t, 1)),
                                     "the offered task is declared, not blocked, and ready")
        m.d.comb += self.picks_runnable
        below = Signal(tasks)
        for k in range(tasks):
            m.d.comb += below[k].eq(k < t)
        m.d.comb += [
            Assert(~sched.runnable | ~(ready & below).any(), "priority by id"),
            Assert(sched.runnable == ready.any(), "a task is offered when one is runnable"),
            Assert(~sched.runnable | (sched.next_is_data == is_data.bit_select(t, 1))),
        ]

        # Faults: exactly the requests that name an undeclared task or activate a data task.
        for i, r in enumerate(self.requests):
            known = (r.task < tasks) & declared.bit_select(r.task, 1)
            bad = ~known | ((r.op == TaskOp.ACTIVATE) & is_data.bit_select(r.task, 1))
            m.d.comb += Assert(sched.fault[i] == (r.valid & bad), f"request {i} faults")

        # A cycle with no load, no start and only faulting requests changes nothing.
        only_bad = Signal()
        m.d.comb += only_bad.eq(~self.load_valid & ~self.start & all_bad(self.requests,
                                                                          sched.fault))
        was_only_bad = Signal()
        prev = {name: Signal(tasks, name=f"prev_{name}") for name in STATE}
        m.d.sync += [was_only_bad.eq(only_bad), prev["active"].eq(active),
                     prev["blocked"].eq(blocked)]
        first = Signal()          # no previous cycle yet
        m.d.sync += first.eq(1)
        with m.If(first & was_only_bad):
            m.d.comb += [Assert(active == prev["active"], "bad requests change nothing"),
                         Assert(blocked == prev["blocked"], "bad requests change nothing")]

        # Invariants (true in every reachable state; they also close the induction): only
        # declared tasks have bits, data tasks are never active.
        m.d.comb += [
            Assert((is_data & ~declared) == 0),
            Assert((active & ~(declared & ~is_data)) == 0),
            Assert((blocked & ~declared) == 0),
        ]
        return m


def all_bad(requests, fault):
    """Every valid request faults (so none is carried out)."""
    ok = 1
    for i, r in enumerate(requests):
        ok = ok & (~r.valid | fault[i])
    return ok


class _IgnoresBlocked(TaskScheduler):
    """Broken on purpose: offers the lowest declared task that is ready, blocked or not."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        for t in reversed(range(self._params.core_tasks)):
            with m.If(self.declared[t]):
                m.d.comb += self.next_task.eq(t)
        return m


@pytest.mark.parametrize("preset", ["tiny", "ulx3s"])
def test_scheduler_picks_only_runnable_tasks_by_priority(preset, tmp_path):
    params = resolve_params(preset)
    harness = SchedulerHarness(TaskScheduler(params), params)
    result = run_formal(harness, mode="prove", depth=2, workdir=tmp_path)
    assert result.passed, result.summary()


def test_scheduler_proof_catches_a_picker_that_ignores_blocked(tmp_path):
    params = resolve_params("tiny")
    harness = SchedulerHarness(_IgnoresBlocked(params), params)
    result = run_formal(harness, mode="bmc", depth=4, workdir=tmp_path)
    assert result.status == "FAIL", result.summary()
    assert harness.picks_runnable.src_loc in result.failed_at, result.summary()
