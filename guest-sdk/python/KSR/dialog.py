"""`KSR.dialog`: calls per user, against toll fraud (what Kamailio operators build from
the dialog module's profiles and ``get_profile_size``, in one call). The router counts a
call until its transaction settles it: a failure frees its place at once, a 2xx keeps it
until the BYE."""

from wit_world.imports import dialog as _dialog

from ._call import Error, call

OK = 1
NOT_A_CALL = -1
CONCURRENT = -2
PER_MINUTE = -3
"""The results of `limit_calls`."""

_CODES = {"not-a-call": NOT_A_CALL, "concurrent": CONCURRENT, "per-minute": PER_MINUTE}


def limit_calls(user, concurrent, per_minute):
    """Count this initial INVITE as a call of `user` when it has fewer than `concurrent`
    calls up or ringing and started fewer than `per_minute` in the last minute (0: no
    limit): `OK` (1), or `CONCURRENT`, `PER_MINUTE`, `NOT_A_CALL` (negative)."""
    try:
        call("dialog", _dialog.limit_calls, user, concurrent, per_minute)
        return OK
    except Error as e:
        if e.kind not in _CODES:
            raise
        return _CODES[e.kind]


def get_profile_size(user):
    """Calls of `user` up or ringing."""
    return _dialog.calls_of(user)
