"""The hot-swap test plugin (tests/plugins/swap-version, Rust) in Python: its version lives
in a marker the tests patch in the .wasm file (same length, so the component stays valid),
which gives as many distinct versions as needed from one build.

- OPTIONS: answered 200 with ``X-Version: <version>``.
- Every other request: ``$avp(v)`` = version, then relayed statefully to config
  ``next_hop`` with onreply route ``MARK``, which adds ``X-Version`` (the version running
  the onreply route) and ``X-Req-Version`` (the one that ran the request route).
- Self-test: fails when the marker says ``st=no``.
"""

import KSR

# Patched by the tests. Layout: version=vNNNN;st=ok; or st=no
MARKER = "sipwasm-swap-marker:version=v0001;st=ok;"


def version():
    return MARKER.split("version=")[1].split(";")[0]


def mod_init():
    return SwapVersion()


class SwapVersion:
    def __init__(self):
        self.next_hop = KSR.config.get("next_hop", "sip:127.0.0.1:5080")

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            KSR.sl.append_to_reply(f"X-Version: {version()}\r\n")
            KSR.sl.send_reply(200, "OK")
            return
        KSR.pv.sets("$avp(v)", version())
        KSR.pv.sets("$du", self.next_hop)
        KSR.tm.t_on_reply("MARK")
        try:
            KSR.tm.t_relay()
        except KSR.Error:
            KSR.sl.send_reply(500, "Server error")

    def MARK(self, msg):
        requested = KSR.pv.gete("$avp(v)")
        KSR.hdr.append(f"X-Version: {version()}\r\nX-Req-Version: {requested}\r\n")

    def ksr_self_test(self):
        if "st=no" in MARKER:
            raise RuntimeError(f"version {version()} refuses to serve (st=no)")
