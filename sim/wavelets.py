"""Wavelets, headers and route-table writes as Python values and as the integers on the wires.

Bit positions come from the Amaranth layouts in :mod:`tessera.hdl.wavelet`, so the testbenches
and the hardware cannot disagree about a format.
"""

from dataclasses import dataclass

from ..hdl.link import num_channels, wavelet_channel
from ..hdl.routing import Route
from ..hdl.wavelet import header_layout, route_write_layout, wavelet_layout

__all__ = ["Wavelet", "WaveletCodec"]


@dataclass(frozen=True)
class Wavelet:
    """One wavelet, as testbenches see it."""
    data: int
    color: int = 0
    ctrl: bool = False
    addressed: bool = False
    last: bool = False


def _pack(layout, fields):
    word = 0
    for name, value in fields.items():
        f = layout[name]
        width = f.shape.width if hasattr(f.shape, "width") else f.width
        value = int(value)
        if not 0 <= value < (1 << width):
            raise ValueError(f"{name} must fit {width} bits, not {value}")
        word |= value << f.offset
    return word


def _unpack(layout, word, names):
    return {name: (int(word) >> layout[name].offset) & ((1 << layout[name].width) - 1)
            for name in names}


class WaveletCodec:
    """Packs and unpacks the wire formats of one parameter set."""

    def __init__(self, params):
        self.params = params
        self.wavelet = wavelet_layout(params)
        self.header = header_layout(params)
        self.route_write = route_write_layout(params)
        self.width = self.wavelet.size

    def pack(self, w):
        return _pack(self.wavelet, {"data": w.data, "color": w.color, "ctrl": w.ctrl,
                                    "addressed": w.addressed, "last": w.last})

    def unpack(self, word):
        f = _unpack(self.wavelet, word, ["data", "color", "ctrl", "addressed", "last"])
        return Wavelet(data=f["data"], color=f["color"], ctrl=bool(f["ctrl"]),
                       addressed=bool(f["addressed"]), last=bool(f["last"]))

    def header_data(self, x, y, info=0):
        """The ``data`` of an addressed packet's head wavelet; ``x`` and ``y`` are signed."""
        bits = self.params.coord_bits
        for name, value in (("x", x), ("y", y)):
            if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
                raise ValueError(f"{name} must fit {bits} signed bits, not {value}")
        mask = (1 << bits) - 1
        return _pack(self.header, {"x": x & mask, "y": y & mask, "info": info})

    def header_fields(self, data):
        """``{"x", "y", "info"}`` of a header; ``x`` and ``y`` signed."""
        fields = _unpack(self.header, data, ["x", "y", "info"])
        half = 1 << (self.params.coord_bits - 1)
        for name in ("x", "y"):
            fields[name] = ((fields[name] + half) % (2 * half)) - half
        return fields

    def packet(self, x, y, payload=(), *, info=0, color=0, reply=False):
        """An addressed packet to tile ``(x, y)``: a head wavelet, then one per payload word; a
        request, or with ``reply`` a reply (``ctrl`` set: the reply channel)."""
        words = [self.header_data(x, y, info), *payload]
        return [Wavelet(data=d, color=color, ctrl=reply, addressed=True,
                        last=(k == len(words) - 1))
                for k, d in enumerate(words)]

    def channel(self, w):
        """The channel a wavelet travels in (:mod:`tessera.hdl.link`)."""
        return wavelet_channel(self.params, addressed=w.addressed, ctrl=w.ctrl, color=w.color)

    @property
    def channels(self):
        return num_channels(self.params)

    def route_write_word(self, color, route):
        """The ``config`` payload that sets ``color``'s route-table entry to ``route``."""
        if not 0 <= color < self.params.num_colors:
            raise ValueError(f"color must be in 0..{self.params.num_colors - 1}, not {color}")
        if not isinstance(route, Route):
            raise TypeError(f"route must be a Route, not {route!r}")
        route_layout = self.route_write["route"].shape
        route_word = _pack(route_layout, {"accept": int(route.accept),
                                          "outputs": route.outputs_mask})
        return _pack(self.route_write, {"color": color, "route": route_word})
