"""Smoke tests of the network benchmark harness, in Amaranth's simulator on tiny meshes."""

import argparse
import re

import pytest

from tessera.hdl.params import resolve_params
from tessera.sim.bench.network import (channel_load_bound, network_plan, percentile, run_amaranth,
                                       summarise)
from tessera.sim.network_harness import NetworkHarness


def _params(rows, cols):
    return resolve_params("default", overrides=dict(rows=rows, cols=cols))


def _run(rows, cols, **plan_args):
    params = _params(rows, cols)
    plan = network_plan(params, **plan_args)
    return plan, summarise(plan, run_amaranth(params, plan)["result"])


def test_zero_load_one_cycle_per_hop():
    plan, figures = _run(3, 3, patterns=(), loads=())
    latencies = [z["latency"] for z in figures["zero_load"]]
    assert [z["hops"] for z in figures["zero_load"]] == [0, 1, 2, 3, 4]
    assert None not in latencies
    # Each further router costs exactly one cycle.
    assert [b - a for a, b in zip(latencies, latencies[1:])] == [1, 1, 1, 1]
    assert figures["per_hop"]["cycles_per_hop"] == pytest.approx(1.0)
    assert all(z["misdelivered"] == 0 for z in figures["zero_load"])


def test_multi_wavelet_packets_add_their_length():
    _, single = _run(2, 2, patterns=(), loads=())
    _, triple = _run(2, 2, patterns=(), loads=(), packet_length=3)
    # The tail of a 3-wavelet packet leaves two cycles after its head.
    assert [t["latency"] - s["latency"] for s, t in
            zip(single["zero_load"], triple["zero_load"])] == [2, 2, 2]


@pytest.mark.parametrize("pattern", ["uniform", "transpose"])
def test_low_load_accepted_equals_offered_and_nothing_lost(pattern):
    plan, figures = _run(2, 2, patterns=(pattern,), loads=(0.2,), cycles=400, warmup=60,
                         zero_load=False)
    result = figures["patterns"][pattern]
    point = result["points"][0]
    assert point["dropped_fraction"] == 0
    assert point["misdelivered"] == 0
    assert point["packets"] > 0.1 * 4 * 400
    # Steady state at low load: what is offered is delivered (window edges: a few packets).
    assert abs(point["accepted"] - point["offered"]) * 4 * 400 <= 6
    assert point["p99_latency"] >= point["mean_latency"] >= 2
    drain = result["drain"]
    assert drain["backlog"] == 0
    assert drain["injected"] == drain["received"] > 0
    assert drain["generated"] == drain["injected"] + drain["dropped"]
    assert drain["misdelivered"] == 0


def test_overload_drops_at_the_source_and_still_drains():
    plan, figures = _run(2, 2, patterns=("uniform",), loads=(1.0,), cycles=300, warmup=100,
                         zero_load=False)
    result = figures["patterns"]["uniform"]
    point = result["points"][0]
    # Four nodes offering a flit every cycle saturate the 2x2 mesh: sources drop packets and
    # accepted throughput falls below offered.
    assert point["offered"] > 0.99
    assert point["dropped_fraction"] > 0
    assert point["accepted"] < point["offered"]
    assert result["drain"]["injected"] == result["drain"]["received"]


def test_channel_load_bounds():
    assert channel_load_bound("uniform", 8, 8) == pytest.approx(4 / 8)
    assert channel_load_bound("uniform", 4, 4) == pytest.approx(4 / 4)
    # Transpose under XY routing funnels row y through tile (y, y): k - 1 flows on one link.
    assert channel_load_bound("transpose", 8, 8) == pytest.approx(1 / 7)


def test_percentile_takes_upper_bucket_edge():
    assert percentile([0, 0, 99, 1], 0, 0.99) == 2
    assert percentile([0, 0, 98, 2], 0, 0.99) == 3
    assert percentile([0, 10, 0, 0], 2, 0.99) == 7
    assert percentile([0, 0], 0, 0.99) is None


def test_plan_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"^The transpose pattern needs a square mesh, "
                                         r"not 2x3$"):
        network_plan(_params(2, 3), patterns=("transpose",))
    with pytest.raises(ValueError, match=r"^Offered load must be in \(0, 1\] "
                                         r"flits/node/cycle, not 1\.5$"):
        network_plan(_params(2, 2), loads=(1.5,))


def test_harness_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"^Source queue depth must be a power of two, "
                                         r"not 3$"):
        NetworkHarness(_params(2, 2), source_depth=3)
    with pytest.raises(ValueError, match=r"^Packet length must be an integer of at least 1, "
                                         r"not 0$"):
        NetworkHarness(_params(2, 2), packet_length=0)


def test_register_adds_subcommands():
    from tessera.scripts import bench_network
    from tessera.scripts.cli import add_param_arguments, params_from_args
    parser = argparse.ArgumentParser()
    benches = parser.add_subparsers(dest="benchmark")
    bench_network.register(benches, add_param_arguments, params_from_args,
                           argparse.ArgumentDefaultsHelpFormatter)
    args = parser.parse_args(["network", "--quick", "--loads", "0.1,0.2", "--rows", "3",
                              "--cols", "3"])
    assert args.loads == [0.1, 0.2] and args.quick and args.rows == 3
    args = parser.parse_args(["verilator", "--shapes", "4x4,8x8", "--variants", "no-inline"])
    assert args.shapes == [(4, 4), (8, 8)] and args.variants == ["no-inline"]
    help_text = benches.choices["network"].format_help()
    assert re.search(r"4/k", help_text)


@pytest.mark.parametrize("color_channels, free_keeps_up", [(8, True), (1, False)])
def test_colors_a_throttled_color_stops_another_only_when_they_share_a_channel(
        color_channels, free_keeps_up):
    params = resolve_params("default", overrides=dict(rows=1, cols=3,
                                                      color_channels=color_channels))
    plan = network_plan(params, patterns=("colors",), loads=(0.3,), cycles=600, warmup=200,
                        zero_load=False, throttle=0.125)
    result = summarise(plan, run_amaranth(params, plan)["result"])["patterns"]["colors"]
    point = result["points"][0]
    assert point["offered"] == pytest.approx(0.3, abs=0.05)
    # The throttled color gets no more than its sink takes, whatever the channels.
    assert point["throttled_accepted"] <= 0.125 + 0.03
    if free_keeps_up:
        # Its own channel: the free color is delivered as offered, beside the congestion.
        assert point["free_accepted"] >= 0.95 * point["offered"]
    else:
        # One shared channel: it waits behind the throttled color's wavelets.
        assert point["free_accepted"] < 0.5 * point["offered"]
    assert point["misdelivered"] == 0
    drain = result["drain"]
    assert drain["backlog"] == 0 and drain["injected"] == drain["received"] > 0


def test_colors_pattern_needs_columns_and_colors():
    with pytest.raises(ValueError, match=r"^The colors pattern needs at least 2 columns and 3 "
                                         r"colors, not 1 columns and num_colors=8$"):
        network_plan(_params(2, 1), patterns=("colors",))
