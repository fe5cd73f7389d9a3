"""`KSR.maxfwd`: Max-Forwards."""

from wit_world.imports import maxfwd as _maxfwd

from ._call import call_or


def process_maxfwd(limit):
    """Decrement Max-Forwards (capped at `limit`), or add it with `limit`: 1 when it was
    decremented, 2 when added; -1 when it is 0 (answer 483 Too Many Hops), as Kamailio."""
    outcome = call_or("maxfwd", {"exhausted": -1}, _maxfwd.process_maxfwd, limit)
    if outcome == -1:
        return -1
    return 2 if outcome == _maxfwd.Outcome.ADDED else 1
