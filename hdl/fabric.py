"""A fabric: ``rows`` x ``cols`` tiles, the tile emitted once and instantiated per position.

The fabric exists twice, with the same ports:

* :class:`Fabric`, an Amaranth component holding a :class:`~.tile.Tile` per position as
  submodules, for the Amaranth simulator and for a board's top module;
* :func:`fabric_verilog`, what ``tessera generate`` writes: two modules, ``tessera_tile``
  (converted from :class:`~.tile.Tile` once by Amaranth) and ``tessera_fabric``, written as text
  by :func:`fabric_module_verilog`, which holds ``rows * cols`` instances of it, each given its
  coordinates as constants, wired to its neighbours. The design grows by instance lines, not by
  copies of the tile, and Amaranth's front end (a minute on a 64 x 64 fabric) is not involved.

Every link that crosses the boundary is a top-level port, named by side and position:
``north_in__x`` / ``north_out__x`` along the top row (y = 0), ``south_*__x`` along the bottom,
``west_*__y`` along the left column (x = 0), ``east_*__y`` along the right. A host, or later
another fabric, attaches to any of them (``docs/edge-protocol.md``). The port list
(:func:`fabric_ports`, the manifest's, the text module's) is derived from :class:`Fabric`'s
signature, so the two cannot disagree.
"""

from amaranth.hdl import Module, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .mesh import (MESH_DIRECTIONS, OPPOSITE, edge_index, edge_length, edge_port, edge_tile,
                   link_name, neighbour)
from .link import channel_name, link_signature, num_channels
from .tile import STATUS_BITS, Tile
from .verilog_text import convert
from .wavelet import wavelet_layout

__all__ = ["TILE_MODULE", "FABRIC_MODULE", "STATUS_BITS", "Fabric", "fabric_signature",
           "fabric_ports", "fabric_module_verilog", "fabric_verilog"]

TILE_MODULE = "tessera_tile"
FABRIC_MODULE = "tessera_fabric"


def _edge_links(params):
    """``(side, kind, index)`` of every boundary link, in port order: side by side
    (:data:`~.mesh.MESH_DIRECTIONS`), the side's ``in`` links, then its ``out`` links."""
    for side in MESH_DIRECTIONS:
        for kind in ("in", "out"):
            for k in range(edge_length(params, side)):
                yield side, kind, k


def fabric_signature(params):
    """:class:`Fabric`'s signature: a member per boundary link, named
    :func:`~.mesh.edge_port` (``In(link_signature)`` for ``*_in``, ``Out`` for ``*_out``),
    then ``status``. Built without the component, so :func:`fabric_ports` makes no
    elaboratable it never elaborates."""
    # One signature for every link (they are all alike): a 64 x 64 fabric has 512.
    link = link_signature(params)
    members = {edge_port(side, kind, k): (In if kind == "in" else Out)(link)
               for side, kind, k in _edge_links(params)}
    members["status"] = Out(STATUS_BITS)
    return wiring.Signature(members)


class Fabric(wiring.Component):
    """``rows`` x ``cols`` tiles wired to their neighbours, the boundary links its ports.

    The same fabric as :func:`fabric_verilog`'s ``tessera_fabric`` (ports of the same names,
    :func:`fabric_ports`), built by Amaranth: for the Amaranth simulator and for a board's top.
    Every tile is elaborated as a submodule of its own, ``tile_{x}_{y}``, so its Verilog
    (through :func:`~.verilog_text.convert`) repeats the tile per position; ``tessera
    generate`` writes :func:`fabric_verilog`'s instead.

    Members
    -------
    ``{side}_in__{k}`` : ``In(link_signature)``
        Into the tile at position ``k`` of ``side`` (:func:`~.mesh.edge_tile`), for every
        side (``north``, ``east``, ``south``, ``west``) and position.
    ``{side}_out__{k}`` : ``Out(link_signature)``
        Out of that tile, through ``side``.
    status : ``Out(STATUS_BITS)``
        The OR of every tile's sticky error flags (:class:`~.tile.AgentStatus`).
    """

    def __init__(self, params, *, core=False):
        self._params = params
        self._core = core
        super().__init__(fabric_signature(params))

    @property
    def params(self):
        return self._params

    def edge(self, side, kind, index):
        """The boundary link ``kind`` (``"in"`` or ``"out"``) at position ``index`` of
        ``side``."""
        return getattr(self, edge_port(side, kind, index))

    def elaborate(self, platform):
        m = Module()
        p = self._params
        # One Tile per position: an Amaranth elaboratable is elaborated only once.
        tiles = {}
        for y in range(p.rows):
            for x in range(p.cols):
                tiles[x, y] = tile = Tile(p, core=self._core)
                m.submodules[f"tile_{x}_{y}"] = tile
                m.d.comb += [tile.x.eq(x), tile.y.eq(y)]
        for (x, y), tile in tiles.items():
            for d in MESH_DIRECTIONS:
                n = neighbour(p, (x, y), d)
                if n is not None:
                    # Each link once, from the side that sends on it.
                    wiring.connect(m, tile.link(d, "out"), tiles[n].link(OPPOSITE[d], "in"))
                else:
                    k = edge_index(d, (x, y))
                    wiring.connect(m, wiring.flipped(self.edge(d, "in", k)), tile.link(d, "in"))
                    wiring.connect(m, tile.link(d, "out"), wiring.flipped(self.edge(d, "out", k)))
        status = 0
        for tile in tiles.values():
            status = status | tile.status
        m.d.comb += self.status.eq(status)
        return m


def fabric_ports(params):
    """The fabric's top-level ports: ``[{"name", "direction", "width", "description"}]``, clock
    and reset first, then every edge link (``docs/edge-protocol.md``), then ``status``.

    Names, directions and widths are :class:`Fabric`'s flattened signature
    (:func:`fabric_signature`); only the descriptions are written here.
    """
    from .tile import STATUS_MEANING

    ports = [{"name": "clk", "direction": "input", "width": 1,
              "description": "clock; every flip-flop changes on its rising edge"},
             {"name": "rst", "direction": "input", "width": 1,
              "description": "reset, active high, synchronous: hold it for at least one rising "
                             "edge of clk; clears queues, routes and status"}]
    channels = num_channels(params)
    ready_bits = ", ".join(f"bit {c} {channel_name(params, c)}" for c in range(channels))
    members = {"payload": "the wavelet (docs/wavelet.md: data, color, ctrl, addressed, last)",
               "valid": "the payload is a wavelet this cycle",
               "ready": f"one bit per channel (docs/router.md): the receiver takes a wavelet of "
                        f"that channel this cycle (a transfer: valid and the bit of the "
                        f"payload's channel at a rising edge of clk); {ready_bits}"}
    links = {}
    for side, kind, k in _edge_links(params):
        x, y = edge_tile(params, side, k)
        towards = "into" if kind == "in" else "out of"
        links[edge_port(side, kind, k)] = \
            f"{side.name.lower()} edge, link {towards} tile ({x}, {y})"
    bits = "; ".join(f"bit {flag.value.bit_length() - 1} {flag.name} ({meaning})"
                     for flag, meaning in STATUS_MEANING.items())
    status = f"sticky error flags, the OR of every tile's, cleared only by rst: {bits}"

    signature = fabric_signature(params)
    order = {name: n for n, name in enumerate(signature.members)}
    flat = [(path, member) for path, member in signature.members.flatten() if member.is_port]
    # A link's members in name order (payload, ready, valid), the order the manifest and the
    # module header have always had; the links themselves in the signature's order.
    flat.sort(key=lambda item: (order[item[0][0]], item[0][1:]))
    for path, member in flat:
        name = "__".join(map(str, path))
        description = status if path == ("status",) else \
            f"{links[path[0]]}: {members[path[1]]}"
        ports.append({"name": name,
                      "direction": "input" if member.flow == In else "output",
                      "width": Shape.cast(member.shape).width,
                      "description": description})
    return ports


def fabric_module_verilog(params):
    """The ``tessera_fabric`` module: ``rows * cols`` instances of ``tessera_tile`` and wires.

    Written directly rather than through Amaranth: it is pure structure (instances and the wires
    between them), and Amaranth's front end would spend most of a minute on a 64 x 64 fabric.
    Its ports are :func:`fabric_ports`'s, in that order: those of :class:`Fabric`.
    """
    p = params
    width = wavelet_layout(p).size
    channels = num_channels(p)
    positions = [(x, y) for y in range(p.rows) for x in range(p.cols)]

    def arriving(x, y, d):
        """Name prefix of the link arriving at tile (x, y) from direction d."""
        if neighbour(p, (x, y), d) is None:
            return edge_port(d, "in", edge_index(d, (x, y)))
        return f"link_{x}_{y}_{d.name.lower()}"

    def leaving(x, y, d):
        n = neighbour(p, (x, y), d)
        if n is None:
            return edge_port(d, "out", edge_index(d, (x, y)))
        return arriving(*n, OPPOSITE[d])

    def vector(bits):
        return f"[{bits - 1}:0] " if bits > 1 else ""

    ports = fabric_ports(p)
    out = [f"// Generated by Tessera: {p.rows} x {p.cols} instances of {TILE_MODULE}.",
           f"module {FABRIC_MODULE}({', '.join(port['name'] for port in ports)});"]
    out += [f"  {port['direction']} {vector(port['width'])}{port['name']};" for port in ports]
    for x, y in positions:
        for d in MESH_DIRECTIONS:
            if neighbour(p, (x, y), d) is not None:
                link = arriving(x, y, d)
                out.append(f"  wire [{width - 1}:0] {link}__payload; "
                           f"wire {link}__valid; wire {vector(channels)}{link}__ready;")
        out.append(f"  wire [{STATUS_BITS - 1}:0] status_{x}_{y};")
    for x, y in positions:
        conns = [".clk(clk)", ".rst(rst)",
                 f".x({p.coord_bits}'d{x})", f".y({p.coord_bits}'d{y})"]
        for d in MESH_DIRECTIONS:
            name_in, name_out = link_name(d, "in"), link_name(d, "out")
            a, l = arriving(x, y, d), leaving(x, y, d)
            conns += [f".{name_in}__payload({a}__payload)", f".{name_in}__valid({a}__valid)",
                      f".{name_in}__ready({a}__ready)",
                      f".{name_out}__payload({l}__payload)", f".{name_out}__valid({l}__valid)",
                      f".{name_out}__ready({l}__ready)"]
        conns.append(f".status(status_{x}_{y})")
        out.append(f"  {TILE_MODULE} tile_{x}_{y} ({', '.join(conns)});")
    out.append("  assign status = " + " | ".join(f"status_{x}_{y}" for x, y in positions) + ";")
    out.append("endmodule")
    return "\n".join(out) + "\n"


def fabric_verilog(params, *, core=False):
    """The fabric's Verilog: ``{file name: text}`` with the tile module (with a compute core if
    ``core``) and the fabric module."""
    tile = convert(Tile(params, core=core), name=TILE_MODULE)
    return {f"{TILE_MODULE}.v": tile, f"{FABRIC_MODULE}.v": fabric_module_verilog(params)}
