"""The harness's proxy.cfg, line by line, in Python: the twin of bench/plugins/proxy-cfg
(Rust) for the side-by-side benchmarks (Max-Forwards check, ACKs of our negative replies
absorbed, every request relayed statefully to config ``next_hop``)."""

import KSR


def mod_init():
    return ProxyCfg()


class ProxyCfg:
    def __init__(self):
        self.next_hop = KSR.config.get("next_hop", "sip:127.0.0.1:5090")

    def ksr_request_route(self, msg):
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.send_reply(483, "Too Many Hops")
            KSR.x.exit()
        if KSR.is_ACK() and KSR.tm.t_check_trans():
            KSR.tm.t_relay()
            KSR.x.exit()
        KSR.pv.sets("$du", self.next_hop)
        try:
            KSR.tm.t_relay()
        except KSR.Error:
            KSR.sl.send_reply_error()
        KSR.x.exit()
