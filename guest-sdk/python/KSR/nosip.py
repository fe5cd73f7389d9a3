"""`KSR.nosip`: the datagram of ``event_route[nosip:msg]`` (read it with ``$mb``, ``$si``
...)."""

from wit_world.imports import nosip as _nosip

from ._call import call


def reply(data):
    """Send `data` (`bytes` or `str`) back to where the datagram came from."""
    if isinstance(data, str):
        data = data.encode()
    call("nosip", _nosip.reply, data)
    return 1
