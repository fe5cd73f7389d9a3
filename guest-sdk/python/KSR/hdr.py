"""`KSR.hdr`: the headers of the current message, as the textops functions."""

from wit_world.imports import hdr as _hdr

from ._call import call


def append(headers):
    """Add header lines after the last header (``append_hf``): ``"X-A: 1\\r\\n"``."""
    call("hdr", _hdr.append, headers)
    return 1


def append_after(headers, name):
    """Add header lines after the first `name` header."""
    call("hdr", _hdr.append_after, headers, name)
    return 1


def insert(headers):
    """Add header lines before the first header (``insert_hf``)."""
    call("hdr", _hdr.insert, headers)
    return 1


def insert_before(headers, name):
    """Add header lines before the first `name` header."""
    call("hdr", _hdr.insert_before, headers, name)
    return 1


def remove(name):
    """Remove every `name` header (``remove_hf``): how many were removed."""
    return call("hdr", _hdr.remove, name)


def is_present(name):
    """True when the message has a `name` header (``is_present_hf``)."""
    return _hdr.is_present(name)


def get(name):
    """The value of the first `name` header, or `None`."""
    return _hdr.get(name)
