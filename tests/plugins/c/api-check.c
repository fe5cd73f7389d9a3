/*
 * A test plugin of the C SDK's calls that no example makes: each request runs them and
 * writes what they answered into headers, which tests/plugins/c/api-check.toml checks with
 * the test kit.
 */
#include "sipwasm.h"

#include <stdio.h>
#include <string.h>

static sw_verdict failed(const char *what) { return sw_fail("%s: %s", what, sw_error()); }

sw_verdict sw_request_route(void) {
    char value[128], line[256];
    if (sw_is_method("OPTIONS")) {
        /* event-less answers: flags, myself, the table */
        int64_t n = 0;
        if (sw_set_flag(3) < 0 || sw_reset_flag(3) < 0 || sw_is_flag_set(3) != 0) {
            return failed("flags");
        }
        if (sw_htable_incr("counters", "options", 5, &n) < 0) {
            return failed("htable_incr");
        }
        snprintf(line, sizeof line, "X-Incr: %lld\r\nX-Exists: %d\r\nX-Myself: %d/%d\r\n",
                 (long long)n, sw_htable_exists("counters", "options"),
                 sw_is_myself("sip:127.0.0.1:5060"), sw_is_myself("sip:192.0.2.99"));
        if (sw_sl_append_to_reply(line) < 0) {
            return failed("append_to_reply");
        }
        return sw_sl_send_reply(200, "OK") < 0 ? failed("reply") : SW_EXIT;
    }
    /* a MESSAGE: header edits, then a second branch and a stateful relay */
    if (!sw_hdr_is_present("X-Test") || sw_hdr_get("X-Test", value, sizeof value) < 0) {
        return sw_sl_send_reply(400, "No X-Test") < 0 ? failed("reply") : SW_EXIT;
    }
    snprintf(line, sizeof line, "X-Got: %s\r\n", value);
    if (sw_hdr_append(line) < 0 || sw_hdr_insert("X-First: 1\r\n") < 0
        || sw_hdr_insert_before("X-Before: 1\r\n", "X-Test") < 0
        || sw_hdr_append_after("X-After: 1\r\n", "X-Test") < 0) {
        return failed("hdr");
    }
    if (sw_hdr_get("X-Missing", value, sizeof value) != -1) {
        return sw_fail("hdr_get found X-Missing");
    }
    if (sw_record_route_params("check=1") < 0) {
        return failed("record_route_params");
    }
    if (sw_append_branch("sip:carol@192.0.2.30:5070") < 0) {
        return failed("append_branch");
    }
    if (sw_t_relay() < 0) {
        return failed("t_relay");
    }
    return SW_EXIT;
}
