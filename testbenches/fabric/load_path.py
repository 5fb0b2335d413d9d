"""cocotb module of the load-path benchmark (``sim/bench/load.py``): fill every PE's memory.

Settings arrive in the environment: ``TESSERA_PARAMS`` (the parameter set as JSON),
``TESSERA_EDGES`` (``west`` or ``all``) and ``TESSERA_RESULT`` (where to write the figures as
JSON). One WRITE request per PE carries its whole memory; all are issued at once, each through
the host's entry port for that PE. The fill time runs from the first wavelet offered to the
cycle the edge has taken the last one (writes are posted; a read-back of the last word of every
PE afterwards checks they landed and is not timed).
"""

import json
import os

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

from tessera.hdl.params import FabricParams
from tessera.sim.host import SIDES, Host, gather

PERIOD_NS = 10


@cocotb.test()
async def fill_every_pe(dut):
    params = FabricParams(**json.loads(os.environ["TESSERA_PARAMS"]))
    edges = ["west"] if os.environ["TESSERA_EDGES"] == "west" else list(SIDES)
    host = Host(dut, params, edges=edges, period_ns=PERIOD_NS)
    await host.reset()
    words = host.total_words

    def word(pe, addr):
        return (pe[1] * params.cols + pe[0]) * words + addr & host.word_mask

    await RisingEdge(dut.clk)
    start = get_sim_time("ns")
    await gather(*(host.write(pe, 0, [word(pe, a) for a in range(words)]) for pe in host.tiles))
    cycles = round((get_sim_time("ns") - start) / PERIOD_NS)
    ports = {str(host.entry_port(pe)) for pe in host.tiles}

    # Not timed: every PE's first and last word arrived.
    for pe in host.tiles:
        assert await host.read(pe, words - 1, 1) == [word(pe, words - 1)], pe
        assert await host.read(pe, 0, 1) == [word(pe, 0)], pe
    assert host.fabric_status() == 0

    wavelets = len(host.tiles) * (words + 2)       # head + address + the words, per PE
    per_port = {}
    for pe in host.tiles:
        per_port[str(host.entry_port(pe))] = per_port.get(str(host.entry_port(pe)), 0) + words + 2
    with open(os.environ["TESSERA_RESULT"], "w") as f:
        json.dump({"edges": os.environ["TESSERA_EDGES"], "cycles": cycles,
                   "words": len(host.tiles) * words, "wavelets": wavelets,
                   "ports_used": len(ports), "ports_attached": len(host.edges),
                   # The edge can take one wavelet per port per cycle: the best any schedule can
                   # do over the ports attached, and over the ports this host's choice uses.
                   "bound_attached": -(-wavelets // len(host.edges)),
                   "bound_busiest_port": max(per_port.values())}, f)
