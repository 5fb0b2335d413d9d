"""The task scheduler: the task table's state, and which task runs next.

Each task has four bits: *declared*, *data* (bound to the color of its id), *active* and
*blocked*, loaded from the task table when the core starts (``docs/isa.md``). A local task is
ready when active, a data task when its color's queue holds a wavelet; a task runs when ready
and not blocked. When the core has no task running it asks for one and gets the
lowest-numbered runnable task (priority by id).

Activations come from three places in any cycle: the running task (``activate``, ``block``,
``unblock``), a vector instruction's completion, and a control wavelet. Naming a task that is
not declared, or activating a data task, is the TASK fault; a request that faults changes
nothing.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["TaskOp", "TaskScheduler", "TaskRequestSignature"]


class TaskOp(enum.Enum, shape=2):
    ACTIVATE = 0
    BLOCK = 1
    UNBLOCK = 2


class TaskRequestSignature(wiring.Signature):
    """One request to the scheduler: ``valid``, ``op``, ``task``."""

    def __init__(self):
        super().__init__({"valid": Out(1), "op": Out(TaskOp), "task": Out(6)})


class TaskScheduler(wiring.Component):
    """Task state and the choice of the next task.

    Members
    -------
    load_valid, load_task, load_word : ``In``
        Write task ``load_task``'s state from its task-table word (bits 16 declared, 17 data,
        18 active, 19 blocked): how the core starts.
    color_waiting : ``In(num_colors)``
        Bit ``c``: color ``c``'s input queue holds a wavelet.
    requests : ``In(TaskRequestSignature()).array(3)``
        0: the running task's, 1: a vector completion's, 2: a control wavelet's.
    fault : ``Out(3)``
        Bit ``i``: request ``i`` names an undeclared task or activates a data task (and was
        not carried out).
    runnable : ``Out(1)``, ``next_task`` : ``Out(6)``, ``next_is_data`` : ``Out(1)``
        The lowest-numbered task that may run now.
    start : ``In(1)``
        The core starts ``next_task`` at the end of this cycle: a local task's *active*
        clears (an activation in the same cycle sets it again).
    declared, is_data : ``Out(core_tasks)``
        The tasks' bits (the scalar unit checks an asynchronous completion's task at issue).
    """

    def __init__(self, params):
        self._params = params
        super().__init__({
            "load_valid": In(1),
            "load_task": In(6),
            "load_word": In(32),
            "color_waiting": In(params.num_colors),
            "requests": In(TaskRequestSignature()).array(3),
            "fault": Out(3),
            "runnable": Out(1),
            "next_task": Out(6),
            "next_is_data": Out(1),
            "start": In(1),
            "declared": Out(params.core_tasks),
            "is_data": Out(params.core_tasks),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        tasks = p.core_tasks
        declared = Signal(tasks)
        is_data = Signal(tasks)
        active = Signal(tasks)
        blocked = Signal(tasks)
        m.d.comb += [self.declared.eq(declared), self.is_data.eq(is_data)]

        # Runnable tasks and the lowest of them.
        waiting = Signal(tasks)
        m.d.comb += waiting.eq(self.color_waiting[:min(tasks, p.num_colors)])
        ready = Signal(tasks)
        m.d.comb += ready.eq(declared & ~blocked & ((is_data & waiting) | (~is_data & active)))
        m.d.comb += self.runnable.eq(ready.any())
        for t in reversed(range(tasks)):
            with m.If(ready[t]):
                m.d.comb += [self.next_task.eq(t), self.next_is_data.eq(is_data[t])]

        next_active = Signal(tasks)
        next_blocked = Signal(tasks)
        m.d.comb += [next_active.eq(active), next_blocked.eq(blocked)]
        with m.If(self.start & ~self.next_is_data):
            m.d.comb += next_active.bit_select(self.next_task, 1).eq(0)
        for i, request in enumerate(self.requests):
            t = request.task
            known = Signal(name=f"known_{i}")
            m.d.comb += known.eq((t < tasks) & declared.bit_select(t, 1))
            bad = Signal(name=f"bad_{i}")
            with m.Switch(request.op):
                with m.Case(TaskOp.ACTIVATE):
                    m.d.comb += bad.eq(~known | is_data.bit_select(t, 1))
                with m.Default():
                    m.d.comb += bad.eq(~known)
            m.d.comb += self.fault[i].eq(request.valid & bad)
            with m.If(request.valid & ~bad):
                with m.Switch(request.op):
                    with m.Case(TaskOp.ACTIVATE):
                        m.d.comb += next_active.bit_select(t, 1).eq(1)
                    with m.Case(TaskOp.BLOCK):
                        m.d.comb += next_blocked.bit_select(t, 1).eq(1)
                    with m.Case(TaskOp.UNBLOCK):
                        m.d.comb += next_blocked.bit_select(t, 1).eq(0)
        m.d.sync += [active.eq(next_active), blocked.eq(next_blocked)]

        with m.If(self.load_valid):
            word = self.load_word
            t = self.load_task
            m.d.sync += [
                declared.bit_select(t, 1).eq(word[16]),
                is_data.bit_select(t, 1).eq(word[16] & word[17]),
                active.bit_select(t, 1).eq(word[16] & word[18] & ~word[17]),
                blocked.bit_select(t, 1).eq(word[16] & word[19]),
            ]
        return m
