"""How the KSR modules call the router: one place that turns the router's typed errors into
`KSR.Error`."""

from componentize_py_types import Err


class Error(Exception):
    """The router refused a call.

    `interface` is the WIT interface (``"tm"``, ``"registrar"`` ...), `kind` the error's
    case in kebab-case as in ``wit/`` (``"no-destination"``, ``"not-found"`` ...), and
    `detail` its text when it has one. A route that lets it escape fails its event: the
    router logs it with the plugin name and answers with the tenant's fallback reply, as
    ``?`` does in the Rust SDK.
    """

    def __init__(self, interface, kind, detail=None):
        self.interface = interface
        self.kind = kind
        self.detail = detail
        text = f"{interface}: {kind}"
        super().__init__(f"{text}: {detail}" if detail else text)


def _kebab(name):
    # Error_NoDestination -> no-destination
    case = name.split("_", 1)[-1]
    out = []
    for i, c in enumerate(case):
        if c.isupper() and i:
            out.append("-")
        out.append(c.lower())
    return "".join(out)


def error_of(interface, err):
    """The `KSR.Error` for the value of a binding's `Err`."""
    return Error(interface, _kebab(type(err).__name__), getattr(err, "value", None))


def call(interface, f, *args):
    """`f(*args)`, a binding of `interface`; its error raised as `KSR.Error`."""
    try:
        return f(*args)
    except Err as e:
        raise error_of(interface, e.value) from None


def call_or(interface, outcomes, f, *args):
    """`call`, with the errors named in `outcomes` (kind -> value) returned as those values:
    the results a route branches on, as KEMI returns them (`lookup` -1 when nobody is
    registered)."""
    try:
        return call(interface, f, *args)
    except Error as e:
        if e.kind in outcomes:
            return outcomes[e.kind]
        raise
