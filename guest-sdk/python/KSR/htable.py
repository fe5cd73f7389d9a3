"""`KSR.htable`: shared tables (``[htable.NAME]`` in the config), read and written by
every tenant granted the table (``$sht(table=>key)``)."""

from wit_world.imports import htable as _htable

from ._call import call


def sht_get(table, key):
    """The value of `key` (`int` or `str`), `None` when missing or expired."""
    v = call("htable", _htable.get, table, key)
    return None if v is None else v.value


def sht_gete(table, key):
    """The value as a string, ``""`` when missing."""
    v = sht_get(table, key)
    return "" if v is None else str(v)


def sht_sets(table, key, value):
    """Set `key` to a string; its expiry restarts."""
    call("htable", _htable.set, table, key, _htable.Value_Str(value))
    return 1


def sht_seti(table, key, value):
    """Set `key` to an integer; its expiry restarts."""
    call("htable", _htable.set, table, key, _htable.Value_Int(value))
    return 1


def sht_rm(table, key):
    """Remove `key`: 1 when it had a value, -1 when not."""
    return 1 if call("htable", _htable.delete, table, key) else -1


def sht_inc(table, key):
    """Add 1 to the integer at `key` (0 when missing): the new value."""
    return call("htable", _htable.incr, table, key, 1)


def sht_dec(table, key):
    """Subtract 1 from the integer at `key`: the new value."""
    return call("htable", _htable.incr, table, key, -1)


def sht_setxs(table, key, value, seconds):
    """Set `key` to a string expiring `seconds` from now (0: never) instead of after the
    table's autoexpire."""
    call("htable", _htable.set_ex, table, key, _htable.Value_Str(str(value)), int(seconds))
    return 1


def sht_setxi(table, key, value, seconds):
    """`sht_setxs` for an integer."""
    call("htable", _htable.set_ex, table, key, _htable.Value_Int(int(value)), int(seconds))
    return 1


def sht_inc_within(table, key, by, low, high):
    """Add `by` unless the new value would leave `low..high`: the new value, or `None`
    when it would (nothing changed)."""
    return call("htable", _htable.incr_within, table, key, int(by), int(low), int(high))


def sht_is_null(table, key):
    """1 when `key` has no value, -1 when it has one."""
    return -1 if call("htable", _htable.exists, table, key) else 1
