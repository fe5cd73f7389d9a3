"""`KSR.ratelimit`: rate limits (Kamailio's ``ratelimit``), pipes and queues of the
router config; each tenant counts its own requests."""

from wit_world.imports import ratelimit as _ratelimit

from ._call import call


def rl_check():
    """1 when the request may pass its method's pipe, -1 when it is over the limit."""
    return 1 if call("ratelimit", _ratelimit.check) else -1


def rl_check_pipe(pipe):
    """`rl_check` against `pipe`."""
    return 1 if call("ratelimit", _ratelimit.check_pipe, int(pipe)) else -1
