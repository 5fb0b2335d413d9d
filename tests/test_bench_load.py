"""The load-path benchmark on the smallest fabric: it runs, its figures respect the bound."""

import pytest

from tessera.hdl.params import resolve_params
from tessera.sim.bench.load import bench_load_path, format_load_report


@pytest.mark.slow
def test_fill_a_2x2_fabric_through_west_and_all_edges():
    params = resolve_params("tiny")
    report = bench_load_path(params)
    rows = {r["edges"]: r for r in report["rows"]}
    words = params.rows * params.cols * params.sram_bytes // params.word_bytes
    for row in rows.values():
        assert row["words"] == words
        # Nothing beats one wavelet per port per cycle, through the ports the host uses.
        assert row["cycles"] >= row["bound_busiest_port"] >= row["bound_attached"]
    # West only: the two west ports each carry one row's two PEs, and the fabric keeps up.
    assert rows["west"]["ports_used"] == 2
    assert rows["west"]["cycles"] <= rows["west"]["bound_busiest_port"] + 8
    # More edges, more ports in use, a shorter fill.
    assert rows["all"]["ports_used"] > rows["west"]["ports_used"]
    assert rows["all"]["cycles"] < rows["west"]["cycles"]
    text = format_load_report(report)
    assert "bound (attached ports)" in text
    assert "\nversions: amaranth " in text and "\nmachine: " in text
