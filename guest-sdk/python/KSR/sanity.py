"""`KSR.sanity`: checks of a request before it is routed (Kamailio's ``sanity``), with
Kamailio's flags; a failed check is answered as Kamailio answers it."""

from wit_world.imports import sanity as _sanity

from ._call import call_or

DEFAULT_CHECKS = 3047
DEFAULT_URI_CHECKS = 7


def sanity_check(msg_checks, uri_checks):
    """1 when the request passes; -1 when it failed a check (answered already)."""
    result = call_or("sanity", {"failed": -1}, _sanity.check, int(msg_checks), int(uri_checks))
    return -1 if result == -1 else 1


def sanity_check_defaults():
    """`sanity_check` with Kamailio's default flags (3047, 7)."""
    return sanity_check(DEFAULT_CHECKS, DEFAULT_URI_CHECKS)


def sanity_reply():
    """The failure was answered by the check already (Kamailio's ``noreply`` 0): 1."""
    return 1
