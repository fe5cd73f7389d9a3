"""`KSR.rr`: Record-Route and loose routing."""

from wit_world.imports import rr as _rr

from . import x
from ._call import Error, call

NO_ROUTE = -1
"""`loose_route`: no Route header, nothing done."""
ROUTE_SET = 1
"""`loose_route`: the next hop comes from the route set (``$du``, or the Request-URI)."""
FLOW = 2
"""`loose_route`: the next hop is a UA's flow (outbound, a Path ``received``)."""
PRELOADED = 3
"""`loose_route`: an initial request whose Route named only this router (an outbound
proxy): the entries were removed."""

_CODES = {
    _rr.Routed.NO_ROUTE: NO_ROUTE,
    _rr.Routed.ROUTE_SET: ROUTE_SET,
    _rr.Routed.FLOW: FLOW,
    _rr.Routed.PRELOADED: PRELOADED,
}


def record_route():
    """Add our Record-Route (two for a request that changes transport)."""
    call("rr", _rr.record_route)
    return 1


def record_route_params(params):
    """`record_route` with ``;params`` in our entry."""
    call("rr", _rr.record_route_params, params)
    return 1


def loose_route():
    """Follow the Route set (RFC 3261 §16.4, §16.12): one of `NO_ROUTE` (-1, as
    Kamailio), `ROUTE_SET`, `FLOW`, `PRELOADED`. A Route set this router did not issue is
    answered 403 and the route ends (`KSR.x.exit()`)."""
    try:
        return _CODES[call("rr", _rr.loose_route)]
    except Error as e:
        if e.kind == "forbidden":
            x.exit()
        raise
