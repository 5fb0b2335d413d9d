"""``tessera bench core``: the measured cycles must respect their bound and meet the anchors.

The figures are the RTL's cycle counts (Amaranth's simulator), exact for a given design, so
these are checks of the design's throughput, not of the machine's speed.
"""

import json

import pytest

from tessera.hdl.core.isa import ElemType
from tessera.hdl.params import resolve_params
from tessera.sim.bench.core import CASES, bench_core, case_program, format_core_report


@pytest.fixture(scope="module")
def wse_report():
    return bench_core({"wse": resolve_params("wse")},
                      cases=("vmov", "vdot", "vaxpy", "send", "recv-add-send"),
                      types=("i8", "i16", "i32"), lengths=(16, 1024))


def rows_of(report, label):
    return {(r["case"], r["type"], r["length"]): r for r in report["presets"][label]["rows"]}


def test_no_case_beats_its_bound(wse_report):
    for key, r in rows_of(wse_report, "wse").items():
        assert r["cycles"] is not None, key
        assert r["cycles"] >= r["bound_cycles"], key
        assert 0 < r["share"] <= 1, key


def test_dot_product_reaches_95_percent_of_the_lanes_bound(wse_report):
    rows = rows_of(wse_report, "wse")
    for etype in ("i8", "i16", "i32"):
        dot = rows["vdot", etype, 1024]
        assert dot["share"] >= 0.95, dot
        assert dot["bank_stalls"] == 0 and dot["macs"] == 1024


def test_fabric_streams_run_at_a_wavelet_a_cycle(wse_report):
    # The output queue must cover the beat pipeline: a send never waits on an always-ready
    # router (this found a queue too shallow for one wavelet a cycle).
    rows = rows_of(wse_report, "wse")
    for case in ("send", "recv-add-send"):
        r = rows[case, "i16", 1024]
        assert r["output_stalls"] == 0 and r["share"] >= 0.95, r
        assert r["bound_per_cycle"] == 2


def test_overheads_are_measured(wse_report):
    res = wse_report["presets"]["wse"]
    assert res["task_switch"]["cycles_per_task"] >= 2      # at least activate and ret
    fixed = res["vector_fixed_cost"]
    assert 0 < fixed["min"] <= fixed["max"] < 20
    text = format_core_report(wse_report)
    assert "task switch" in text and "vdot.i16 of 1024 elements" in text


def test_operands_that_do_not_fit_are_reported():
    params = resolve_params("default")                # 4 KiB: three 1024-word operands do not
    assert case_program(params, CASES["vadd"], ElemType.I32, 1024) is None
    report = bench_core({"default": params}, cases=("vadd",), types=("i32",), lengths=(16, 1024))
    rows = rows_of(report, "default")
    assert rows["vadd", "i32", 1024]["cycles"] is None
    assert rows["vadd", "i32", 16]["cycles"] > 0
    assert "does not fit" in format_core_report(report)


def test_cli_bench_core(tessera, tmp_path):
    out = tmp_path / "core.json"
    r = tessera("bench", "core", "--preset", "tiny", "--cases", "vdot,recv", "--types", "i16",
                "--lengths", "16", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "vdot" in r.stdout and "lanes=2" in r.stdout
    report = json.loads(out.read_text())
    assert {row["case"] for row in report["presets"]["tiny"]["rows"]} == {"vdot", "recv"}


def test_int64_runs_where_the_isa_has_it():
    # No int64 products in the ISA: vmul.i64 is skipped, not a fault. An int64 element on the
    # fabric is two wavelets: half an element a cycle at best.
    report = bench_core({"tiny": resolve_params("tiny")}, cases=("vmul", "recv"),
                        types=("i64",), lengths=(16,))
    rows = rows_of(report, "tiny")
    assert set(rows) == {("recv", "i64", 16)}
    assert rows["recv", "i64", 16]["bound_per_cycle"] == 0.5
    assert rows["recv", "i64", 16]["cycles"] >= 32
