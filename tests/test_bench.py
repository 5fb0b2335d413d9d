"""Smoke tests of the benchmarks: tiny runs whose figures must still make structural sense.

The quick tests run the router harness in Amaranth's simulator and the command line; the slow
ones build the Verilator models (cocotb and C++ driver) and check that all three simulators
count exactly the same wavelets, and place one tiny router for ECP5.
"""

import json

import pytest

from tessera.hdl.params import resolve_params
from tessera.hdl.wavelet import NUM_PORTS, Direction
from tessera.sim.bench.router import (TRAFFIC_PATTERNS, bench_router, format_router_report,
                                      router_plan)
from tessera.hdl.link import num_channels
from tessera.sim.fpga import bench_fpga, format_fpga_report, parse_nextpnr_log
from tessera.sim.runner import BUILD_ROOT

ALL_OUTPUTS = [1.0] * NUM_PORTS


def check_router_figures(sim, config):
    """What every simulator must report for the router, whatever the window length."""
    assert sim["latency"] == [1] * NUM_PORTS
    assert sim["latency_stray_transfers"] == [0] * NUM_PORTS
    patterns = sim["patterns"]
    for name, p in patterns.items():
        assert p["misroutes"] == 0, name
        bound = config["patterns"][name]["throughput_bound"]
        assert all(0.0 <= t <= b for t, b in zip(p["throughput"], bound)), name
    # Contention-free patterns keep every output busy on every cycle of the window.
    assert patterns["permutation"]["throughput"] == ALL_OUTPUTS
    assert patterns["broadcast"]["throughput"] == ALL_OUTPUTS
    # Contention: RAMP is saturated, and round robin shares it within one wavelet.
    hotspot = patterns["hotspot"]
    assert hotspot["throughput"] == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert max(hotspot["delivered"]) - min(hotspot["delivered"]) <= 1
    assert sum(hotspot["delivered"]) == hotspot["cycles"]
    # Random destinations: head-of-line blocking costs throughput, but every input gets some.
    uniform = patterns["uniform"]
    assert config["patterns"]["uniform"]["throughput_bound"] == [1.0, 1.0, 0.5, 1.0, 0.5]
    assert 0 < sum(uniform["throughput"]) < 4.0
    assert all(d > 0 for d in uniform["delivered"])


@pytest.mark.parametrize("preset", ["default", "tiny"])
def test_router_in_amaranth(preset):
    params = resolve_params(preset)
    report = bench_router(params, amaranth_cycles=300, simulators=["amaranth"],
                          timed_windows=False)
    check_router_figures(report["simulators"]["amaranth"], report["config"])
    kinds = {n: p["wavelets"] for n, p in report["config"]["patterns"].items()}
    # tiny has 4 colors: five-color patterns fall back to addressed wavelets.
    assert kinds["permutation"] == ("colored" if params.num_colors >= 5 else "addressed")
    assert kinds["uniform"] == "addressed"
    text = format_router_report(report)
    assert "Zero-load latency" in text and "hotspot" in text


def test_plan_rejects_what_it_cannot_run():
    tiny = resolve_params("tiny")
    with pytest.raises(ValueError, match=r"^Traffic pattern 'hotspot' cannot use colored "
                                         r"wavelets with these parameters \(it needs 5 colors, "
                                         r"num_colors is 4\)$"):
        router_plan(tiny, cycles=10, patterns=["hotspot"], wavelets="colored")
    with pytest.raises(ValueError, match=r"a multicast cannot be addressed\)$"):
        router_plan(tiny, cycles=10, patterns=["broadcast"], wavelets="addressed")
    with pytest.raises(ValueError, match=r"^Traffic pattern must be one of permutation, "
                                         r"broadcast, hotspot, uniform, not 'jam'$"):
        router_plan(tiny, cycles=10, patterns=["jam"])


def test_plan_routes_follow_the_turn_rule():
    plan = router_plan(resolve_params("wse"), cycles=10, wavelets="colored")
    assert {p["name"]: p["wavelets"] for p in plan["patterns"]} == {
        n: "colored" for n in TRAFFIC_PATTERNS}
    # One color per (input, outputs) pair: 16 for uniform.
    uniform = next(p for p in plan["patterns"] if p["name"] == "uniform")
    assert len(uniform["route_writes"]) == 16


NEXTPNR_LOG = """\
Info: Logic utilisation before packing:
Info:     Total LUT4s:      2571/83640     3%
Info:         logic LUTs:   2173/83640     2%
Info:         carry LUTs:     98/83640     0%
Info:           RAM LUTs:    200/10455     1%
Info:          RAMW LUTs:    100/20910     0%

Info:      Total DFFs:       215/83640     0%
Info: Device utilisation:
Info: \t          TRELLIS_IO:       0/    365     0%
Info: \t              DP16KD:       0/    208     0%
Info: \t        TRELLIS_COMB:    2617/  83640     3%
Info: Max frequency for clock 'clk': 42.84 MHz (FAIL at 100.00 MHz)
Info: 5.29 ns logic, 12.86 ns routing
Warning: Max frequency for clock 'clk': 55.09 MHz (FAIL at 100.00 MHz)
"""


def test_parse_nextpnr_log_takes_the_post_route_fmax():
    figures = parse_nextpnr_log(NEXTPNR_LOG)
    assert figures["luts"] == {"total": 2571, "logic": 2173, "carry": 98, "ram": 200,
                               "ramw": 100, "dffs": 215}
    assert figures["utilisation"]["TRELLIS_COMB"] == [2617, 83640]
    assert figures["utilisation"]["DP16KD"] == [0, 208]
    assert figures["fmax"] == {"clk": [42.84, 55.09]}
    assert figures["fmax_pass"] == {"clk": False}
    assert figures["critical_path_ns"] == {"logic": 5.29, "routing": 12.86}


def test_cli_bench_router_amaranth(tessera, tmp_path):
    out = tmp_path / "router.json"
    r = tessera("bench", "router", "--preset", "tiny", "--data-width", "16", "--simulators", "amaranth",
                "--amaranth-cycles", "100", "--no-timed-windows", "--patterns",
                "permutation,hotspot", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "Zero-load latency" in r.stdout and "data_width=16" in r.stdout
    doc = json.loads(out.read_text())
    assert doc["simulators"]["amaranth"]["latency"] == [1] * NUM_PORTS
    assert list(doc["simulators"]["amaranth"]["patterns"]) == ["permutation", "hotspot"]


@pytest.mark.parametrize("args, message", [
    (["router", "--patterns", "jam"], "argument --patterns: must be a comma-separated list"),
    (["router", "--cycles", "0"], "argument --cycles: must be a positive integer, not 0"),
    (["fpga", "--preset", "tiny", "--presets", "wse"], "give either --preset or --presets"),
    (["fpga", "--presets", "huge"], "argument --presets: must be a comma-separated list"),
    (["sram", "--presets", "huge"], "argument --presets: must be a comma-separated list"),
    (["sram", "--seeds", "x"], "argument --seeds"),
    (["fpga", "--rows", "4"], "unrecognized arguments: --rows 4"),
])
def test_cli_bench_bad_input(tessera, args, message):
    r = tessera("bench", *args)
    assert r.returncode == 2
    assert message in r.stderr


@pytest.mark.slow
def test_simulators_count_the_same_wavelets():
    """Verilator under cocotb, under its C++ driver, and Amaranth's simulator: same counts."""
    cycles = 400
    report = bench_router(resolve_params("default"), cycles=cycles, amaranth_cycles=cycles,
                          cpp_cycles=cycles, timed_windows=False, fresh=False,
                          build_root=BUILD_ROOT / "test-bench-router")
    sims = report["simulators"]
    assert set(sims) == {"verilator", "verilator-cpp", "amaranth"}
    for name, sim in sims.items():
        check_router_figures(sim, report["config"])
        assert sim["patterns"]["permutation"]["cycles"] == cycles, name
    reference = sims["amaranth"]["patterns"]
    for name in ("verilator", "verilator-cpp"):
        for pattern, p in sims[name]["patterns"].items():
            for key in ("cycles", "delivered", "throughput", "accepted_rate"):
                assert p[key] == reference[pattern][key], (name, pattern, key)
    assert report["build"]["verilator_build_seconds"] > 0


@pytest.mark.slow
def test_fpga_tiny_router(tmp_path):
    # The router at its smallest widths (16-bit wavelets), as the router's other tests.
    params = resolve_params("tiny", overrides={"data_width": 16})
    report = bench_fpga({"tiny": params}, build_root=tmp_path)
    d = report["designs"]["tiny"]
    # Out of context: no I/O buffers although the router has more port bits than pins.
    assert d["utilisation"]["TRELLIS_IO"][0] == 0
    assert d["port_bits"] > d["utilisation"]["TRELLIS_IO"][1] / 2
    # LUT RAM, no BRAM: each input's channel queues (channels * depth entries of a wavelet,
    # 16 entries and 4 bits per DPR16X4) and the route table, one copy per input (8 bits a
    # color; Yosys keeps a table this small, 4 colors, in logic instead).
    wavelet_bits = params.data_width + params.color_bits + 3
    entries = num_channels(params) * params.queue_depth
    queues = -(-entries // 16) * -(-wavelet_bits // 4)
    table = -(-params.num_colors // 16) * 2
    assert d["dpr16x4"] in (len(Direction) * queues, len(Direction) * (queues + table))
    assert d["dp16kd"] == 0
    # A color channel costs LUTs; so does a color (its route-table entry and lookups).
    assert d["costs"]["luts_per_channel"] > 0
    assert d["costs"]["luts_per_color_shared_channel"] > 0
    assert d["luts"]["total"] >= d["luts"]["logic"] > 0
    assert d["ffs"] > 0
    assert 10 < d["fmax_mhz"] < 500
    assert "Fmax post-route" in format_fpga_report(report)
