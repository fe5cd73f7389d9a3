"""The harness's stateless responder (../shared/bench/kamailio/stateless.lua, Kamailio KEMI)
in Python, line by line: OPTIONS 200, INVITE 480, ACK never answered, anything else 501."""

import KSR


def mod_init():
    return Stateless()


class Stateless:
    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            KSR.sl.sl_send_reply(200, "OK")
            return
        if KSR.is_INVITE():
            KSR.sl.sl_send_reply(480, "Temporarily Unavailable")
            return
        if KSR.is_ACK():
            return
        KSR.sl.sl_send_reply(501, "Not Implemented")

    # replies received without a transaction: drop
    def ksr_reply_route(self, msg):
        KSR.x.drop()
