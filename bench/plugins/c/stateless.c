/*
 * The harness's stateless responder (../shared/bench/kamailio/stateless.lua, Kamailio KEMI)
 * in C, line by line: OPTIONS 200, INVITE 480, ACK never answered, anything else 501.
 */
#include "sipwasm.h"

sw_verdict sw_request_route(void) {
    int rc = 0;
    if (sw_is_method("OPTIONS")) {
        rc = sw_sl_send_reply(200, "OK");
    } else if (sw_is_method("INVITE")) {
        rc = sw_sl_send_reply(480, "Temporarily Unavailable");
    } else if (!sw_is_method("ACK")) {
        rc = sw_sl_send_reply(501, "Not Implemented");
    }
    return rc < 0 ? SW_FAILED : SW_CONTINUE;
}

/* replies received without a transaction: drop */
sw_verdict sw_reply_route(void) { return SW_DROP; }
