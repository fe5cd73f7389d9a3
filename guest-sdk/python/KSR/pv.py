"""`KSR.pv`: pseudo-variables, read and written by name (``$ru``, ``$si``, ``$hdr(Name)``,
``$(ci{s.len})``, ``$var(x)``, ``$avp(x)`` ...) with Kamailio's syntax, indexes and
transformations."""

from wit_world.imports import pv as _pv

from ._call import call


def _python(value):
    if isinstance(value, _pv.Value_Null):
        return None
    return value.value


def get(name):
    """The value of `name`: a `str`, an `int`, or `None` for ``$null``."""
    return _python(call("pv", _pv.get, name))


def gete(name):
    """The value as a string, ``""`` for ``$null``."""
    v = get(name)
    return "" if v is None else str(v)


def getw(name):
    """The value as a string, ``"<null>"`` for ``$null`` (as xlog prints it)."""
    v = get(name)
    return "<null>" if v is None else str(v)


def getvs(name, default):
    """The value as a string, `default` for ``$null``."""
    v = get(name)
    return default if v is None else str(v)


def getvn(name, default):
    """The value as an integer, `default` for ``$null`` or a value that is no number."""
    v = get(name)
    if isinstance(v, int):
        return v
    try:
        return int(v.strip()) if v is not None else default
    except ValueError:
        return default


def sets(name, value):
    """Assign a string."""
    call("pv", _pv.set_str, name, value)


def seti(name, value):
    """Assign an integer."""
    call("pv", _pv.set_int, name, value)


def unset(name):
    """Assign ``$null`` (``$du = $null``, delete an ``$avp``)."""
    call("pv", _pv.unset, name)


def is_null(name):
    """True when `name` is ``$null`` (the thing it names is absent)."""
    return call("pv", _pv.is_null, name)


def format(template):
    """`template` with its pseudo-variables expanded (``"$rm from $si:$sp"``)."""
    return call("pv", _pv.format, template)
