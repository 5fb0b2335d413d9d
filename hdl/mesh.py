"""Mesh geometry: the four mesh directions, where a step leads, and the names of links and edge
ports. The one place the fabric, the router-mesh models, the network harness and the host take
them from.

x grows eastward, y grows southward; (0, 0) is the north-west tile. Along the north and south
edges there is a port per column (index x), along the west and east edges one per row (index y).
"""

from .wavelet import OPPOSITE, Direction

__all__ = ["MESH_DIRECTIONS", "OPPOSITE", "STEP", "step", "neighbour", "direction_between",
           "edge_length", "edge_index", "edge_tile", "link_name", "edge_port"]

# The four ports that link a tile to its neighbours (RAMP stays inside the tile).
MESH_DIRECTIONS = (Direction.NORTH, Direction.EAST, Direction.SOUTH, Direction.WEST)

# One step in each mesh direction, as (dx, dy).
STEP = {
    Direction.NORTH: (0, -1),
    Direction.EAST:  (1, 0),
    Direction.SOUTH: (0, 1),
    Direction.WEST:  (-1, 0),
}


def step(tile, direction):
    """The position one step from ``tile`` (an ``(x, y)`` pair) in ``direction``, on the mesh or
    not."""
    dx, dy = STEP[Direction(direction)]
    return tile[0] + dx, tile[1] + dy


def neighbour(shape, tile, direction):
    """The tile one step from ``tile`` in ``direction``, or ``None`` beyond the edge of a mesh
    of ``shape`` (anything with ``rows`` and ``cols``: the parameters, a mesh model)."""
    x, y = step(tile, direction)
    return (x, y) if 0 <= x < shape.cols and 0 <= y < shape.rows else None


def direction_between(a, b):
    """The output of tile ``a`` that leads to the adjacent tile ``b``."""
    for direction in MESH_DIRECTIONS:
        if step(a, direction) == tuple(b):
            return direction
    raise ValueError(f"tiles must be adjacent, not {a} and {b}")


def edge_length(shape, side):
    """Ports along ``side``: one per column on north and south, one per row on east and west."""
    return shape.cols if side in (Direction.NORTH, Direction.SOUTH) else shape.rows


def edge_index(side, tile):
    """Which port of ``side`` the tile at ``(x, y)`` uses."""
    return tile[0] if side in (Direction.NORTH, Direction.SOUTH) else tile[1]


def edge_tile(shape, side, index):
    """The tile at port ``index`` of ``side``."""
    if side in (Direction.NORTH, Direction.SOUTH):
        return index, 0 if side == Direction.NORTH else shape.rows - 1
    return (0 if side == Direction.WEST else shape.cols - 1), index


def link_name(direction, kind):
    """Name of a tile's mesh link, ``kind`` ``"in"`` or ``"out"``: ``north_in``, ``west_out``."""
    return f"{Direction(direction).name.lower()}_{kind}"


def edge_port(side, kind, index):
    """Name prefix of a fabric boundary port: ``west_in__2``."""
    return f"{link_name(side, kind)}__{index}"
