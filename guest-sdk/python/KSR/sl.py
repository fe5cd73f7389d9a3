"""`KSR.sl`: stateless replies."""

from wit_world.imports import sl as _sl

from ._call import call


def send_reply(code, reason):
    """Answer the current request with `code` and `reason` (``sl_send_reply``). An ACK is
    never answered: nothing is sent, as in Kamailio."""
    call("sl", _sl.send_reply, code, reason)
    return 1


sl_send_reply = send_reply


def send_reply_error():
    """Answer with the reply that fits the last error of the request (``sl_reply_error``):
    a failed ``t_relay`` gets 500 or 483 ..."""
    call("sl", _sl.send_reply_error)
    return 1


sl_reply_error = send_reply_error


def append_to_reply(headers):
    """Add header lines (``"Name: value\\r\\n"``) to the reply the route sends."""
    call("sl", _sl.append_to_reply, headers)
    return 1
