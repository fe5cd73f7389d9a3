"""`KSR.siputils`."""

from wit_world.imports import siputils as _siputils


def has_totag():
    """True when the To header has a tag (an in-dialog request)."""
    return _siputils.has_totag()
