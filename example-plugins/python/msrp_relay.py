"""Kamailio's msrp module example (its ``event_route[msrp:frame-in]``) in Python: the twin
of example-plugins/msrp-relay (Rust). AUTH is answered with a digest challenge, then 200
with a Use-Path naming a new session, kept in the ``msrp`` htable; SEND frames are relayed
to the session's other side; everything else goes on along its To-Path. SIP gets 403.

Its behaviour is example-plugins/cases/msrp-relay.toml, the same file as the Rust one's.
"""

import KSR

TABLE = "msrp"


def fnv1a(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x00000100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def mod_init():
    return MsrpRelay()


class MsrpRelay:
    def __init__(self):
        self.realm = KSR.config.get("realm", "myrealm")
        self.password = KSR.config.get("password", "xyz123")
        self.count = 0

    def ksr_request_route(self, msg):
        KSR.sl.send_reply(403, "No SIP Here")
        KSR.x.exit()

    def ksr_msrp_event(self, msg, evname):
        KSR.msrp.reply_flags(1)
        if KSR.msrp.is_reply():
            KSR.msrp.relay()
            KSR.x.exit()
        method = KSR.pv.get("$msrp(method)")
        if method == "AUTH":
            self.auth()
        elif method == "SEND":
            self.send()
        KSR.msrp.relay()
        KSR.x.exit()

    @staticmethod
    def hops():
        return KSR.pv.getvn("$msrp(nexthops)", 0)

    def auth(self):
        if self.hops() > 0:
            KSR.msrp.relay()
            KSR.x.exit()
        if KSR.auth.pv_www_authenticate(self.realm, self.password) != KSR.auth.OK:
            try:
                KSR.auth.www_challenge(self.realm)
            except KSR.Error:
                KSR.msrp.reply(500, "Server Error")
            KSR.x.exit()
        srcaddr = KSR.pv.get("$msrp(srcaddr)")
        srcsock = KSR.pv.get("$msrp(srcsock)")
        self.count += 1
        seed = srcaddr + KSR.pv.gete("$hdr(Authorization)")
        sessid = f"s.{KSR.pv.get('$Ts')}.{self.count}.{fnv1a(seed):x}"
        KSR.htable.sht_sets(TABLE, f"{sessid}::srcaddr", srcaddr)
        KSR.htable.sht_sets(TABLE, f"{sessid}::srcsock", srcsock)
        scheme = "msrps" if KSR.pv.get("$pr") == "tls" else "msrp"
        use_path = KSR.pv.format(f"Use-Path: {scheme}://$Ri:$Rp/{sessid};tcp")
        KSR.msrp.reply(200, "OK", use_path)
        KSR.x.exit()

    def send(self):
        if self.hops() > 1:
            KSR.msrp.reply(200, "Received")
            KSR.msrp.relay()
            KSR.x.exit()
        sessid = KSR.pv.get("$msrp(sessid)")
        addr = KSR.htable.sht_get(TABLE, f"{sessid}::srcaddr")
        sock = KSR.htable.sht_get(TABLE, f"{sessid}::srcsock")
        if addr is None or sock is None:
            KSR.msrp.reply(481, "No Such Session")
            KSR.x.exit()
        KSR.msrp.relay_flags(1)
        KSR.msrp.set_dst(addr, sock)
        KSR.msrp.relay()
        KSR.x.exit()
