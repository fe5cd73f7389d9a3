/*
 * Kamailio 101, tutorial 3 ("Routing Blocks & Structure") in C: the twin of
 * example-plugins/tutorial-501 (Rust). INVITE gets 480 Temporarily Unavailable, anything
 * else 501 Not Implemented from the RESPOND_501 named route, with the tutorial's log lines.
 *
 *     request_route {
 *         xlog("Hello, I am in the request_route");
 *         if (method == "INVITE") { sl_reply("480", "Temporarily Unavailable"); exit; }
 *         route(RESPOND_501);
 *         xlog("Back in request_route");
 *     }
 *     route[RESPOND_501] {
 *         xlog("Now I am in the respond 501 route");
 *         sl_reply("501", "Not Implemented");
 *         exit;
 *     }
 *
 * Its behaviour is example-plugins/cases/tutorial-501.toml, the same file as the Rust one's.
 */
#include "sipwasm.h"

#include <string.h>

sw_verdict sw_request_route(void) {
    sw_log_info("Hello, I am in the request_route");
    if (sw_is_method("INVITE")) {
        if (sw_sl_send_reply(480, "Temporarily Unavailable") < 0) {
            return SW_FAILED;
        }
        return SW_EXIT;
    }
    sw_verdict v = sw_route("RESPOND_501");
    if (v != SW_CONTINUE) {
        /* RESPOND_501 ends with exit, as in the tutorial */
        return v;
    }
    sw_log_info("Back in request_route");
    return SW_CONTINUE;
}

sw_verdict sw_route(const char *name) {
    if (strcmp(name, "RESPOND_501") == 0) {
        sw_log_info("Now I am in the respond 501 route");
        if (sw_sl_send_reply(501, "Not Implemented") < 0) {
            return SW_FAILED;
        }
        return SW_EXIT;
    }
    return sw_unknown_route(name);
}
