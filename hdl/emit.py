"""Verilog emission of Tessera designs."""

from .router import Router
from .verilog_text import convert

__all__ = ["router_verilog", "ROUTER_TOP", "write_fabric"]

# Top-level module name of a router emitted on its own.
ROUTER_TOP = "tessera_router"


def router_verilog(params, *, name=ROUTER_TOP):
    """Verilog text of one :class:`Router` as a top-level module called ``name``."""
    router = Router(params)
    return convert(router, name=name)


def write_fabric(params, out_dir, *, preset=None, core=False):
    """Write the fabric's Verilog (tiles with compute cores if ``core``) and ``manifest.json``
    into ``out_dir``; return the manifest.

    The files are written to a temporary directory beside ``out_dir`` and moved into place only
    when all of them are complete, so a failure leaves nothing half-written. The manifest holds
    nothing that changes between runs of the same generator on the same parameters.
    """
    import hashlib
    import json
    import os
    import shutil
    import tempfile
    from importlib import metadata
    from pathlib import Path

    from .fabric import FABRIC_MODULE, TILE_MODULE, fabric_ports, fabric_verilog

    out_dir = Path(out_dir)
    sources = fabric_verilog(params, core=core)
    manifest = {
        "generator": f"tessera {metadata.version('tessera')}",
        "preset": preset,
        "core": core,
        "params": params.as_sections(),
        "top": FABRIC_MODULE,
        "tile_module": TILE_MODULE,
        "instances": params.rows * params.cols,
        "modules": sum(text.count("\nmodule ") + text.startswith("module ")
                       for text in sources.values()),
        "files": [{"name": name, "bytes": len(text.encode()), "lines": text.count("\n"),
                   "sha256": hashlib.sha256(text.encode()).hexdigest()}
                  for name, text in sources.items()],
        "ports": fabric_ports(params),
    }
    files = dict(sources)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        files["manifest.json"] = json.dumps(manifest, indent=2) + "\n"
        for name, text in files.items():
            (staging / name).write_text(text)
        out_dir.mkdir(exist_ok=True)
        for name in files:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
