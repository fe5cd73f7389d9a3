"""`KSR.rtimer`: timers, as Kamailio's ``rtimer`` module. The timers the plugin's config
section declares (``[[plugin.rtimer]] name``, ``interval_ms``) call
``ksr_timer_event(msg, "timer:NAME")``; ``once`` asks for one such call later. There,
``$rtimer(name)`` and ``$rtimer(data)`` describe the timer; there is no SIP message."""

from wit_world.imports import rtimer as _rtimer

from ._call import call


def once(name, delay_ms, data=""):
    """Call ``ksr_timer_event(msg, "timer:NAME")`` once, `delay_ms` from now, with
    ``$rtimer(data)`` set to `data`."""
    call("rtimer", _rtimer.once, name, int(delay_ms), str(data))
    return 1
