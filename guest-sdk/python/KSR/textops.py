"""`KSR.textops`: text operations on the message (Kamailio's ``textops`` and
``textopsx``). Each body operation sees the body as the previous ones left it; the
Content-Length is always written from the body sent. Searches and substitutions return 1
(or how many were replaced) when something matched, else -1, as KEMI does."""

from wit_world.imports import textops as _textops

from ._call import call


def _bytes(data):
    return data.encode() if isinstance(data, str) else bytes(data)


def _found(ok):
    return 1 if ok else -1


def _count(n):
    return n if n > 0 else -1


def has_body(content_type=""):
    """1 when the message has a body (of `content_type`, or a part of it), else -1."""
    return _found(_textops.has_body(content_type))


def get_body():
    """The body as it will be sent."""
    return bytes(_textops.get_body()).decode("utf-8", "replace")


def set_body(body, content_type=""):
    """A new body; `content_type` "" keeps the message's."""
    call("textops", _textops.set_body, _bytes(body), content_type)
    return 1


def remove_body():
    """No body, no Content-Type."""
    call("textops", _textops.remove_body)
    return 1


def set_reply_body(body, content_type):
    """The body of the replies this event sends."""
    call("textops", _textops.set_reply_body, _bytes(body), content_type)
    return 1


def search(regex):
    return _found(call("textops", _textops.search, regex))


def search_body(regex):
    return _found(call("textops", _textops.search_body, regex))


def search_hf(name, regex):
    return _found(call("textops", _textops.search_hf, name, regex))


def replace_body(regex, text):
    return _count(call("textops", _textops.replace_body, regex, text, False))


def replace_body_all(regex, text):
    return _count(call("textops", _textops.replace_body, regex, text, True))


def subst_body(expr):
    """sed-like ``/regex/replacement/flags`` (``\\1`` groups; flags g, i, s)."""
    return _count(call("textops", _textops.subst_body, expr))


def subst_hf(name, expr, which="f"):
    """`which`: "f" first, "l" last, "a" every header called `name`."""
    return _count(call("textops", _textops.subst_hf, name, expr, which))


def get_body_part(content_type):
    """The content of that part of a multipart body, or None."""
    part = _textops.get_body_part(content_type)
    return None if part is None else bytes(part).decode("utf-8", "replace")


def filter_body(content_type):
    return _found(call("textops", _textops.filter_body, content_type))
