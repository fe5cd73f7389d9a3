"""`KSR.path`: Path headers for registrations through this router (RFC 3327)."""

from wit_world.imports import path as _path

from ._call import call


def add_path(user=None):
    """Add our Path to the REGISTER (with `user` in its URI when given)."""
    call("path", _path.add_path, user)
    return 1


def add_path_received(user=None):
    """`add_path` with the source address as ``received``: requests to the phone come
    back over the flow it registered from."""
    call("path", _path.add_path_received, user)
    return 1
