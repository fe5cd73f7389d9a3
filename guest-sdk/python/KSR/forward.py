"""Stateless forwarding, on `KSR` itself as in Kamailio's core (``KSR.forward()``)."""

from wit_world.imports import forward as _forward

from ._call import call


def forward():
    """Forward statelessly to ``$du``, or the Request-URI."""
    call("forward", _forward.forward, None)
    return 1


def forward_uri(uri):
    """Forward statelessly to the SIP URI `uri`."""
    call("forward", _forward.forward, uri)
    return 1
