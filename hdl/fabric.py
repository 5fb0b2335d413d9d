"""A fabric: ``rows`` x ``cols`` tiles, the tile emitted once and instantiated per position.

The fabric's Verilog is two modules: ``tessera_tile`` (converted from :class:`~.tile.Tile` once
by Amaranth) and ``tessera_fabric``, which holds ``rows * cols`` instances of it, each given its
coordinates as constants, wired to its neighbours. The design grows by instance lines, not by copies of the tile.

Every link that crosses the boundary is a top-level port, named by side and position:
``north_in[x]`` / ``north_out[x]`` along the top row (y = 0), ``south_*[x]`` along the bottom,
``west_*[y]`` along the left column (x = 0), ``east_*[y]`` along the right. A host, or later
another fabric, attaches to any of them (``docs/edge-protocol.md``).
"""

from .tile import MESH_DIRECTIONS, Tile, link_name
from .verilog_text import convert
from .wavelet import OPPOSITE, Direction, wavelet_layout

__all__ = ["TILE_MODULE", "FABRIC_MODULE", "STATUS_BITS", "STEP", "edge_length", "edge_index",
           "edge_port", "neighbour", "fabric_ports", "fabric_module_verilog", "fabric_verilog"]

# Width of a tile's (and the fabric's) sticky error flags (hdl.tile.AgentStatus).
STATUS_BITS = 3

TILE_MODULE = "tessera_tile"
FABRIC_MODULE = "tessera_fabric"

# One step in each mesh direction, as (dx, dy): x grows eastward, y grows southward.
STEP = {
    Direction.NORTH: (0, -1),
    Direction.EAST:  (1, 0),
    Direction.SOUTH: (0, 1),
    Direction.WEST:  (-1, 0),
}


def edge_length(params, side):
    """Ports along ``side``: one per column on north and south, one per row on east and west."""
    return params.cols if side in (Direction.NORTH, Direction.SOUTH) else params.rows


def edge_index(side, x, y):
    """Which port of ``side`` the tile at ``(x, y)`` uses."""
    return x if side in (Direction.NORTH, Direction.SOUTH) else y


def neighbour(params, x, y, d):
    """The tile one step from ``(x, y)`` in direction ``d``, or ``None`` beyond the edge."""
    dx, dy = STEP[d]
    nx, ny = x + dx, y + dy
    if 0 <= nx < params.cols and 0 <= ny < params.rows:
        return nx, ny
    return None


def edge_port(side, kind, index):
    """Name prefix of a boundary port: ``west_in__2``."""
    return f"{link_name(side, kind)}__{index}"


def fabric_ports(params):
    """The fabric's top-level ports: ``[{"name", "direction", "width", "description"}]``, clock
    and reset first, then every edge link (``docs/edge-protocol.md``), then ``status``."""
    from .tile import STATUS_MEANING

    width = wavelet_layout(params).size
    ports = [{"name": "clk", "direction": "input", "width": 1,
              "description": "clock; every flip-flop changes on its rising edge"},
             {"name": "rst", "direction": "input", "width": 1,
              "description": "reset, active high, synchronous: hold it for at least one rising "
                             "edge of clk; clears queues, routes and status"}]
    members = {"payload": "the wavelet (docs/wavelet.md: data, color, ctrl, addressed, last)",
               "valid": "the payload is a wavelet this cycle",
               "ready": "the receiver takes the wavelet this cycle (a transfer: valid and "
                        "ready at a rising edge of clk)"}
    for side in MESH_DIRECTIONS:
        for kind, flow in (("in", "input"), ("out", "output")):
            back = "output" if flow == "input" else "input"
            towards = "into" if kind == "in" else "out of"
            for k in range(edge_length(params, side)):
                x, y = _edge_tile(params, side, k)
                prefix = edge_port(side, kind, k)
                link = f"{side.name.lower()} edge, link {towards} tile ({x}, {y})"
                ports += [{"name": f"{prefix}__{member}",
                           "direction": back if member == "ready" else flow,
                           "width": width if member == "payload" else 1,
                           "description": f"{link}: {members[member]}"}
                          for member in ("payload", "ready", "valid")]
    bits = "; ".join(f"bit {flag.value.bit_length() - 1} {flag.name} ({meaning})"
                     for flag, meaning in STATUS_MEANING.items())
    ports.append({"name": "status", "direction": "output", "width": STATUS_BITS,
                  "description": f"sticky error flags, the OR of every tile's, cleared only by "
                                 f"rst: {bits}"})
    return ports


def _edge_tile(params, side, index):
    """The tile at port ``index`` of ``side``."""
    if side in (Direction.NORTH, Direction.SOUTH):
        return index, 0 if side == Direction.NORTH else params.rows - 1
    return (0 if side == Direction.WEST else params.cols - 1), index


def fabric_module_verilog(params):
    """The ``tessera_fabric`` module: ``rows * cols`` instances of ``tessera_tile`` and wires.

    Written directly rather than through Amaranth: it is pure structure (instances and the wires
    between them), and Amaranth's front end would spend most of a minute on a 64 x 64 fabric.
    """
    p = params
    width = wavelet_layout(p).size
    positions = [(x, y) for y in range(p.rows) for x in range(p.cols)]

    def arriving(x, y, d):
        """Name prefix of the link arriving at tile (x, y) from direction d."""
        if neighbour(p, x, y, d) is None:
            return edge_port(d, "in", edge_index(d, x, y))
        return f"link_{x}_{y}_{d.name.lower()}"

    def leaving(x, y, d):
        n = neighbour(p, x, y, d)
        if n is None:
            return edge_port(d, "out", edge_index(d, x, y))
        return arriving(*n, OPPOSITE[d])

    def vector(bits):
        return f"[{bits - 1}:0] " if bits > 1 else ""

    ports = fabric_ports(p)
    out = [f"// Generated by Tessera: {p.rows} x {p.cols} instances of {TILE_MODULE}.",
           f"module {FABRIC_MODULE}({', '.join(port['name'] for port in ports)});"]
    out += [f"  {port['direction']} {vector(port['width'])}{port['name']};" for port in ports]
    for x, y in positions:
        for d in MESH_DIRECTIONS:
            if neighbour(p, x, y, d) is not None:
                link = arriving(x, y, d)
                out.append(f"  wire [{width - 1}:0] {link}__payload; "
                           f"wire {link}__valid; wire {link}__ready;")
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


def fabric_verilog(params):
    """The fabric's Verilog: ``{file name: text}`` with the tile module and the fabric module."""
    tile = convert(Tile(params), name=TILE_MODULE)
    return {f"{TILE_MODULE}.v": tile, f"{FABRIC_MODULE}.v": fabric_module_verilog(params)}
