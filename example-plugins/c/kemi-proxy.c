/*
 * The KEMI Lua seed in C: the twin of example-plugins/kemi-proxy (Rust). Every request is
 * relayed statefully to `next_hop` ([plugin.config], default sip:127.0.0.1:5080) with
 * branch, onreply and failure routes that log; Max-Forwards above 10 is cut to 10 and a
 * request that arrives with 0 gets 483.
 *
 * Its behaviour is example-plugins/cases/kemi-proxy.toml, the same file as the Rust one's.
 */
#include "sipwasm.h"

#include <string.h>

sw_verdict sw_request_route(void) {
    char next_hop[256];
    sw_log_info("===== request - from kemi-proxy plugin");
    if (sw_process_maxfwd(10) < 0) {
        return sw_sl_send_reply(483, "Too Many Hops") < 0 ? SW_FAILED : SW_CONTINUE;
    }
    if (sw_config_get("next_hop", next_hop, sizeof next_hop) < 0) {
        strcpy(next_hop, "sip:127.0.0.1:5080");
    }
    if (sw_pv_sets("$du", next_hop) < 0) {
        return SW_FAILED;
    }
    sw_t_on_branch("ksr_branch_route_one");
    sw_t_on_reply("ksr_onreply_route_one");
    sw_t_on_failure("ksr_failure_route_one");
    if (sw_t_relay() < 0 && sw_sl_send_reply(500, "Server error") < 0) {
        return SW_FAILED;
    }
    return SW_CONTINUE;
}

sw_verdict sw_reply_route(void) {
    sw_log_info("===== response - from kemi-proxy plugin");
    return SW_CONTINUE;
}

sw_verdict sw_branch_route(const char *name) {
    if (strcmp(name, "ksr_branch_route_one") != 0) {
        return sw_unknown_route(name);
    }
    sw_log_info("===== branch route - from kemi-proxy plugin");
    return SW_CONTINUE;
}

sw_verdict sw_onreply_route(const char *name) {
    if (strcmp(name, "ksr_onreply_route_one") != 0) {
        return sw_unknown_route(name);
    }
    sw_log_info("===== onreply route - from kemi-proxy plugin");
    return SW_CONTINUE;
}

sw_verdict sw_failure_route(const char *name) {
    if (strcmp(name, "ksr_failure_route_one") != 0) {
        return sw_unknown_route(name);
    }
    sw_log_info("===== failure route - from kemi-proxy plugin");
    return SW_CONTINUE;
}
