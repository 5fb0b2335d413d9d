"""The fabric's FPGA figures: Verilog synthesised and placed for ECP5 (sim/fpga.py)."""

import pytest

from tessera.hdl.fabric import FABRIC_MODULE, fabric_verilog
from tessera.hdl.params import resolve_params
from tessera.sim.fpga import (ECP5_CAPACITY, bench_fpga_fabric, estimate_fit, fit_verdicts,
                              format_fpga_fabric_report, parse_shape, synth_ecp5_verilog,
                              synth_luts)


def test_parse_shape():
    assert parse_shape("tile") == "tile"
    assert parse_shape(" 4X5 ") == (4, 5)
    for bad in ("4", "0x2", "ax3"):
        with pytest.raises(ValueError, match="shape must"):
            parse_shape(bad)


def test_synth_luts_counts_as_nextpnr_does():
    # Observed on the default tile: nextpnr's "Total LUT4s: 3271".
    assert synth_luts({"LUT4": 2741, "CCU2C": 115, "TRELLIS_DPR16X4": 50}) == 3271


def test_estimate_fit_takes_the_tightest_resource():
    capacity = ECP5_CAPACITY["85"]
    fit = estimate_fit({"synth_luts": 3000, "ffs": 400, "dp16kd": 2}, capacity, margin=0.85)
    assert fit["limit"] == "LUT4" and fit["max_tiles"] == 23   # 0.85 * 83640 / 3000 = 23.7
    assert fit["square"] == 4 and fit["rect"] == [4, 5]
    fit = estimate_fit({"synth_luts": 100, "ffs": 100, "dp16kd": 24}, capacity)
    assert fit["limit"] == "DP16KD" and fit["max_tiles"] == 8 and fit["rect"] == [2, 3]


def test_fit_verdicts_name_the_largest_routed_and_the_too_big():
    def design(shape, tiles, luts, placed, fits):
        return {"shape": shape, "tiles": tiles, "synth_luts": luts, "placed": placed,
                "fits": fits, "fmax_mhz": 40.0 if placed else None}
    report = {"config": {"capacity": {"luts": 1000, "ffs": 1000, "dp16kd": 10}},
              "designs": {"tile": design("tile", 1, 100, True, True),
                          "2x2": design([2, 2], 4, 400, True, True),
                          "3x3": design([3, 3], 9, 850, True, True),
                          "3x4": design([3, 4], 12, 1100, False, False),
                          "4x4": design([4, 4], 16, 1500, False, False)}}
    assert fit_verdicts(report) == [
        "placed and routed in this run: up to 3x3 (9 tiles, 85.0% of the LUT4s, Fmax 40.00 MHz); "
        "the estimate's margin is a rule of thumb, a routed fabric is the proof",
        "does not fit the device (synthesised cells above its capacity): 3x4 (110% of the "
        "LUT4s), 4x4 (150% of the LUT4s)"]
    only_tile = {**report, "designs": {"tile": report["designs"]["tile"]}}
    assert fit_verdicts(only_tile) == []


@pytest.mark.slow
def test_tiny_fabric_synthesises_and_places(tmp_path):
    """A 1x1 tiny-preset fabric from its Verilog: cells and Fmax parsed (about 20 s)."""
    params = resolve_params("tiny", overrides={"rows": 1, "cols": 1})
    figures = synth_ecp5_verilog(fabric_verilog(params), top=FABRIC_MODULE,
                                 build_dir=tmp_path / "fabric")
    assert figures["placed"]
    assert figures["dp16kd"] > 0
    assert figures["luts"]["total"] > 0
    # Yosys's cells give nextpnr's LUT4 count before placement.
    assert figures["synth_luts"] == figures["luts"]["total"]
    assert figures["utilisation"]["DP16KD"] == [figures["dp16kd"], 208]
    assert figures["fmax_mhz"] > 0
    assert figures["runs"][0]["critical_path"]["steps"] > 0


@pytest.mark.slow
def test_bench_fpga_fabric_report(tmp_path):
    """A 1x1 network-only fabric synthesised only (Yosys, seconds): the report prints it and
    a fit. (Tiles with cores are the default; ``core=False`` keeps this quick.)"""
    report = bench_fpga_fabric(resolve_params("tiny"), [], synth_only_shapes=[(1, 1)],
                               breakdown=False, core=False, build_root=tmp_path)
    fabric = report["designs"]["1x1"]
    assert not fabric["placed"] and fabric["fmax_mhz"] is None
    assert fabric["synth_luts"] > 0 and fabric["dp16kd"] == 1 and fabric["fits"]
    assert fabric["mult18"] == 0          # no core, no multipliers
    text = format_fpga_fabric_report(report)
    assert "no (Yosys only)" in text and "network-only tiles" in text
    assert "fit estimate from the 1x1 fabric, per tile" in text and "limit LUT4" in text
