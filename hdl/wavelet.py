"""The wavelet (one flit of the fabric), its header, and the mesh directions.

See ``docs/wavelet.md`` for the formats as a user sees them.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum, stream

__all__ = ["Direction", "AXIS_CONVENTION", "OPPOSITE", "wavelet_layout", "header_layout",
           "route_layout", "route_write_layout", "wavelet_stream", "NUM_PORTS"]


# Axis convention: x grows eastward, y grows southward; (0, 0) is the north-west corner.
AXIS_CONVENTION = "x grows eastward, y grows southward; (0, 0) is the north-west tile"


class Direction(enum.IntEnum, shape=3):
    """A router port. RAMP is the tile's own core/memory side."""
    RAMP  = 0
    NORTH = 1
    EAST  = 2
    SOUTH = 3
    WEST  = 4


NUM_PORTS = len(Direction)

# The port a link arrives on at the neighbour: leaving EAST arrives on the neighbour's WEST.
OPPOSITE = {
    Direction.NORTH: Direction.SOUTH,
    Direction.SOUTH: Direction.NORTH,
    Direction.EAST:  Direction.WEST,
    Direction.WEST:  Direction.EAST,
}


def wavelet_layout(params):
    """One wavelet.

    ``data``
        Payload, ``data_width`` bits. In the head wavelet of an addressed packet it holds the
        header (:func:`header_layout`).
    ``color``
        Routing channel of a colored wavelet; passed through unchanged on addressed packets.
    ``ctrl``
        Control wavelet flag, for the compute core; routed like any other wavelet.
    ``addressed``
        The wavelet belongs to an addressed packet (XY routed to the header's coordinates)
        instead of being routed by its color.
    ``last``
        Last wavelet of an addressed packet. Ignored on colored wavelets.
    """
    return data.StructLayout({
        "data":      unsigned(params.data_width),
        "color":     unsigned(params.color_bits),
        "ctrl":      unsigned(1),
        "addressed": unsigned(1),
        "last":      unsigned(1),
    })


def header_layout(params):
    """The ``data`` of an addressed packet's head wavelet: destination, then free bits.

    ``x``, ``y``: destination, signed. Tiles are at ``0 <= x < cols``, ``0 <= y < rows``; a
    destination beyond an edge (``x = -1`` or ``x = cols``, ``y = -1`` or ``y = rows``) leaves the
    mesh through that edge, which is how replies reach a host attached there. ``info``: the rest
    of the word, carried to the destination untouched (the tile's memory agent reads its opcode
    there).
    """
    return data.StructLayout({
        "x":    signed(params.coord_bits),
        "y":    signed(params.coord_bits),
        "info": unsigned(params.data_width - 2 * params.coord_bits),
    })


def route_layout():
    """One route-table entry: the input a color is accepted from and its set of outputs.

    ``outputs`` bit ``d`` set sends the color to :class:`Direction` ``d``; several bits set is a
    multicast, delivered once to each. No bit set means the color is not routed here.
    """
    return data.StructLayout({
        "accept":  Direction,
        "outputs": unsigned(NUM_PORTS),
    })


def route_write_layout(params):
    """A run-time write of one route-table entry."""
    return data.StructLayout({
        "color": unsigned(params.color_bits),
        "route": route_layout(),
    })


def wavelet_stream(params):
    return stream.Signature(wavelet_layout(params))
