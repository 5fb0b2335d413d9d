"""The scoreboard every testbench relies on must raise on each way traffic can go wrong: a lost,
an extra (duplicated), a reordered or a misdelivered wavelet, and a packet interleaved with
another on one destination. Pure Python: no simulator."""

import pytest

from tessera.hdl.params import resolve_params
from tessera.hdl.wavelet import Direction
from tessera.sim.streams import Scoreboard, ScoreboardError, TagCodec
from tessera.sim.wavelets import WaveletCodec

N, E, S, W = Direction.NORTH, Direction.EAST, Direction.SOUTH, Direction.WEST


@pytest.fixture
def tags():
    return TagCodec(WaveletCodec(resolve_params("default")), source_bits=4)


def board(tags):
    return Scoreboard(tags, sources=list(Direction))


def test_traffic_as_expected_drains(tags):
    sb = board(tags)
    a, b = tags.colored(N, 1), tags.colored(N, 1)
    c = tags.colored(W, 2)
    for source, w in ((N, a), (N, b), (W, c)):
        sb.expect(source, S, w)
    # Different classes (colors) may overtake each other; each class keeps its order.
    for w in (c, a, b):
        sb.receive(S, w)
    sb.check_drained()
    assert sb.received == 3


def test_a_lost_wavelet_is_named_when_draining(tags):
    sb = board(tags)
    a, b = tags.colored(N, 1), tags.colored(N, 1)
    sb.expect(N, S, a)
    sb.expect(N, S, b)
    sb.receive(S, a)
    with pytest.raises(ScoreboardError, match=r"not drained: lost NORTH -> SOUTH: 1 of class 1"):
        sb.check_drained()


def test_a_duplicated_wavelet_is_extra(tags):
    sb = board(tags)
    a = tags.colored(N, 1)
    sb.expect(N, S, a)
    sb.receive(S, a)
    with pytest.raises(ScoreboardError, match=r"^extra at SOUTH: .* from NORTH was not expected"):
        sb.receive(S, a)


def test_a_reordered_wavelet_is_named(tags):
    sb = board(tags)
    a, b = tags.colored(N, 3), tags.colored(N, 3)
    sb.expect(N, S, a)
    sb.expect(N, S, b)
    with pytest.raises(ScoreboardError, match=r"^reordered at SOUTH: .* arrived before"):
        sb.receive(S, b)


def test_a_wavelet_at_the_wrong_destination_is_extra(tags):
    sb = board(tags)
    a = tags.colored(N, 1)
    sb.expect(N, S, a)
    with pytest.raises(ScoreboardError, match=r"^extra at EAST: "):
        sb.receive(E, a)


def test_a_corrupted_wavelet_is_unexpected(tags):
    sb = board(tags)
    a = tags.colored(N, 1)
    sb.expect(N, S, a)
    bad = type(a)(data=a.data ^ 1, color=a.color)
    with pytest.raises(ScoreboardError, match=r"^unexpected at SOUTH: .* expected next"):
        sb.receive(S, bad)


def test_interleaved_packets_are_refused(tags):
    sb = board(tags)
    first = tags.packet(N, 1, 1, 2)
    second = tags.packet(W, 1, 1, 2)
    for w in first:
        sb.expect(N, Direction.RAMP, w)
    for w in second:
        sb.expect(W, Direction.RAMP, w)
    sb.receive(Direction.RAMP, first[0])
    with pytest.raises(ScoreboardError, match=r"^interleaved at RAMP: .* inside the request "
                                              r"packet from NORTH"):
        sb.receive(Direction.RAMP, second[0])


def test_a_reply_and_a_colored_wavelet_may_come_inside_a_request_packet(tags):
    # Separate channels: only a packet of the same channel may not interleave.
    sb = board(tags)
    request = tags.packet(N, 1, 1, 2)
    reply = tags.packet(W, 1, 1, 1, reply=True)
    colored = tags.colored(E, 3)
    for w in request:
        sb.expect(N, Direction.RAMP, w)
    for w in reply:
        sb.expect(W, Direction.RAMP, w)
    sb.expect(E, Direction.RAMP, colored)
    sb.receive(Direction.RAMP, request[0])
    sb.receive(Direction.RAMP, reply[0])
    sb.receive(Direction.RAMP, colored)
    sb.receive(Direction.RAMP, request[1])
    sb.receive(Direction.RAMP, reply[1])
    sb.receive(Direction.RAMP, request[2])
    sb.check_drained()


def test_a_packet_left_open_is_named_when_draining(tags):
    sb = board(tags)
    packet = tags.packet(N, 1, 1, 2)
    sb.expect(N, Direction.RAMP, packet[0])
    sb.receive(Direction.RAMP, packet[0])
    with pytest.raises(ScoreboardError, match=r"packets left open at RAMP \(a request from "
                                              r"NORTH\)"):
        sb.check_drained()
