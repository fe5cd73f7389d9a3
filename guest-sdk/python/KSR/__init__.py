"""KSR: Kamailio's KEMI object for sipwasm plugins written in Python.

A plugin is a script in the style of Kamailio's ``app_python3``: a ``mod_init()`` that
returns an object whose methods are the routes::

    import KSR

    def mod_init():
        return Router()

    class Router:
        def ksr_request_route(self, msg):
            if KSR.maxfwd.process_maxfwd(10) < 0:
                KSR.sl.send_reply(483, "Too Many Hops")
                KSR.x.exit()
            KSR.tm.t_on_failure("ksr_failure_route_one")
            KSR.tm.t_relay()

        def ksr_failure_route_one(self, msg):
            KSR.info("every branch failed")

``ksr_request_route`` and ``ksr_reply_route`` are called as their routes; any other
method by its name (a name given to ``KSR.tm.t_on_failure``, ``t_on_branch``,
``t_on_reply``, ``t_continue``); ``ksr_nosip_event(msg, evname)`` for
``event_route[nosip:msg]`` and ``ksr_msrp_event(msg, evname)`` for
``event_route[msrp:frame-in]``; ``ksr_timer_event(msg, evname)`` for the router's timers
(``timer:NAME``, see `KSR.rtimer`) and ``ksr_htable_event(msg, evname)`` for
``htable:expired:TABLE``; ``ksr_self_test()`` before a new version is swapped in.

Results a route branches on are return values, as in KEMI (``KSR.registrar.lookup``
returns -1 when nobody is registered, ``KSR.maxfwd.process_maxfwd`` -1 at 0); a call the
router refuses raises `KSR.Error` (a bad pseudo-variable name, ``t_relay`` with no
destination ...), which fails the event unless the route catches it. ``KSR.x.exit()`` and
``KSR.x.drop()`` (and ``sys.exit()``) end the route.
"""

from . import (
    auth,
    config,
    dialog,
    dispatcher,
    hdr,
    htable,
    maxfwd,
    msrp,
    nathelper,
    net,
    nosip,
    path,
    permissions,
    pike,
    pv,
    ratelimit,
    registrar,
    rr,
    rtimer,
    sanity,
    sdpops,
    siputils,
    sl,
    statistics,
    textops,
    tm,
    uac,
    x,
)
from . import log as xlog
from ._call import Error
from .core import (
    force_rport,
    is_ACK,
    is_BYE,
    is_CANCEL,
    is_INFO,
    is_INVITE,
    is_MESSAGE,
    is_method,
    is_method_in,
    is_myself,
    is_myself_furi,
    is_myself_ruri,
    is_myself_srcip,
    is_myself_turi,
    is_NOTIFY,
    is_OPTIONS,
    is_PRACK,
    is_PUBLISH,
    is_REGISTER,
    is_SUBSCRIBE,
    is_UPDATE,
    isflagset,
    resetflag,
    set_advertised_address,
    set_advertised_port,
    set_drop,
    setflag,
)
from .forward import forward, forward_uri

# last: `KSR.log` is the function (KEMI's), the module is `KSR.xlog`
from .log import crit, dbg, err, info, log, notice, warn

tmx = tm
"""Kamailio keeps ``t_suspend``/``t_continue`` in ``tmx``: the same functions."""
