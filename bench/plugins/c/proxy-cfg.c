/*
 * The benchmark's stateful proxy (the shared harness's proxy.cfg) in C: the twin of
 * bench/plugins/proxy-cfg (Rust), for measuring the C SDK's cost against it
 * (PLUGIN=... bench/compare-proxy-cpu-together, BENCHMARKS.md).
 */
#include "sipwasm.h"

#include <string.h>

static char next_hop[256];

sw_verdict sw_request_route(void) {
    if (!next_hop[0] && sw_config_get("next_hop", next_hop, sizeof next_hop) < 0) {
        strcpy(next_hop, "sip:127.0.0.1:5090");
    }
    if (sw_process_maxfwd(10) < 0) {
        return sw_sl_send_reply(483, "Too Many Hops") < 0 ? SW_FAILED : SW_EXIT;
    }
    if (sw_is_method("ACK") && sw_t_check_trans()) {
        sw_t_relay();
        return SW_EXIT;
    }
    if (sw_pv_sets("$du", next_hop) < 0) {
        return SW_FAILED;
    }
    if (sw_t_relay() < 0 && sw_sl_send_reply_error() < 0) {
        return SW_FAILED;
    }
    return SW_EXIT;
}
