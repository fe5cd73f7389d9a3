"""`KSR.pike`: flood detection per source address (Kamailio's ``pike``)."""

from wit_world.imports import pike as _pike

_VALUES = {
    _pike.Standing.ALLOWED: 1,
    _pike.Standing.NEWLY_BLOCKED: -2,
    _pike.Standing.BLOCKED: -1,
}


def pike_check_req():
    """Count the request against its source address: 1 under the limit, -2 blocked by
    this request, -1 blocked already, as Kamailio."""
    return _VALUES[_pike.check_req()]


def pike_check_ip(ip):
    """`pike_check_req` for `ip`; -1 when it is not an IP address."""
    standing = _pike.check_ip(ip)
    return -1 if standing is None else _VALUES[standing]
