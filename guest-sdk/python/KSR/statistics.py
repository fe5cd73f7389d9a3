"""`KSR.statistics`: the plugin's own counters (Kamailio's ``statistics`` module), shown in
``/metrics`` as ``sipwasm_plugin_stat{tenant, name}`` and in ``sipwasm ctl stats``. Names
are 1-64 characters of a-z, 0-9 and _."""

from wit_world.imports import statistics as _statistics

from ._call import call


def update_stat(name, value):
    """Add `value` (negative: subtract) to counter `name` (created at 0): the new value."""
    return call("statistics", _statistics.update_stat, name, int(value))


def reset_stat(name):
    """Set counter `name` back to 0."""
    call("statistics", _statistics.reset_stat, name)
    return 1


def get_stat(name):
    """The value of counter `name`, 0 when never updated (``$stat(name)``)."""
    return call("statistics", _statistics.get_stat, name)
