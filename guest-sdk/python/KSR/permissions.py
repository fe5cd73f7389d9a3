"""`KSR.permissions`: address groups from ``[[permissions.address]]`` (Kamailio's
``permissions`` address table); a match puts the entry's tag in ``$avp(peer_tag)``."""

from wit_world.imports import permissions as _permissions

from ._call import call


def allow_source_address(group=1):
    """1 when the request's source matches an entry of `group`, else -1."""
    return 1 if _permissions.allow_source_address(int(group)) else -1


def allow_address(group, ip, port):
    """1 when `ip` and `port` match an entry of `group`, else -1."""
    ok = call("permissions", _permissions.allow_address, int(group), ip, int(port))
    return 1 if ok else -1


def allow_source_address_group():
    """The group of the first entry the source matches, or -1."""
    group = _permissions.allow_source_address_group()
    return -1 if group is None else group
