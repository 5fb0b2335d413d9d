"""The tile memory (``hdl/sram.py``) in the Amaranth simulator, and once on ECP5.

Every memory starts zeroed (the simulator's initial contents); words are written with
:func:`pattern`, distinct for every address of a memory, so a word read from the wrong place
never passes by accident.
"""

from types import SimpleNamespace

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from tessera.hdl.params import resolve_params
from tessera.hdl.sram import (BankPortSignature, MemoryPortSignature, TileMemory, word_address,
                               word_location)
from tessera.sim.amaranth_sim import refused, simulate

DEFAULT = resolve_params("default")
MEMORIES = {
    # 256 x 16 bit in one bank.
    "tiny": resolve_params("tiny"),
    # 2 banks of 512 x 32 bit.
    "default": DEFAULT,
    # 4 banks of 3 rows: a bank depth and a total that are not powers of two, as in wse.
    "four_banks": DEFAULT.replace(sram_bytes=48, sram_banks=4),
    # 8 banks of 6 rows, the wse preset's bank count (its 1536 rows would only be slower).
    "eight_banks": DEFAULT.replace(sram_bytes=192, sram_banks=8),
}


def pattern(addr, width, salt=0):
    """A word for ``addr``: an odd multiplier is a bijection modulo ``2**width``, so distinct
    addresses get distinct words (for a given ``salt``), and none is the address itself."""
    return ((addr + salt) * 0x9E3779B1 + 0x5A5A5A5B) % 2 ** width


def inspected(dut):
    """``dut``, elaborated once: a test that only looks at its interface would otherwise leave
    it "created but never used" (and the elaboration itself must work)."""
    Fragment.get(dut, platform=None)
    return dut


def idle(ctx, dut):
    """Agent and every lane request nothing."""
    for name in ("read", "write"):
        ctx.set(getattr(dut.agent, name), 0)
    for lane in dut.lanes:
        ctx.set(lane.read, 0)
        ctx.set(lane.write, 0)


async def agent_write(ctx, dut, addr, value):
    ctx.set(dut.agent.addr, addr)
    ctx.set(dut.agent.wdata, value)
    ctx.set(dut.agent.write, 1)
    await ctx.tick()
    ctx.set(dut.agent.write, 0)


async def agent_read(ctx, dut, addr):
    ctx.set(dut.agent.addr, addr)
    ctx.set(dut.agent.read, 1)
    await ctx.tick()
    ctx.set(dut.agent.read, 0)
    return ctx.get(dut.agent.rdata)


async def fill(ctx, dut, salt=0):
    """Write :func:`pattern` to every word through the agent, one word per cycle."""
    ctx.set(dut.agent.write, 1)
    for addr in range(dut.total_words):
        ctx.set(dut.agent.addr, addr)
        ctx.set(dut.agent.wdata, pattern(addr, dut.data_width, salt))
        await ctx.tick()
    ctx.set(dut.agent.write, 0)


# --- parameters and interface --------------------------------------------------------------------

def memory_params(**changes):
    values = dict(data_width=32, sram_bytes=4096, sram_banks=2)
    values.update(changes)
    return SimpleNamespace(**values)


@pytest.mark.parametrize("exception, message, params", [
    (ValueError, r"sram_banks must be a power of two, not 3", memory_params(sram_banks=3)),
    (ValueError, r"sram_banks must be a power of two, not 6", memory_params(sram_banks=6)),
    (ValueError, r"sram_bytes must be a multiple of sram_banks \* data_width/8 = 8, not 100",
     memory_params(sram_bytes=100)),
    (ValueError, r"data_width must be a whole number of bytes \(a multiple of 8\), not 12",
     memory_params(data_width=12)),
    (ValueError, r"sram_bytes must be a positive integer, not 0", memory_params(sram_bytes=0)),
    (ValueError, r"sram_banks must be a positive integer, not -2", memory_params(sram_banks=-2)),
    (TypeError, r"sram_banks must be an integer, not '2' \(str\)", memory_params(sram_banks="2")),
    (TypeError, r"data_width must be an integer, not True \(bool\)",
     memory_params(data_width=True)),
    (TypeError, r"params must have a data_width attribute \(a FabricParams\), not None", None),
])
def test_parameters_are_checked(exception, message, params):
    refused(exception, f"^{message}$", lambda: TileMemory(params))


@pytest.mark.parametrize("preset, banks, bank_words, total_words", [
    ("tiny", 1, 128, 128), ("default", 2, 512, 1024), ("wse", 8, 1536, 12288),
])
def test_organisation_of_the_presets(preset, banks, bank_words, total_words):
    dut = inspected(TileMemory(resolve_params(preset)))
    assert (dut.banks, dut.bank_words, dut.total_words) == (banks, bank_words, total_words)
    assert dut.bank_words == resolve_params(preset).bank_words


def test_signature_members():
    dut = inspected(TileMemory(MEMORIES["four_banks"]))
    members = dut.signature.members
    assert set(members) == {"agent", "lanes"}
    agent = members["agent"]
    assert agent.flow.name == "In"
    # Unflipped, the agent port as the agent sees it: requests out, read data in.
    port = agent.signature.flip()
    assert port == MemoryPortSignature(data_width=32, total_words=12)
    assert {name: (m.flow.name, m.shape) for name, m in port.members.items()} == {
        "addr": ("Out", range(12)), "read": ("Out", 1), "write": ("Out", 1),
        "wdata": ("Out", 32), "rdata": ("In", 32)}
    lanes = members["lanes"]
    assert lanes.flow.name == "In" and lanes.dimensions == (4,)
    # The member is the flipped signature; unflipped, it is the lane as the core sees it:
    # requests out, data and grants in.
    lane = lanes.signature.flip()
    assert lane == BankPortSignature(data_width=32, bank_words=3)
    assert {name: m.flow.name for name, m in lane.members.items()} == {
        "read": "Out", "read_row": "Out", "rdata": "In", "read_grant": "In",
        "write": "Out", "write_row": "Out", "wdata": "Out", "write_mask": "Out",
        "write_grant": "In"}


def test_a_core_connects_to_the_lanes():
    # What the compute core will do: one Out(BankPortSignature) per bank, connected by name.
    params = MEMORIES["four_banks"]

    class Core(wiring.Component):
        def __init__(self):
            super().__init__({"lanes": Out(BankPortSignature(
                data_width=params.data_width, bank_words=params.bank_words)).array(4)})

        def elaborate(self, platform):
            return Module()

    m = Module()
    m.submodules.memory = memory = TileMemory(params)
    m.submodules.core = core = Core()
    for k in range(memory.banks):
        wiring.connect(m, core.lanes[k], memory.lanes[k])
    Fragment.get(m, platform=None)
    assert hash(BankPortSignature(data_width=32, bank_words=3)) == hash(
        memory.lanes[0].signature.flip())


def test_word_location_is_interleaved():
    assert [word_location(a, 4) for a in range(6)] == [
        (0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1)]
    assert all(word_address(*word_location(a, 8), 8) == a for a in range(100))
    dut = inspected(TileMemory(MEMORIES["four_banks"]))
    assert dut.location(11) == (3, 2)
    refused(ValueError, r"^Word address must be in range\(0, 12\), not 12$",
            lambda: dut.location(12))


# --- the agent port -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny", "default", "four_banks"])
def test_every_word_written_then_read_back_to_back(name):
    dut = TileMemory(MEMORIES[name])

    async def testbench(ctx):
        await fill(ctx, dut)
        # One read per cycle: each word arrives in the cycle after its address.
        ctx.set(dut.agent.read, 1)
        for addr in range(dut.total_words):
            ctx.set(dut.agent.addr, addr)
            await ctx.tick()
            assert ctx.get(dut.agent.rdata) == pattern(addr, dut.data_width), f"word {addr}"
        # Overwrite everything with other words, read again, backwards this time.
        ctx.set(dut.agent.read, 0)
        await fill(ctx, dut, salt=7)
        ctx.set(dut.agent.read, 1)
        for addr in reversed(range(dut.total_words)):
            ctx.set(dut.agent.addr, addr)
            await ctx.tick()
            assert ctx.get(dut.agent.rdata) == pattern(addr, dut.data_width, 7), f"word {addr}"
    simulate(dut, testbench)


@pytest.mark.parametrize("name", ["tiny", "default", "four_banks"])
def test_first_and_last_word(name):
    dut = TileMemory(MEMORIES[name])
    last = dut.total_words - 1
    first_word, last_word = 2 ** dut.data_width - 1, 0xA5A5A5A5 % 2 ** dut.data_width

    async def testbench(ctx):
        await agent_write(ctx, dut, 0, first_word)
        await agent_write(ctx, dut, last, last_word)
        assert await agent_read(ctx, dut, 0) == first_word
        assert await agent_read(ctx, dut, last) == last_word
        # Their neighbours are untouched.
        assert await agent_read(ctx, dut, 1) == 0
        assert await agent_read(ctx, dut, last - 1) == 0
    simulate(dut, testbench)


def test_read_latency_is_exactly_one_cycle():
    dut = TileMemory(DEFAULT)

    async def testbench(ctx):
        await agent_write(ctx, dut, 5, 0x55)
        await agent_write(ctx, dut, 6, 0x66)
        assert await agent_read(ctx, dut, 5) == 0x55
        # Cycle t: ask for word 6; rdata still shows the previous read (no combinational path).
        ctx.set(dut.agent.addr, 6)
        ctx.set(dut.agent.read, 1)
        assert ctx.get(dut.agent.rdata) == 0x55
        await ctx.tick()
        # Cycle t + 1: word 6.
        ctx.set(dut.agent.read, 0)
        ctx.set(dut.agent.addr, 5)
        assert ctx.get(dut.agent.rdata) == 0x66
        # Without a new read it holds; changing addr alone reads nothing.
        await ctx.tick()
        assert ctx.get(dut.agent.rdata) == 0x66

        # The same through a lane: word 6 is row 3 of bank 0.
        lane = dut.lanes[0]
        ctx.set(lane.read_row, 3)
        ctx.set(lane.read, 1)
        await ctx.tick()
        ctx.set(lane.read, 0)
        ctx.set(lane.read_row, 2)           # word 4, still zero
        assert ctx.get(lane.rdata) == 0x66
        ctx.set(lane.read, 1)
        assert ctx.get(lane.rdata) == 0x66, "not before the clock edge"
        await ctx.tick()
        assert ctx.get(lane.rdata) == 0
    simulate(dut, testbench)


def test_write_is_seen_by_a_read_in_the_same_cycle_and_after():
    dut = TileMemory(DEFAULT)

    async def testbench(ctx):
        await agent_write(ctx, dut, 3, 0x1111)
        # Write and read word 3 in one cycle: the read returns the new word.
        ctx.set(dut.agent.addr, 3)
        ctx.set(dut.agent.wdata, 0x2222)
        ctx.set(dut.agent.write, 1)
        ctx.set(dut.agent.read, 1)
        await ctx.tick()
        idle(ctx, dut)
        assert ctx.get(dut.agent.rdata) == 0x2222
        assert await agent_read(ctx, dut, 3) == 0x2222
    simulate(dut, testbench)


def test_out_of_range_writes_are_ignored():
    # 12 words: the 4-bit address field also names 12..15, which are rows 3 of banks 0..3 and
    # do not exist.
    dut = TileMemory(MEMORIES["four_banks"])

    async def testbench(ctx):
        await fill(ctx, dut)
        for addr in range(12, 16):
            await agent_write(ctx, dut, addr, 0xDEAD)
        for addr in range(dut.total_words):
            assert await agent_read(ctx, dut, addr) == pattern(addr, 32), f"word {addr}"
    simulate(dut, testbench)


# --- the lanes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["default", "four_banks", "eight_banks"])
def test_word_a_lives_in_bank_a_mod_banks(name):
    dut = TileMemory(MEMORIES[name])
    banks = dut.banks

    async def testbench(ctx):
        await fill(ctx, dut)
        # Every lane reads the same row in one cycle: row r of bank k is word r * banks + k.
        for row in range(dut.bank_words):
            for lane in dut.lanes:
                ctx.set(lane.read_row, row)
                ctx.set(lane.read, 1)
            await ctx.tick()
            got = [ctx.get(lane.rdata) for lane in dut.lanes]
            assert got == [pattern(row * banks + k, 32) for k in range(banks)], f"row {row}"
        idle(ctx, dut)

        # And the other way: words written through the lanes, read through the agent.
        for row in range(dut.bank_words):
            for k, lane in enumerate(dut.lanes):
                ctx.set(lane.write_row, row)
                ctx.set(lane.wdata, pattern(row * banks + k, 32, salt=3))
                ctx.set(lane.write_mask, 0b1111)
                ctx.set(lane.write, 1)
            await ctx.tick()
        idle(ctx, dut)
        for addr in range(dut.total_words):
            assert await agent_read(ctx, dut, addr) == pattern(addr, 32, salt=3), f"word {addr}"
    simulate(dut, testbench)


@pytest.mark.parametrize("name", ["default", "four_banks", "eight_banks"])
def test_lanes_stream_banks_consecutive_words_per_cycle(name):
    # A unit-stride vector from any start: cycle i asks for words i .. i + banks - 1, one per
    # lane (each in its own bank), and gets all of them in cycle i + 1, back to back.
    dut = TileMemory(MEMORIES[name])
    banks = dut.banks

    async def testbench(ctx):
        await fill(ctx, dut)
        for start in range(dut.total_words - banks + 1):
            window = {}
            for addr in range(start, start + banks):
                bank, row = word_location(addr, banks)
                window[bank] = addr
                ctx.set(dut.lanes[bank].read_row, row)
                ctx.set(dut.lanes[bank].read, 1)
            assert sorted(window) == list(range(banks)), "consecutive words, distinct banks"
            assert all(ctx.get(lane.read_grant) for lane in dut.lanes)
            await ctx.tick()
            got = {k: ctx.get(dut.lanes[k].rdata) for k in range(banks)}
            assert got == {k: pattern(a, 32) for k, a in window.items()}, f"start {start}"
    simulate(dut, testbench)


def test_agent_read_wins_a_bank_and_the_lane_retries():
    dut = TileMemory(MEMORIES["four_banks"])

    async def testbench(ctx):
        await fill(ctx, dut)
        for k, lane in enumerate(dut.lanes):
            ctx.set(lane.read_row, 2)              # words 8 .. 11
            ctx.set(lane.read, 1)
        ctx.set(dut.agent.addr, 5)                       # bank 1, row 1
        ctx.set(dut.agent.read, 1)
        assert [ctx.get(lane.read_grant) for lane in dut.lanes] == [1, 0, 1, 1]
        assert [ctx.get(lane.write_grant) for lane in dut.lanes] == [1, 1, 1, 1], \
            "a read takes only the read port"
        await ctx.tick()
        assert ctx.get(dut.agent.rdata) == pattern(5, 32), "the agent got its word"
        assert [ctx.get(dut.lanes[k].rdata) for k in (0, 2, 3)] == [
            pattern(8, 32), pattern(10, 32), pattern(11, 32)], "the other lanes got theirs"
        assert ctx.get(dut.lanes[1].rdata) == pattern(5, 32), "lane 1's read was not taken"
        # Lane 1 retries with the agent gone.
        ctx.set(dut.agent.read, 0)
        assert ctx.get(dut.lanes[1].read_grant) == 1
        await ctx.tick()
        assert ctx.get(dut.lanes[1].rdata) == pattern(9, 32)
    simulate(dut, testbench)


def test_agent_write_wins_a_bank():
    dut = TileMemory(MEMORIES["four_banks"])

    async def testbench(ctx):
        for k, lane in enumerate(dut.lanes):
            ctx.set(lane.write_row, 0)
            ctx.set(lane.wdata, 0xB0 + k)
            ctx.set(lane.write_mask, 0b1111)
            ctx.set(lane.write, 1)
        ctx.set(dut.agent.addr, 6)                       # bank 2, row 1
        ctx.set(dut.agent.wdata, 0xA6)
        ctx.set(dut.agent.write, 1)
        assert [ctx.get(lane.write_grant) for lane in dut.lanes] == [1, 1, 0, 1]
        assert [ctx.get(lane.read_grant) for lane in dut.lanes] == [1, 1, 1, 1], \
            "a write takes only the write port"
        await ctx.tick()
        idle(ctx, dut)
        got = [await agent_read(ctx, dut, addr) for addr in range(8)]
        assert got == [0xB0, 0xB1, 0, 0xB3, 0, 0, 0xA6, 0], "lane 2's write was not taken"
    simulate(dut, testbench)


def test_grants_depend_only_on_the_agent():
    dut = TileMemory(MEMORIES["four_banks"])

    async def testbench(ctx):
        # No lane requests anything: the grants still say which ports the agent holds.
        assert [ctx.get(lane.read_grant) for lane in dut.lanes] == [1, 1, 1, 1]
        assert [ctx.get(lane.write_grant) for lane in dut.lanes] == [1, 1, 1, 1]
        ctx.set(dut.agent.addr, 7)                       # bank 3
        ctx.set(dut.agent.read, 1)
        ctx.set(dut.agent.write, 1)
        assert [ctx.get(lane.read_grant) for lane in dut.lanes] == [1, 1, 1, 0]
        assert [ctx.get(lane.write_grant) for lane in dut.lanes] == [1, 1, 1, 0]
        # An agent write beyond the memory takes no bank's write port.
        ctx.set(dut.agent.addr, 15)
        ctx.set(dut.agent.read, 0)
        assert [ctx.get(lane.write_grant) for lane in dut.lanes] == [1, 1, 1, 1]
    simulate(dut, testbench)


def test_agent_and_lane_share_a_bank_on_different_ports():
    # The bank is simple-dual-port: the agent's read and a lane's write (or the other way
    # round) both go through in one cycle; a read of the row being written gets the new word.
    dut = TileMemory(MEMORIES["four_banks"])
    lane = dut.lanes[1]

    async def testbench(ctx):
        await fill(ctx, dut)
        ctx.set(dut.agent.addr, 5)                       # bank 1, row 1
        ctx.set(dut.agent.read, 1)
        ctx.set(lane.write_row, 2)                 # word 9
        ctx.set(lane.wdata, 0x99)
        ctx.set(lane.write_mask, 0b1111)
        ctx.set(lane.write, 1)
        assert ctx.get(lane.write_grant) == 1
        await ctx.tick()
        idle(ctx, dut)
        assert ctx.get(dut.agent.rdata) == pattern(5, 32)
        assert await agent_read(ctx, dut, 9) == 0x99

        ctx.set(dut.agent.addr, 5)
        ctx.set(dut.agent.wdata, 0x55)
        ctx.set(dut.agent.write, 1)
        ctx.set(lane.read_row, 1)                  # word 5, being written
        ctx.set(lane.read, 1)
        assert ctx.get(lane.read_grant) == 1
        await ctx.tick()
        idle(ctx, dut)
        assert ctx.get(lane.rdata) == 0x55
    simulate(dut, testbench)


# --- ECP5 ----------------------------------------------------------------------------------------

def test_a_lane_writes_only_the_bytes_of_its_mask():
    dut = TileMemory(MEMORIES["four_banks"])
    lane = dut.lanes[2]

    async def testbench(ctx):
        await agent_write(ctx, dut, 6, 0x11223344)   # bank 2, row 1
        for mask, word, want in [(0b0001, 0xAAAAAAAA, 0x112233AA),
                                 (0b1100, 0xBBBBBBBB, 0xBBBB33AA),
                                 (0b0000, 0xCCCCCCCC, 0xBBBB33AA)]:
            ctx.set(lane.write_row, 1)
            ctx.set(lane.wdata, word)
            ctx.set(lane.write_mask, mask)
            ctx.set(lane.write, 1)
            await ctx.tick()
            ctx.set(lane.write, 0)
            assert await agent_read(ctx, dut, 6) == want
    simulate(dut, testbench)


def test_registered_boundary_adds_one_cycle_each_way():
    # The wrapper that sim/bench/sram.py times: a register on every port bit, nothing else.
    from tessera.sim.bench.sram import RegisteredBoundary
    dut = RegisteredBoundary(TileMemory(MEMORIES["four_banks"]))

    async def testbench(ctx):
        await agent_write(ctx, dut, 6, 0x66)
        await ctx.tick()                           # the write reaches the memory
        ctx.set(dut.agent.addr, 6)
        ctx.set(dut.agent.read, 1)
        await ctx.tick()
        ctx.set(dut.agent.read, 0)
        await ctx.tick()
        assert ctx.get(dut.agent.rdata) == 0, "not after two cycles"
        await ctx.tick()
        assert ctx.get(dut.agent.rdata) == 0x66, "after three: in, memory, out"
        assert [ctx.get(lane.read_grant) for lane in dut.lanes] == [1, 1, 1, 1]
    simulate(dut, testbench)


@pytest.mark.slow
def test_default_memory_maps_to_block_ram_on_ecp5(tmp_path):
    from tessera.sim.fpga import synth_ecp5
    dut = TileMemory(DEFAULT)
    figures = synth_ecp5(dut, name="tessera_tile_memory", build_dir=tmp_path)
    # 512 x 32 bits per bank fits one DP16KD (512 x 36); each bank is its own block.
    assert figures["dp16kd"] >= dut.banks > 0
    assert figures["dpr16x4"] == 0, "no bank may fall back to LUT RAM"
    assert figures["luts"].get("ram", 0) == 0 and figures["luts"].get("ramw", 0) == 0
