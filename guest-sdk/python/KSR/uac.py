"""`KSR.uac`: the router as a client (Kamailio's ``uac`` module): answer a carrier's
challenge in a failure route, replace From and To (restored in replies and the dialog's
later requests), send a request of the router's own."""

from wit_world.imports import uac as _uac

from ._call import call


def uac_auth(realm, username, password):
    """In a failure route after a 401/407: credentials for `realm` (only a challenge
    naming it is answered), for the next ``t_relay``."""
    call("uac", _uac.auth, realm, username, password)
    return 1


def uac_replace_from(display, uri):
    call("uac", _uac.replace_from, display, uri)
    return 1


def uac_replace_to(display, uri):
    call("uac", _uac.replace_to, display, uri)
    return 1


def uac_req_send(method, ruri, furi, turi, ouri="", hdrs="", body=b""):
    """A request from the router (Kamailio's ``$uac_req(...)`` keys), sent again over UDP
    until answered; not INVITE, ACK or CANCEL."""
    if isinstance(body, str):
        body = body.encode()
    req = _uac.Request(method, ruri, furi, turi, ouri, hdrs, bytes(body))
    call("uac", _uac.req_send, req)
    return 1
