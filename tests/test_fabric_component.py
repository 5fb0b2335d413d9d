"""The fabric as an Amaranth component (:class:`tessera.hdl.fabric.Fabric`): its ports are the
ones ``tessera generate`` lists, it works in the Amaranth simulator, and its Verilog lints.

``tests/test_generate.py`` covers the text emitter's ``tessera_fabric``; the cocotb testbenches
(``testbenches/fabric``) cover whole fabrics under Verilator.
"""

import gc
import re
import warnings
from collections import deque

import pytest
from amaranth.hdl import UnusedElaboratable, Value
from amaranth.lib.wiring import In

from tessera.hdl.fabric import FABRIC_MODULE, Fabric, fabric_ports
from tessera.hdl.link import all_channels, wavelet_channel
from tessera.hdl.mesh import MESH_DIRECTIONS, edge_length
from tessera.hdl.params import resolve_params
from tessera.hdl.tile import AgentOp, AgentStatus
from tessera.hdl.verilog_text import convert
from tessera.sim.amaranth_sim import simulate
from tessera.sim.verilator import lint
from tessera.sim.wavelets import Wavelet, WaveletCodec


def component_ports(params):
    """``{(name, direction, width)}`` of a :class:`Fabric`'s flattened ports, from its signals.

    The component is only looked at, never elaborated: its "never used" warning is collected
    here with that warning off.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        fabric = Fabric(params)
        ports = set()
        for path, member, value in fabric.signature.flatten(fabric):
            signal = Value.cast(value)
            name = "__".join(map(str, path))
            # The signal Amaranth made for the member carries the port's name.
            assert signal.name == name
            ports.add((name, "input" if member.flow == In else "output", len(signal)))
        del fabric
        gc.collect()
    return ports


@pytest.mark.parametrize("preset, rows, cols", [("default", 1, 1), ("default", 2, 3),
                                                ("tiny", 2, 2)])
def test_component_ports_are_the_listed_ports(preset, rows, cols):
    params = resolve_params(preset, overrides={"rows": rows, "cols": cols})
    listed = fabric_ports(params)
    assert [p["name"] for p in listed[:2]] == ["clk", "rst"]
    entries = [(p["name"], p["direction"], p["width"]) for p in listed[2:]]
    assert len(entries) == len(set(entries))
    assert component_ports(params) == set(entries)
    # Every boundary link, three members each, and status.
    links = 2 * sum(edge_length(params, side) for side in MESH_DIRECTIONS)
    assert len(entries) == 3 * links + 1


# --- The component in the Amaranth simulator -----------------------------------------------------

def test_write_then_read_through_a_1x2_fabric():
    """Through ``west_in__0``, a WRITE to tile (1, 0) and a READ back whose reply is addressed
    to the west edge: the request crosses tile (0, 0) eastward, the reply comes back westward
    and leaves by ``west_out__0`` with the words; nothing leaves anywhere else. Then an error
    in each tile (a write beyond the memory, a request with no fields): the fabric's ``status``
    is the OR of the tiles'."""
    params = resolve_params("tiny", overrides={"rows": 1, "cols": 2})
    codec = WaveletCodec(params)
    total = params.sram_bytes // params.word_bytes
    fabric = Fabric(params)
    words = [0x1234, 0xBEEF, 7]
    reply_header = codec.header_data(-1, 0, 5)
    requests = (codec.packet(1, 0, [10, *words], info=AgentOp.WRITE.value)
                + codec.packet(1, 0, [10, len(words), reply_header], info=AgentOp.READ.value))
    out_links = {name: getattr(fabric, name) for name in fabric.signature.members
                 if "_out__" in name}

    async def testbench(ctx):
        for link in out_links.values():
            ctx.set(link.ready, all_channels(params))
        inp = fabric.west_in__0
        to_send = deque(requests)
        received = {name: [] for name in out_links}

        async def cycle():
            if to_send:
                w = to_send[0]
                ctx.set(inp.valid, 1)
                ctx.set(inp.payload.as_value(), codec.pack(w))
                channel = wavelet_channel(params, addressed=w.addressed, ctrl=w.ctrl,
                                          color=w.color)
                taken = ctx.get(inp.ready) >> channel & 1
            else:
                ctx.set(inp.valid, 0)
                taken = False
            # Every out link is ready on every channel: each valid is a transfer.
            for name, link in out_links.items():
                if ctx.get(link.valid):
                    received[name].append(codec.unpack(ctx.get(link.payload.as_value())))
            await ctx.tick()
            if taken:
                to_send.popleft()

        for _ in range(300):
            if len(received["west_out__0"]) == 2 + len(words):
                break
            await cycle()
        expected = [Wavelet(data=d, ctrl=True, addressed=True, last=(k == len(words) + 1))
                    for k, d in enumerate([reply_header, 0, *words])]
        assert received["west_out__0"] == expected
        assert all(received[name] == [] for name in out_links if name != "west_out__0")
        assert ctx.get(fabric.status) == 0

        # A flag from each tile: both show.
        to_send.extend(codec.packet(0, 0, [total, 1], info=AgentOp.WRITE.value)
                       + codec.packet(1, 0, [], info=AgentOp.WRITE.value))
        for _ in range(30):
            await cycle()
        assert not to_send
        assert AgentStatus(ctx.get(fabric.status)) == \
            AgentStatus.WRITE_RANGE | AgentStatus.MALFORMED
    simulate(fabric, testbench)


# --- The component's Verilog ---------------------------------------------------------------------

def test_component_verilog_lints_with_the_listed_ports(tmp_path):
    params = resolve_params("tiny")        # 2 x 2
    text = convert(Fabric(params), name=FABRIC_MODULE)
    path = tmp_path / f"{FABRIC_MODULE}.v"
    path.write_text(text)
    ok, messages = lint([path], top=FABRIC_MODULE)
    assert ok, messages
    header = text[text.index(f"module {FABRIC_MODULE}("):].split(");", 1)[0]
    assert set(re.findall(r"\w+", header.split("(", 1)[1])) == \
        {p["name"] for p in fabric_ports(params)}
