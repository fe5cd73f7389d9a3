"""`KSR.auth`: digest authentication; the plugin supplies the password, or its HA1 with
flag 1 (Kamailio's ``pv_www_authenticate`` / ``pv_proxy_authenticate``). Nonces expire
and cannot be replayed; the router counts failures, bans guessing sources and throttles
users guessed at from many addresses."""

from wit_world.imports import auth as _auth

from ._call import Error, call

OK = 1
ERROR = -1
INVALID_PASSWORD = -2
STALE_NONCE = -4
NO_CREDENTIALS = -5
NONCE_REUSED = -6
"""The results of `pv_www_authenticate` / `pv_proxy_authenticate`, Kamailio's codes."""

_CODES = {
    "no-credentials": NO_CREDENTIALS,
    "malformed": ERROR,
    "invalid-nonce": ERROR,
    "stale-nonce": STALE_NONCE,
    "nonce-reused": NONCE_REUSED,
    "invalid-password": INVALID_PASSWORD,
}

# The last check's kind and whether its nonce was stale: the next challenge of the same
# event says `stale` (RFC 7616 §3.3), and consume_credentials removes what was checked.
_last = {"kind": None, "stale": False}


def _begin_event():
    _last["kind"] = None
    _last["stale"] = False


HA1 = 1
"""Flag: the password given is HA1 hashes (``sipwasm passwd USER REALM``), not the
password itself."""


def _authenticate(kind, realm, password, flags):
    _last["kind"] = kind
    _last["stale"] = False
    check = _auth.check_ha1 if flags & HA1 else _auth.check
    try:
        call("auth", check, kind, realm, password)
        return OK
    except Error as e:
        if e.kind not in _CODES:
            raise
        _last["stale"] = e.kind == "stale-nonce"
        return _CODES[e.kind]


def pv_www_authenticate(realm, password, flags=0):
    """Check the Authorization credentials for `realm` against `password`: `OK` (1), or
    a negative code: `NO_CREDENTIALS` (challenge), `STALE_NONCE` (challenge again),
    `INVALID_PASSWORD`, `NONCE_REUSED`, `ERROR` (malformed, not our nonce). ``$au`` is the
    user once checked. With ``flags`` `HA1` (1), ``password`` is HA1 hashes."""
    return _authenticate(_auth.Kind.WWW, realm, password, flags)


def pv_proxy_authenticate(realm, password, flags=0):
    """`pv_www_authenticate` for Proxy-Authorization (requests other than REGISTER)."""
    return _authenticate(_auth.Kind.PROXY, realm, password, flags)


def _challenge(kind, realm):
    stale = _last["stale"] and _last["kind"] == kind
    call("auth", _auth.challenge, kind, realm, [_auth.Algorithm.MD5], stale)
    return 1


def www_challenge(realm, flags=0):
    """Answer 401 with a WWW-Authenticate challenge for `realm` (stale when the last
    check found a stale nonce). End the route afterwards."""
    return _challenge(_auth.Kind.WWW, realm)


def proxy_challenge(realm, flags=0):
    """Answer 407 with a Proxy-Authenticate challenge for `realm`."""
    return _challenge(_auth.Kind.PROXY, realm)


def auth_challenge(realm, flags=0):
    """`www_challenge` for a REGISTER, `proxy_challenge` for anything else."""
    from wit_world.imports import core

    if core.is_method("REGISTER"):
        return www_challenge(realm, flags)
    return proxy_challenge(realm, flags)


def has_credentials(realm):
    """True when the request has Digest credentials for `realm` (either header)."""
    return _auth.has_credentials(_auth.Kind.WWW, realm) or _auth.has_credentials(
        _auth.Kind.PROXY, realm
    )


def username(realm, proxy=False):
    """The user name in the credentials for `realm` (before they are checked), or
    `None`: to find the password to check them with."""
    kind = _auth.Kind.PROXY if proxy else _auth.Kind.WWW
    return _auth.username(kind, realm)


def consume_credentials():
    """Remove the checked credentials before the request goes on."""
    kinds = [_last["kind"]] if _last["kind"] is not None else list(_auth.Kind)
    return 1 if any([_auth.consume_credentials(k) for k in kinds]) else -1
