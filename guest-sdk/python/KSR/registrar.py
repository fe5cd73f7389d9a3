"""`KSR.registrar`: the location table."""

from wit_world.imports import registrar as _registrar

from ._call import call, call_or


def save(table, flags=0):
    """Store the REGISTER's bindings in `table` and answer it (200 with the bindings, or
    the error reply): how many contacts are bound. `flags` is Kamailio's and must be 0."""
    if flags:
        raise ValueError("registrar.save: only flags 0 is supported")
    return call("registrar", _registrar.save, table)


def lookup(table):
    """Point the request at the contacts registered for its Request-URI: how many
    branches were made; -1 when nobody is registered there, as Kamailio."""
    return call_or("registrar", {"not-found": -1}, _registrar.lookup, table)


def registered(table, uri=None):
    """True when `uri` (the Request-URI when `None`) has a binding in `table`."""
    return _registrar.registered(table, uri)
