"""`KSR.sdpops`: SDP operations (Kamailio's ``sdpops``, and nathelper's c=/o= rewrite) on
an ``application/sdp`` body or the SDP part of a multipart one. Codec lists are names or
payload types separated by commas. Tests return 1 or -1; removals how many went, or -1."""

from wit_world.imports import sdpops as _sdpops

from ._call import call


def _found(ok):
    return 1 if ok else -1


def _count(n):
    return n if n > 0 else -1


def sdp_content():
    return _found(_sdpops.sdp_content())


def sdp_with_media(media):
    return _found(call("sdpops", _sdpops.with_media, media))


def sdp_with_codecs_by_name(codecs):
    return _found(call("sdpops", _sdpops.with_codecs_by_name, codecs))


def sdp_with_codecs_by_id(codecs):
    return _found(call("sdpops", _sdpops.with_codecs_by_id, codecs))


def list_codecs():
    """Every codec of every active stream: dicts of media, id, name, clock_rate."""
    return [
        {"media": c.media, "id": c.id, "name": c.name, "clock_rate": c.clock_rate}
        for c in call("sdpops", _sdpops.list_codecs)
    ]


def sdp_remove_codecs_by_name(codecs):
    return _count(call("sdpops", _sdpops.remove_codecs_by_name, codecs))


def sdp_remove_codecs_by_id(codecs):
    return _count(call("sdpops", _sdpops.remove_codecs_by_id, codecs))


def sdp_keep_codecs_by_name(codecs, media=""):
    return _count(call("sdpops", _sdpops.keep_codecs_by_name, codecs, media))


def sdp_keep_codecs_by_id(codecs, media=""):
    return _count(call("sdpops", _sdpops.keep_codecs_by_id, codecs, media))


def sdp_remove_media(media):
    return _count(call("sdpops", _sdpops.remove_media, media))


def set_connection_address(ip):
    """Every c= line to `ip`; how many changed, or -1."""
    return _count(call("sdpops", _sdpops.set_connection_address, ip))


def set_origin_address(ip):
    return _found(call("sdpops", _sdpops.set_origin_address, ip))
