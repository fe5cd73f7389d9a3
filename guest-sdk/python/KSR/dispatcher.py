"""`KSR.dispatcher`: load balancing over the router's destination sets with health probes
and failover (Kamailio's ``dispatcher``). Algorithms go by Kamailio's numbers (0 Call-ID
hash, 4 round-robin, 8 priority, 9 weight, 10 call load, ...); functions return 1 or -1
as KEMI does."""

from wit_world.imports import dispatcher as _dispatcher

from ._call import call, call_or

_FOUND = {"none-active": -1, "none-left": -1}


def _found(f, *args):
    return 1 if call_or("dispatcher", _FOUND, f, *args) is None else -1


def ds_select_dst(set_id, alg):
    """``$du`` becomes a destination of `set_id`; the others are kept for
    `ds_next_dst`. -1 when none is active."""
    return _found(_dispatcher.select_dst, int(set_id), int(alg), 0)


def ds_select_dst_limit(set_id, alg, limit):
    """`ds_select_dst` keeping at most `limit` destinations in all (0: no limit)."""
    return _found(_dispatcher.select_dst, int(set_id), int(alg), int(limit))


def ds_select_domain(set_id, alg):
    """The Request-URI's host and port become the destination's. -1 when none is
    active."""
    return _found(_dispatcher.select_domain, int(set_id), int(alg), 0)


def ds_select_domain_limit(set_id, alg, limit):
    """`ds_select_domain` keeping at most `limit` destinations."""
    return _found(_dispatcher.select_domain, int(set_id), int(alg), int(limit))


def ds_next_dst():
    """The next destination kept by the selection (a failure route); -1 when every one
    was tried."""
    return _found(_dispatcher.next_dst)


def ds_next_domain():
    """`ds_next_dst` for a `ds_select_domain` selection."""
    return _found(_dispatcher.next_dst)


def ds_mark_dst():
    """The destination last selected is out of service ("ip") until it answers probes."""
    return ds_mark_dst_state("ip")


def ds_mark_dst_state(state):
    """Mark the destination last selected: "i", "a", "d" or "t", with "p" to probe it."""
    call("dispatcher", _dispatcher.mark_dst, state)
    return 1


def ds_is_from_list(group):
    """1 when the request came from a destination of set `group` (-1: any set)."""
    group = int(group)
    found = _dispatcher.is_from_list(None if group < 0 else group)
    return 1 if found is not None else -1


def ds_is_from_lists():
    """1 when the request came from a destination of any set granted."""
    return ds_is_from_list(-1)


def ds_load_unset():
    """The call balanced with algorithm 10 failed: it no longer counts."""
    return 1 if _dispatcher.load_unset() else -1


def ds_load_update():
    """On a BYE or CANCEL: the call no longer counts."""
    return 1 if _dispatcher.load_update() else -1
