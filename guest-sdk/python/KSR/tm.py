"""`KSR.tm` (and `KSR.tmx`): stateful forwarding, the transaction's routes and replies,
suspending and resuming a transaction."""

from wit_world.imports import tm as _tm

from ._call import call


def t_relay():
    """Forward statefully: the main branch (``$ru``, to ``$du`` when set) and every branch
    of the destination set (``append_branch``, ``KSR.registrar.lookup``)."""
    call("tm", _tm.t_relay, None)
    return 1


def t_relay_to(uri):
    """`t_relay` with every branch sent to the SIP URI `uri` instead."""
    call("tm", _tm.t_relay, uri)
    return 1


def append_branch(uri=None):
    """Add a branch to the destination set: `uri`, or the current ``$ru``/``$du``."""
    call("tm", _tm.append_branch, uri)
    return 1


def t_load_contacts():
    """Order the destination set by q-value for serial forking: how many contacts."""
    return call("tm", _tm.t_load_contacts)


def t_next_contacts():
    """Take the next group of contacts (highest q first): False when none is left."""
    return call("tm", _tm.t_next_contacts)


def t_on_branch(route):
    """Run the plugin's route `route` for every branch before it is sent."""
    _tm.t_on_branch(route)


def t_on_reply(route):
    """Run the plugin's route `route` for every reply of the transaction."""
    _tm.t_on_reply(route)


def t_on_failure(route):
    """Run the plugin's route `route` when every branch has failed."""
    _tm.t_on_failure(route)


def t_reply(code, reason):
    """Answer statefully (the transaction is made when there is none)."""
    call("tm", _tm.t_reply, code, reason)
    return 1


def t_newtran():
    """Make the transaction of the current request now."""
    call("tm", _tm.t_newtran)
    return 1


def t_check_trans():
    """True when the request belongs to a transaction (for a CANCEL: the INVITE's); a
    retransmission is absorbed by it."""
    return _tm.t_check_trans()


def t_is_canceled():
    """In a failure route: True when the transaction was canceled."""
    return _tm.t_is_canceled()


def t_get_status_code():
    """The status code of the transaction's best reply so far."""
    return call("tm", _tm.t_get_status_code)


def t_set_fr(fr_inv_ms, fr_ms=0):
    """Final-response timeouts for this transaction, in ms (0 keeps the default)."""
    call("tm", _tm.t_set_fr, fr_inv_ms, fr_ms)
    return 1


def t_suspend():
    """Suspend the request's transaction: ``(tindex, tlabel)`` to give to `t_continue`
    (from another event, such as a ``nosip`` datagram)."""
    return call("tm", _tm.t_suspend)


def t_continue(tindex, tlabel, route):
    """Resume the suspended transaction ``(tindex, tlabel)`` in the plugin's route
    `route`."""
    call("tm", _tm.t_continue, tindex, tlabel, route)
    return 1
