"""Links between routers and their virtual channels.

A link carries one wavelet per cycle and has a ready bit per *channel*, so a full channel at the
receiver never stops the others. Each wavelet travels in one channel, a function of its own
fields (so every router, host and model agrees on it without being told):

* channel 0 (:attr:`Channel.REQUEST`): addressed wavelets with ``ctrl = 0``, requests;
* channel 1 (:attr:`Channel.REPLY`): addressed wavelets with ``ctrl = 1``, replies;
* channel ``2 + c % color_channels``: colored wavelets of color ``c``.

Requests and replies in separate channels keep a tile that waits to send a reply from ever
blocking the requests behind it, and the reverse (``docs/router.md``).

A link's members: ``valid`` and ``payload`` (from the sender), ``ready`` (from the receiver, one
bit per channel, a function of the receiver's state only). A wavelet is *transferred* at a rising
clock edge where ``valid`` is high and ``ready``'s bit for the wavelet's channel is set. A router
raises ``valid`` only for a wavelet whose channel is ready, so its every ``valid`` is a transfer;
other senders (a host) may hold a wavelet offered until its channel becomes ready.
"""

from amaranth.hdl import Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from .wavelet import wavelet_layout

__all__ = ["Channel", "FIRST_COLOR_CHANNEL", "num_channels", "channel_of", "wavelet_channel",
           "channel_name", "link_signature", "transferred", "all_channels"]


class Channel(enum.IntEnum):
    """The addressed channels; colored channels follow from :data:`FIRST_COLOR_CHANNEL`."""
    REQUEST = 0
    REPLY = 1


FIRST_COLOR_CHANNEL = 2


def num_channels(params):
    """Channels per link: the two addressed ones and ``color_channels``."""
    return FIRST_COLOR_CHANNEL + params.color_channels


def channel_of(params, wavelet):
    """The channel of a wavelet (a :func:`~.wavelet.wavelet_layout` view), as a hardware value."""
    color_channel = FIRST_COLOR_CHANNEL + wavelet.color % params.color_channels
    return Mux(wavelet.addressed, Mux(wavelet.ctrl, int(Channel.REPLY), int(Channel.REQUEST)),
               color_channel)


def wavelet_channel(params, *, addressed, ctrl=0, color=0):
    """The channel of a wavelet with these fields (for hosts, models and tests)."""
    if addressed:
        return int(Channel.REPLY if ctrl else Channel.REQUEST)
    return FIRST_COLOR_CHANNEL + color % params.color_channels


def channel_name(params, channel):
    """``"request"``, ``"reply"``, or ``"colors 1,5"`` (the colors mapped to a color channel)."""
    if channel < FIRST_COLOR_CHANNEL:
        return Channel(channel).name.lower()
    k = channel - FIRST_COLOR_CHANNEL
    colors = range(k, params.num_colors, params.color_channels)
    return f"color{'s' if len(colors) > 1 else ''} {','.join(map(str, colors))}"


def link_signature(params):
    """One direction of a link: ``valid`` and ``payload`` out, ``ready`` (a bit per channel)
    in."""
    return wiring.Signature({
        "valid": Out(1),
        "payload": Out(wavelet_layout(params)),
        "ready": In(num_channels(params)),
    })


def transferred(params, link):
    """The link moves its wavelet this cycle: ``valid`` and the ready bit of its channel."""
    return link.valid & link.ready.bit_select(channel_of(params, link.payload), 1)


def all_channels(params):
    """``ready`` with every channel's bit set (a sink that always takes everything)."""
    return (1 << num_channels(params)) - 1
