"""Logging into the router's log, each line tagged with the plugin and the route:
``KSR.info(...)`` ... as the core's KEMI functions, and ``KSR.xlog.xinfo(...)`` ... whose
text is a template with pseudo-variables (``"$rm from $si"``)."""

from wit_world.imports import log as _log

from ._call import call

_LEVELS = {
    "dbg": _log.Level.DEBUG,
    "info": _log.Level.INFO,
    "notice": _log.Level.NOTICE,
    "warn": _log.Level.WARN,
    "err": _log.Level.ERROR,
    "crit": _log.Level.CRIT,
}


def _level(name):
    try:
        return _LEVELS[name]
    except KeyError:
        raise ValueError(f"log level {name!r}: one of {', '.join(_LEVELS)}") from None


def log(level, message):
    """Log `message` at `level`: ``"dbg"``, ``"info"``, ``"notice"``, ``"warn"``,
    ``"err"`` or ``"crit"``. A trailing newline (as KEMI scripts write) is dropped."""
    _log.log(_level(level), message.rstrip("\n"))


def xlog(level, template):
    """Log `template` with its pseudo-variables expanded, at `level`."""
    call("log", _log.xlog, _level(level), template.rstrip("\n"))
    return 1


def _at(level, f):
    def logger(text):
        return f(level, text)

    logger.__name__ = ("x" if f is xlog else "") + level
    logger.__doc__ = f"{f.__name__} at level {level!r}."
    return logger


dbg = _at("dbg", log)
info = _at("info", log)
notice = _at("notice", log)
warn = _at("warn", log)
err = _at("err", log)
crit = _at("crit", log)

xdbg = _at("dbg", xlog)
xinfo = _at("info", xlog)
xnotice = _at("notice", xlog)
xwarn = _at("warn", xlog)
xerr = _at("err", xlog)
xcrit = _at("crit", xlog)
