"""What the router calls: the exported interfaces of the world (``routes``, ``tm-routes``,
``nosip-events``, ``msrp-events``, ``event-routes``, ``self-test``), dispatched to the methods of the
object the script's ``mod_init()`` returns.

A plugin's entry module (``scripts/build-plugins-py`` writes it) is::

    import my_script
    from KSR.routes import exports
    Routes, TmRoutes, NosipEvents, MsrpEvents, EventRoutes, SelfTest = exports(my_script)

The router's timers call ``ksr_timer_event(msg, "timer:NAME")`` and an expired entry of a
table with ``expired_event`` calls ``ksr_htable_event(msg, "htable:expired:TABLE")``.
"""

import traceback

from componentize_py_types import Err
from wit_world.exports import routes as _routes
from . import auth, hdr, pv, x

_CONTINUE = _routes.Verdict.CONTINUE


class Msg:
    """The current message, as ``app_python3``'s ``msg`` argument (its fields are read
    when asked for)."""

    _pv = staticmethod(pv.get)

    @property
    def Type(self):
        """``"SIP_REQUEST"`` or ``"SIP_REPLY"``."""
        return "SIP_REPLY" if self._pv("$rs") is not None else "SIP_REQUEST"

    @property
    def Method(self):
        """The request's method (a reply's: its CSeq method)."""
        return self._pv("$rm")

    @property
    def Status(self):
        """A reply's status code, `None` for a request."""
        return self._pv("$rs")

    @property
    def RURI(self):
        """The Request-URI, `None` for a reply."""
        return self._pv("$ru")

    @property
    def src_address(self):
        """``(ip, port)`` the message came from."""
        return (self._pv("$si"), self._pv("$sp"))

    @property
    def dst_address(self):
        """``(ip, port)`` of the socket it arrived on."""
        return (self._pv("$Ri"), self._pv("$Rp"))

    def getHeader(self, name):
        """The first `name` header's value, or `None`."""
        return hdr.get(name)

    def rewrite_ruri(self, uri):
        """Set the Request-URI."""
        pv.sets("$ru", uri)
        return 1

    def set_dst_uri(self, uri):
        """Set ``$du``, where the request is sent."""
        pv.sets("$du", uri)
        return 1


def _failed(e):
    """The route's error for exception `e`: its type, text and where it was raised."""
    where = traceback.extract_tb(e.__traceback__)
    at = f" at {where[-1].filename.rsplit('/', 1)[-1]}:{where[-1].lineno}" if where else ""
    text = repr(e.value) if isinstance(e, Err) else f"{type(e).__name__}: {e}"
    return f"{text}{at}"


class _NoSuchRoute(Exception):
    pass


def exports(script):
    """The classes of the world's exports for `script`, a module with ``mod_init()``."""
    made = []

    def plugin():
        if not made:
            mod_init = getattr(script, "mod_init", None)
            if mod_init is None:
                raise RuntimeError(f"{script.__name__} has no mod_init()")
            obj = mod_init()
            child_init = getattr(obj, "child_init", None)
            if child_init is not None:
                child_init(0)
            made.append(obj)
        return made[0]

    def run(name, *args, missing=None, route=None):
        """Run method `name` for route `route` (`name` by default); `missing` is the
        verdict when the object has no such method, else the route is unknown."""
        try:
            f = getattr(plugin(), name, None)
            if f is None:
                if missing is not None:
                    return missing
                raise _NoSuchRoute()
            auth._begin_event()
            f(Msg(), *args)
            return _CONTINUE
        except (x.Exit, SystemExit):
            return _routes.Verdict.EXIT
        except x.Drop:
            return _routes.Verdict.DROP
        except _NoSuchRoute:
            raise Err(_routes.RouteError_UnknownRoute(route or name)) from None
        except Exception as e:
            raise Err(_routes.RouteError_Failed(_failed(e))) from None

    class Routes:
        def request_route(self):
            return run("ksr_request_route", missing=_CONTINUE)

        def reply_route(self):
            return run("ksr_reply_route", route="reply_route")

        def named_route(self, name):
            return run(name)

    class TmRoutes:
        def failure_route(self, name):
            return run(name)

        def branch_route(self, name):
            return run(name)

        def onreply_route(self, name):
            return run(name)

    class NosipEvents:
        def msg(self):
            return run("ksr_nosip_event", "nosip:msg", missing=_CONTINUE)

    class MsrpEvents:
        def frame_in(self):
            return run("ksr_msrp_event", "msrp:frame-in", missing=_CONTINUE)

    class EventRoutes:
        def event_route(self, name):
            if name.startswith("htable:"):
                return run("ksr_htable_event", name, missing=_CONTINUE)
            return run("ksr_timer_event", name, missing=_CONTINUE)

    class SelfTest:
        def run(self):
            try:
                check = getattr(plugin(), "ksr_self_test", None)
                if check is not None:
                    check()
            except Exception as e:
                raise Err(_failed(e)) from None

    return Routes, TmRoutes, NosipEvents, MsrpEvents, EventRoutes, SelfTest
