/*
 * @NAME@: a sipwasm routing plugin. OPTIONS is answered 200 OK, anything else 404 Not Here,
 * each request logged with its source. Its cases are example-plugins/cases/@NAME@.toml.
 */
#include "sipwasm.h"

sw_verdict sw_request_route(void) {
    if (sw_xlog(SW_L_INFO, "$rm from $si:$sp") < 0) {
        return SW_FAILED;
    }
    if (sw_is_method("OPTIONS")) {
        return sw_sl_send_reply(200, "OK") < 0 ? SW_FAILED : SW_EXIT;
    }
    return sw_sl_send_reply(404, "Not Here") < 0 ? SW_FAILED : SW_EXIT;
}
