"""`KSR.msrp`: the MSRP relay (``event_route[msrp:frame-in]``); the frame is read with
``$msrp(...)`` pseudo-variables."""

from wit_world.imports import msrp as _msrp

from ._call import call


def reply(code, text, headers=None):
    """Answer the frame with `code` and `text`, and extra header lines (``"Use-Path:
    ...\\r\\n"``)."""
    call("msrp", _msrp.reply, code, text, headers)
    return 1


def relay():
    """Relay the frame to the next To-Path hop (or the `set_dst` destination)."""
    call("msrp", _msrp.relay)
    return 1


def forward(to_path, from_path):
    """Send the frame with these To-Path and From-Path values (space-separated URIs)."""
    call("msrp", _msrp.forward, to_path, from_path)
    return 1


def set_dst(addr, sock):
    """Relay to `addr` (``"tcp:IP:PORT"``) from local socket `sock` (``""`` for any)."""
    call("msrp", _msrp.set_dst, addr, sock)
    return 1


def relay_flags(flags):
    """Flags for `relay`/`forward`: 1 = only on an open connection, 2 = close after."""
    _msrp.relay_flags(flags)
    return 1


def reply_flags(flags):
    """The same flags for `reply`."""
    _msrp.reply_flags(flags)
    return 1


def is_request():
    """True when the frame is a request (SEND, REPORT, AUTH)."""
    return _msrp.is_request()


def is_reply():
    """True when the frame is a response."""
    return _msrp.is_reply()
