"""Kamailio 101, tutorial 3 ("Routing Blocks & Structure") in Python: the twin of
example-plugins/tutorial-501 (Rust). INVITE gets 480 Temporarily Unavailable, anything
else 501 Not Implemented from the RESPOND_501 route, with the tutorial's log lines::

    request_route {
        xlog("Hello, I am in the request_route");
        if (method == "INVITE") { sl_reply("480", "Temporarily Unavailable"); exit; }
        route(RESPOND_501);
        xlog("Back in request_route");
    }
    route[RESPOND_501] {
        xlog("Now I am in the respond 501 route");
        sl_reply("501", "Not Implemented");
        exit;
    }

Its behaviour is example-plugins/cases/tutorial-501.toml, the same file as the Rust one's.
"""

import KSR


def mod_init():
    return Tutorial()


class Tutorial:
    def ksr_request_route(self, msg):
        KSR.info("Hello, I am in the request_route")
        if KSR.is_INVITE():
            KSR.sl.send_reply(480, "Temporarily Unavailable")
            KSR.x.exit()
        self.RESPOND_501(msg)
        KSR.info("Back in request_route")

    def RESPOND_501(self, msg):
        KSR.info("Now I am in the respond 501 route")
        KSR.sl.send_reply(501, "Not Implemented")
        KSR.x.exit()
