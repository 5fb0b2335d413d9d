"""The test tools must catch what they exist to catch: each test here makes a puppet fabric
(``puppet.py``) misbehave and expects the error the tool raises (cocotb's ``expect_error``: the
test fails if the error does not come).

Run by ``tests/test_checks.py``; the parameter set arrives in ``TESSERA_PARAMS``.
"""

import json
import os

import cocotb
from cocotb.triggers import ClockCycles

from tessera.hdl.mesh import MESH_DIRECTIONS
from tessera.hdl.params import FabricParams
from tessera.hdl.wavelet import Direction
from tessera.sim.host import Host, ReplyError
from tessera.sim.streams import ClockDomain, ProtocolError, WaveletSink, always
from tessera.sim.wavelets import Wavelet, WaveletCodec

TIMEOUT = dict(timeout_time=1, timeout_unit="ms")
WEST = MESH_DIRECTIONS.index(Direction.WEST)


def params_from_env():
    return FabricParams(**json.loads(os.environ["TESSERA_PARAMS"]))


class Puppet:
    """Drives the puppet's west output, one wavelet per call."""

    def __init__(self, dut, params):
        self.dut = dut
        self.codec = WaveletCodec(params)
        dut.puppet_valid.value = 0
        dut.puppet_payload.value = 0

    def offer(self, wavelet):
        self.dut.puppet_payload.value = self.codec.pack(wavelet) << (WEST * self.codec.width)
        self.dut.puppet_valid.value = 1 << WEST

    def idle(self):
        self.dut.puppet_valid.value = 0


async def start(dut):
    """Clock and reset the puppet; returns ``(params, clock, puppet)``."""
    params = params_from_env()
    clock = ClockDomain(dut.clk).start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    return params, clock, Puppet(dut, params)


@cocotb.test(expect_error=ProtocolError, **TIMEOUT)
async def sink_catches_a_wavelet_changed_before_it_was_taken(dut):
    _, clock, puppet = await start(dut)
    WaveletSink(dut, "west_out__0", puppet.codec, clock, backpressure=always())
    puppet.offer(Wavelet(data=1, color=1))
    await ClockCycles(dut.clk, 3)
    puppet.offer(Wavelet(data=2, color=1))          # not taken, and changed
    await ClockCycles(dut.clk, 3)


@cocotb.test(expect_error=ProtocolError, **TIMEOUT)
async def sink_catches_a_wavelet_dropped_before_it_was_taken(dut):
    _, clock, puppet = await start(dut)
    WaveletSink(dut, "west_out__0", puppet.codec, clock, backpressure=always())
    puppet.offer(Wavelet(data=1, color=1))
    await ClockCycles(dut.clk, 3)
    puppet.idle()
    await ClockCycles(dut.clk, 3)


@cocotb.test(expect_error=ProtocolError, **TIMEOUT)
async def strict_sink_catches_an_offer_on_a_channel_that_is_not_ready(dut):
    # A router never offers on a channel its receiver holds not ready; a strict sink checks.
    _, clock, puppet = await start(dut)
    WaveletSink(dut, "west_out__0", puppet.codec, clock, backpressure=always(), strict=True)
    puppet.offer(Wavelet(data=1, color=1))
    await ClockCycles(dut.clk, 3)


@cocotb.test(**TIMEOUT)
async def strict_sink_takes_a_wavelet_on_a_ready_channel(dut):
    # The control for the test above: the same offer on a ready channel is taken, no error.
    _, clock, puppet = await start(dut)
    sink = WaveletSink(dut, "west_out__0", puppet.codec, clock, strict=True)
    puppet.offer(Wavelet(data=1, color=1))
    await clock.edge
    puppet.idle()
    await ClockCycles(dut.clk, 3)
    assert [w for _, w in sink.received] == [Wavelet(data=1, color=1)]


async def _status_answered_by(dut, x, y, info, words):
    """A host sends a status request to tile (0, 0); the puppet answers on west_out with a reply
    headed ``(x, y, info)`` carrying ``words``. Returns the request's task."""
    params = params_from_env()
    host = Host(dut, params, edges=["west"], watchdog=None)
    await host.reset()
    puppet = Puppet(dut, params)
    request = cocotb.start_soon(host.status((0, 0)))
    await ClockCycles(dut.clk, 10)                  # the request left by west_in
    for w in host.codec.packet(x, y, words, info=info, reply=True):
        puppet.offer(w)
        await host.clock.edge
    puppet.idle()
    await ClockCycles(dut.clk, 5)
    return request


@cocotb.test(expect_error=ReplyError, **TIMEOUT)
async def host_catches_a_reply_with_a_tag_no_request_waits_for(dut):
    await _status_answered_by(dut, -1, 0, 77, [0, 0, 0, 0])


@cocotb.test(expect_error=ReplyError, **TIMEOUT)
async def host_catches_a_reply_packet_not_addressed_to_it(dut):
    await _status_answered_by(dut, 2, 0, 0, [0, 0, 0, 0])


@cocotb.test(**TIMEOUT)
async def host_takes_the_reply_it_waits_for(dut):
    # The control: the same reply with the request's own tag (0, the first) is its answer.
    request = await _status_answered_by(dut, -1, 0, 0, [0, 5, 6, 7])
    status = await request
    assert (status["colored_count"], status["colored_checksum"], status["misroutes"]) == \
        (5, 6, 7)
