/*
 * Kamailio's nosip module example in C: the twin of example-plugins/nosip-log (Rust).
 * A packet that is not SIP is logged with its content and sender; SIP gets 501.
 *
 * Its behaviour is example-plugins/cases/nosip-log.toml, the same file as the Rust one's.
 */
#include <stdio.h>

#include "sipwasm.h"

sw_verdict sw_request_route(void) {
    return sw_sl_send_reply(501, "Not Implemented") < 0 ? SW_FAILED : SW_EXIT;
}

sw_verdict sw_event_route(const char *name) {
    char line[160];
    snprintf(line, sizeof line, "timer $rtimer(name) ran (%s)", name);
    return sw_xlog(SW_L_INFO, line) < 0 ? SW_FAILED : SW_EXIT;
}

sw_verdict sw_nosip_msg(void) {
    if (sw_xlog(SW_L_INFO, "non-sip packet received - content [[$mb]] from [$si:$sp]") < 0) {
        return SW_FAILED;
    }
    return SW_EXIT;
}
