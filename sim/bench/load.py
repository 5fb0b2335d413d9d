"""Load-path benchmark: cycles to fill every PE's memory through one edge and through all four.

Runs ``testbenches/fabric/load_path.py`` on a Verilator build of the generated fabric and
compares the fill time with the edge-bandwidth bound (one wavelet per port per cycle).
"""

import json
import tempfile
import time

from ...hdl.fabric import FABRIC_MODULE, fabric_verilog
from ..runner import TESTBENCHES, build, run_tests

__all__ = ["bench_load_path", "format_load_report"]


def bench_load_path(params, *, edges=("west", "all"), progress=None):
    from .report import machine_info, tool_versions
    say = progress or (lambda message: None)
    machine = machine_info()  # the load average before this benchmark adds its own
    files = fabric_verilog(params)
    say(f"building the {params.rows}x{params.cols} fabric with Verilator ...")
    start = time.perf_counter()
    runner, build_dir = build(f"fabric-load-{params.rows}x{params.cols}", "".join(files.values()),
                              toplevel=FABRIC_MODULE, public="top")
    build_seconds = time.perf_counter() - start
    rows = []
    for edge in edges:
        say(f"filling every PE through {edge} ...")
        with tempfile.NamedTemporaryFile(suffix=".json") as result:
            start = time.perf_counter()
            run_tests(runner, build_dir, toplevel=FABRIC_MODULE, test_module="load_path",
                      test_dir=TESTBENCHES / "fabric",
                      extra_env={"TESSERA_PARAMS": json.dumps(params.as_dict()),
                                 "TESSERA_EDGES": edge, "TESSERA_RESULT": result.name})
            row = json.load(open(result.name))
            row["wall_seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
    return {"params": params.as_dict(), "build_seconds": round(build_seconds, 1), "rows": rows,
            "versions": tool_versions(), "machine": machine}


def format_load_report(report):
    from .report import environment_lines
    p = report["params"]
    lines = [f"Load-path benchmark: fill every PE's memory of a {p['rows']}x{p['cols']} fabric "
             f"through the edge", "",
             "parameters: " + ", ".join(f"{k}={v}" for k, v in p.items()),
             *environment_lines(report["versions"], report["machine"]),
             f"Verilator build: {report['build_seconds']} s", "",
             f"{'edges':>6} {'words':>7} {'wavelets':>9} {'ports used':>11} {'cycles':>8} "
             f"{'bound (attached ports)':>23} {'bound (busiest port)':>21} {'of bound':>9}"]
    for r in report["rows"]:
        lines.append(f"{r['edges']:>6} {r['words']:>7} {r['wavelets']:>9} "
                     f"{r['ports_used']:>5} of {r['ports_attached']:<3} {r['cycles']:>8} "
                     f"{r['bound_attached']:>23} {r['bound_busiest_port']:>21} "
                     f"{r['bound_attached'] / r['cycles']:>8.0%}")
    lines.append("")
    lines.append("bound (attached ports): wavelets / attached edge ports, one wavelet per port "
                 "per cycle;")
    lines.append("bound (busiest port): wavelets through the busiest port the host's fixed "
                 "per-PE entry port choice uses.")
    return "\n".join(lines)
