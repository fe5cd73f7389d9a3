"""`KSR.net`: datagrams to an outside application, to destinations the router config
grants (``udp_allow``); at most 16 per event."""

from wit_world.imports import net as _net

from ._call import call


def send_udp(dst, payload):
    """Send `payload` (`bytes` or `str`) to `dst` (``"127.0.0.1:9999"``) when the event
    ends."""
    if isinstance(payload, str):
        payload = payload.encode()
    call("net", _net.send_udp, dst, payload)
    return 1
