"""`KSR.x`: how a route ends early.

Both raise (as `sys.exit()` does in Kamailio's app_python3): the rest of the route and of
the routes that called it do not run. They derive from `BaseException`, so an
``except Exception`` in the script does not stop them.
"""


class Exit(BaseException):
    """`exit`: the route stops here; what it did (a reply, a relay) stands."""


class Drop(BaseException):
    """`drop`: the route stops here and the message is not sent on."""


def exit():
    """End the route (`exit`)."""
    raise Exit()


def drop():
    """End the route and drop the message (`drop`)."""
    raise Drop()
