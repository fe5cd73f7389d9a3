"""Kamailio's core functions, called on `KSR` itself (``KSR.is_method("INVITE")``,
``KSR.setflag(5)``, ``KSR.force_rport()``)."""

from wit_world.imports import core as _core

from ._call import call


def setflag(flag):
    """Set message flag `flag` (0..31)."""
    call("core", _core.set_flag, flag)
    return 1


def resetflag(flag):
    """Clear message flag `flag`."""
    call("core", _core.reset_flag, flag)
    return 1


def isflagset(flag):
    """True when message flag `flag` is set."""
    return call("core", _core.is_flag_set, flag)


def is_method(method):
    """True when the request's method is `method` (a reply: its CSeq method)."""
    return _core.is_method(method)


def is_method_in(letters):
    """True when the method is one of `letters`: I(NVITE) A(CK) B(YE) C(ANCEL)
    R(EGISTER) M(ESSAGE) O(PTIONS) S(UBSCRIBE) P(UBLISH) N(OTIFY) U(PDATE) ..."""
    return _core.is_method_in(letters)


def _method_check(method):
    def check():
        return _core.is_method(method)

    check.__name__ = f"is_{method}"
    check.__doc__ = f"True when the method is {method}."
    return check


is_INVITE = _method_check("INVITE")
is_ACK = _method_check("ACK")
is_BYE = _method_check("BYE")
is_CANCEL = _method_check("CANCEL")
is_REGISTER = _method_check("REGISTER")
is_MESSAGE = _method_check("MESSAGE")
is_OPTIONS = _method_check("OPTIONS")
is_SUBSCRIBE = _method_check("SUBSCRIBE")
is_PUBLISH = _method_check("PUBLISH")
is_NOTIFY = _method_check("NOTIFY")
is_INFO = _method_check("INFO")
is_UPDATE = _method_check("UPDATE")
is_PRACK = _method_check("PRACK")


def is_myself(uri):
    """True when `uri` names this router (a listener's address or an alias)."""
    return call("core", _core.is_myself, uri)


def is_myself_ruri():
    """True when the Request-URI names this router."""
    return _core.is_myself_ruri()


def is_myself_furi():
    """True when the From URI names this router (a local user calls)."""
    return _core.is_myself_furi()


def is_myself_turi():
    """True when the To URI names this router."""
    return _core.is_myself_turi()


def is_myself_srcip():
    """True when the message came from one of this router's addresses."""
    return _core.is_myself_srcip()


def set_drop():
    """Drop the message when the route ends (``KSR.x.drop()`` also ends it now)."""
    _core.set_drop()


def force_rport():
    """Answer to the source port as if the top Via had ``rport`` (RFC 3581)."""
    _core.force_rport()
    return 1


def set_advertised_address(host):
    """The address written in our Via and Record-Route for this message."""
    call("core", _core.set_advertised_address, host)
    return 1


def set_advertised_port(port):
    """The port written in our Via and Record-Route for this message."""
    _core.set_advertised_port(port)
    return 1
