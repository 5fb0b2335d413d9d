"""FPGA figures of the tile memory: :class:`~tessera.hdl.sram.TileMemory` on ECP5.

For each preset, two builds through :func:`tessera.sim.fpga.synth_ecp5`:

``bare``
    The memory alone, its ports the top module's ports: the memory's own LUTs, flip-flops, block
    RAMs (DP16KD) and LUT RAM (TRELLIS_DPR16X4).
``registered``
    The memory inside :class:`RegisteredBoundary` (a flip-flop on every port bit). Out of
    context nextpnr times only register-to-register paths, and the memory's paths all start or
    end at a port (its block RAM outputs are registered inside the DP16KD), so only this build
    has a meaningful Fmax: input flip-flop -> port mux -> block RAM, block RAM -> read mux ->
    output flip-flop, as inside a tile that registers around it.

Run ``tessera bench sram`` (``--help`` for the options).
"""

import time
from pathlib import Path

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ...hdl.params import resolve_params
from ...hdl.sram import TileMemory
from ..fpga import DEFAULT_DEVICE, DEFAULT_PACKAGE, FPGA_TOOLS, synth_ecp5

__all__ = ["RegisteredBoundary", "bench_sram_fpga", "format_sram_report"]


class RegisteredBoundary(wiring.Component):
    """``inner`` with a flip-flop on every port bit: one cycle more each way, nothing else.

    Parameters
    ----------
    inner : amaranth.lib.wiring.Component

    Members
    -------
    The members of ``inner``'s signature.
    """

    def __init__(self, inner):
        self._inner = inner
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self._inner
        outer_ports = self.signature.flatten(self)
        inner_ports = inner.signature.flatten(inner)
        for (_, member, outer), (_, _, port) in zip(outer_ports, inner_ports):
            if member.flow == In:
                m.d.sync += port.eq(outer)
            else:
                m.d.sync += outer.eq(port)
        return m


def bench_sram_fpga(presets=("default", "wse"), *, build_root, device=DEFAULT_DEVICE,
                    package=DEFAULT_PACKAGE, freq_mhz=100, seeds=(1,), progress=None):
    """Synthesise and place each preset's tile memory, bare and registered.

    Parameters
    ----------
    presets : sequence of str
        Names from :data:`tessera.hdl.params.PRESETS`.
    build_root : path-like
        One folder per preset and build under it.
    device, package, freq_mhz, seeds, progress
        As for :func:`tessera.sim.fpga.synth_ecp5`.

    Returns
    -------
    dict
        ``{"config": {device, package, freq, seeds, versions, machine}, "designs": {preset:
        {"memory": {...}, "bare": figures, "registered": figures}}}``, the figures those of
        :func:`~tessera.sim.fpga.synth_ecp5`; ``memory`` holds ``data_width``, ``sram_bytes``,
        ``banks``, ``bank_words``.
    """
    from .report import machine_info, tool_versions

    config = {"device": device, "package": package, "freq_constraint_mhz": freq_mhz,
              "seeds": list(seeds), "versions": tool_versions(FPGA_TOOLS),
              "machine": machine_info()}
    root = Path(build_root)
    designs = {}
    for preset in presets:
        params = resolve_params(preset)
        entry = {}
        for build in ("bare", "registered"):
            memory = TileMemory(params)
            top = memory if build == "bare" else RegisteredBoundary(memory)
            start = time.perf_counter()
            # The bare build's Fmax means nothing (see above): one placement is enough.
            figures = synth_ecp5(
                top, name=f"tessera_tile_memory_{build}", build_dir=root / preset / build,
                device=device, package=package, freq_mhz=freq_mhz,
                seeds=list(seeds)[:1] if build == "bare" else seeds,
                progress=(lambda msg, p=preset: progress(f"[{p}] {msg}")) if progress else None)
            figures["seconds"]["total"] = time.perf_counter() - start
            entry[build] = figures
        entry["memory"] = {"data_width": memory.data_width, "sram_bytes": params.sram_bytes,
                           "banks": memory.banks, "bank_words": memory.bank_words}
        designs[preset] = entry
    return {"config": config, "designs": designs}


def format_sram_report(report):
    """The report of :func:`bench_sram_fpga` as a table, one column per preset."""
    from .report import environment_lines, format_table
    cfg = report["config"]
    designs = report["designs"]
    presets = list(designs)
    first = designs[presets[0]]["bare"]
    rows = []

    def row(title, get):
        rows.append([title, *[get(designs[p]) for p in presets]])

    mhz = lambda v: "-" if v is None else f"{v:.1f}"
    row("memory", lambda r: f"{r['memory']['sram_bytes']} B = {r['memory']['banks']} x "
                            f"{r['memory']['bank_words']} x {r['memory']['data_width']} bit")
    row("DP16KD block RAMs", lambda r: r["bare"]["dp16kd"])
    row("  per bank", lambda r: f"{r['bare']['dp16kd'] / r['memory']['banks']:g}")
    row("TRELLIS_DPR16X4 (LUT RAM)", lambda r: r["bare"]["dpr16x4"])
    row("LUT4 (bare)", lambda r: r["bare"]["luts"].get("total"))
    row("FFs (bare)", lambda r: r["bare"]["ffs"])
    row("port bits", lambda r: r["bare"]["port_bits"])
    row("Fmax, MHz (registered boundary, median)", lambda r: mhz(r["registered"]["fmax_mhz"]))
    row("  range over seeds", lambda r: " - ".join(
        map(mhz, r["registered"]["fmax_range_mhz"] or [None, None])))
    row("FFs (registered boundary)", lambda r: r["registered"]["ffs"])
    row("critical path (first seed)", lambda r: "{from} -> {to}".format(
        **r["registered"]["runs"][0]["critical_path"]))
    row("  logic / routing, ns", lambda r: "{logic:.2f} / {routing:.2f}".format(
        **r["registered"]["runs"][0]["critical_path"]))
    m = cfg["machine"]
    return "\n".join([
        "FPGA benchmark: the tile memory (TileMemory), synthesised and placed for ECP5",
        "",
        f"device {cfg['device']} ({cfg['package']}), clock constraint "
        f"{cfg['freq_constraint_mhz']:g} MHz, placement seeds "
        f"{', '.join(map(str, cfg['seeds']))} (bare build: the first only)",
        f"mode: {first['mode']}",
        *environment_lines(cfg["versions"], m),
        "",
        format_table(["figure", *presets], rows),
    ])
