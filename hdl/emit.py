"""Verilog emission of Tessera designs."""

from amaranth.back import verilog

from .router import Router

__all__ = ["router_verilog", "ROUTER_TOP"]

# Top-level module name of a router emitted on its own.
ROUTER_TOP = "tessera_router"


def router_verilog(params, *, name=ROUTER_TOP):
    """Verilog text of one :class:`Router` as a top-level module called ``name``."""
    router = Router(params)
    return verilog.convert(router, name=name, emit_src=False)
