"""Kamailio's nosip module example in Python: the twin of example-plugins/nosip-log
(Rust). A packet that is not SIP is logged with its content and sender; SIP gets 501.

Its behaviour is example-plugins/cases/nosip-log.toml, the same file as the Rust one's.
"""

import KSR


def mod_init():
    return NosipLog()


class NosipLog:
    def ksr_request_route(self, msg):
        KSR.sl.send_reply(501, "Not Implemented")
        KSR.x.exit()

    def ksr_timer_event(self, msg, evname):
        KSR.xlog.xinfo(f"timer $rtimer(name) ran ({evname})")
        KSR.x.exit()

    def ksr_nosip_event(self, msg, evname):
        KSR.xlog.xinfo("non-sip packet received - content [[$mb]] from [$si:$sp]")
        KSR.x.exit()
