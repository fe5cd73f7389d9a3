"""`KSR.siputils`: checks and conversions of Kamailio's ``siputils`` module."""

from wit_world.imports import siputils as _siputils

from ._call import call


def _found(ok):
    return 1 if ok else -1


def has_totag():
    """True when the To header has a tag (an in-dialog request)."""
    return _siputils.has_totag()


def is_e164(number):
    """1 for ``+`` and 2 to 15 digits, else -1."""
    return _found(_siputils.is_e164(number))


def is_uri_user_e164(uri):
    """1 when the user part of `uri` is an E.164 number, else -1."""
    return _found(_siputils.is_uri_user_e164(uri))


def is_user(user):
    """1 when the credentials ``auth`` checked carry that user name, else -1."""
    return _found(_siputils.is_user(user))


def uri_param(name, value=None):
    """1 when the Request-URI has the parameter (with that value), else -1."""
    return _found(_siputils.uri_param(name, value))


def add_uri_param(param):
    """``name`` or ``name=value`` added to the Request-URI."""
    call("siputils", _siputils.add_uri_param, param)
    return 1


def tel2sip(uri, hostpart):
    """The SIP URI for a ``tel:`` one, or `uri` itself when it is not one."""
    sip = call("siputils", _siputils.tel2sip, uri, hostpart)
    return uri if sip is None else sip
