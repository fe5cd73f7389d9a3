/*
 * sipwasm.c — the C SDK: the world's exports over the plugin's sw_* routes (with their
 * defaults), and the sw_* calls over the generated imports. See sipwasm.h.
 */
#include "sipwasm.h"
#include "plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------ */

static char last_error[512];

const char *sw_error(void) { return last_error; }

static void set_error(const char *what, const plugin_string_t *detail) {
    if (detail && detail->len) {
        snprintf(last_error, sizeof last_error, "%s: %.*s", what, (int)detail->len,
                 (const char *)detail->ptr);
    } else {
        snprintf(last_error, sizeof last_error, "%s", what);
    }
}

sw_verdict sw_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return SW_FAILED;
}

/* a borrowed view of a C string, for the generated calls (which do not keep it) */
static plugin_string_t str(const char *s) {
    plugin_string_t v = {(uint8_t *)s, strlen(s)};
    return v;
}

/* an optional argument: NULL stays NULL, else `s` viewed in `*view` */
static plugin_string_t *opt_str(const char *s, plugin_string_t *view) {
    if (!s) {
        return NULL;
    }
    *view = str(s);
    return view;
}

/* copy `s` into `buf` as a C string: its full length */
static int copy_out(const plugin_string_t *s, char *buf, size_t size) {
    if (size) {
        size_t n = s->len < size - 1 ? s->len : size - 1;
        memcpy(buf, s->ptr, n);
        buf[n] = 0;
    }
    return (int)s->len;
}

/* an integer printed, or a string copied, into `buf`: its length */
static int value_out(bool is_int, int64_t i, const plugin_string_t *str_, char *buf, size_t size) {
    return is_int ? snprintf(buf, size, "%lld", (long long)i) : copy_out(str_, buf, size);
}

static int sl_failed(sipwasm_router_sl_error_t *e) {
    switch (e->tag) {
    case SIPWASM_ROUTER_SL_ERROR_NO_REQUEST: set_error("sl: no request to answer", NULL); break;
    case SIPWASM_ROUTER_SL_ERROR_INVALID_REPLY: set_error("sl: invalid reply", &e->val.invalid_reply); break;
    default: set_error("sl: invalid header", &e->val.invalid_header); break;
    }
    sipwasm_router_sl_error_free(e);
    return -1;
}

static int pv_failed(sipwasm_router_pv_error_t *e) {
    static const char *what[] = {"pv: unknown name", "pv: syntax", "pv: read-only",
                                 "pv: invalid value", "pv: transformation"};
    /* every variant carries a string, in the same place */
    set_error(e->tag < 5 ? what[e->tag] : "pv: error", &e->val.unknown_name);
    sipwasm_router_pv_error_free(e);
    return -1;
}

static int hdr_failed(sipwasm_router_hdr_error_t *e) {
    switch (e->tag) {
    case SIPWASM_ROUTER_HDR_ERROR_INVALID_HEADER: set_error("hdr: invalid header", &e->val.invalid_header); break;
    case SIPWASM_ROUTER_HDR_ERROR_NOT_FOUND: set_error("hdr: not found", &e->val.not_found); break;
    default: set_error("hdr: no SIP message", NULL); break;
    }
    sipwasm_router_hdr_error_free(e);
    return -1;
}

static int core_failed(sipwasm_router_core_error_t *e) {
    if (e->tag == SIPWASM_ROUTER_CORE_ERROR_FLAG_OUT_OF_RANGE) {
        snprintf(last_error, sizeof last_error, "core: flag %u out of range", e->val.flag_out_of_range);
    } else {
        set_error("core: invalid URI", &e->val.invalid_uri);
    }
    sipwasm_router_core_error_free(e);
    return -1;
}

static int tm_failed(sipwasm_router_tm_error_t *e) {
    switch (e->tag) {
    case SIPWASM_ROUTER_TM_ERROR_NO_REQUEST: set_error("tm: no request", NULL); break;
    case SIPWASM_ROUTER_TM_ERROR_ALREADY_RELAYED: set_error("tm: already relayed", NULL); break;
    case SIPWASM_ROUTER_TM_ERROR_NO_DESTINATION: set_error("tm: no destination", &e->val.no_destination); break;
    case SIPWASM_ROUTER_TM_ERROR_TOO_MANY_HOPS: set_error("tm: Max-Forwards reached 0", NULL); break;
    case SIPWASM_ROUTER_TM_ERROR_INVALID: set_error("tm: invalid", &e->val.invalid); break;
    case SIPWASM_ROUTER_TM_ERROR_NO_TRANSACTION: set_error("tm: no transaction", NULL); break;
    default: set_error("tm: not suspended", NULL); break;
    }
    sipwasm_router_tm_error_free(e);
    return -1;
}

/* ---- exports ------------------------------------------------------------------------- */

/* what the router gets back from a route: the verdict, or the error (its text copied:
 * the generated post-return frees it) */
static bool answer(sw_verdict v, exports_sipwasm_router_routes_verdict_t *ret,
                   exports_sipwasm_router_routes_route_error_t *err) {
    switch (v) {
    case SW_CONTINUE: *ret = EXPORTS_SIPWASM_ROUTER_ROUTES_VERDICT_CONTINUE; return true;
    case SW_EXIT: *ret = EXPORTS_SIPWASM_ROUTER_ROUTES_VERDICT_EXIT; return true;
    case SW_DROP: *ret = EXPORTS_SIPWASM_ROUTER_ROUTES_VERDICT_DROP; return true;
    default:
        break;
    }
    /* sw_unknown_route marks its error with a leading NUL-free prefix */
    static const char unknown[] = "unknown route: ";
    if (strncmp(last_error, unknown, sizeof unknown - 1) == 0) {
        err->tag = EXPORTS_SIPWASM_ROUTER_ROUTES_ROUTE_ERROR_UNKNOWN_ROUTE;
        plugin_string_dup(&err->val.unknown_route, last_error + sizeof unknown - 1);
    } else {
        err->tag = EXPORTS_SIPWASM_ROUTER_ROUTES_ROUTE_ERROR_FAILED;
        plugin_string_dup(&err->val.failed, last_error[0] ? last_error : "route failed");
    }
    return false;
}

sw_verdict sw_unknown_route(const char *name) {
    snprintf(last_error, sizeof last_error, "unknown route: %s", name);
    return SW_FAILED;
}

/* a route name from the router as a C string (names are short: longer ones are unknown) */
static const char *route_name(const plugin_string_t *name, char *buf, size_t size) {
    if (name->len >= size) {
        return "";
    }
    memcpy(buf, name->ptr, name->len);
    buf[name->len] = 0;
    return buf;
}

#define NAMED_EXPORT(export_fn, route_fn)                                                  \
    bool export_fn(plugin_string_t *name, exports_sipwasm_router_routes_verdict_t *ret,    \
                   exports_sipwasm_router_routes_route_error_t *err) {                     \
        char buf[128];                                                                     \
        last_error[0] = 0;                                                                 \
        sw_verdict v = route_fn(route_name(name, buf, sizeof buf));                        \
        plugin_string_free(name);                                                          \
        return answer(v, ret, err);                                                        \
    }

#define PLAIN_EXPORT(export_fn, route_fn)                                                  \
    bool export_fn(exports_sipwasm_router_routes_verdict_t *ret,                           \
                   exports_sipwasm_router_routes_route_error_t *err) {                     \
        last_error[0] = 0;                                                                 \
        return answer(route_fn(), ret, err);                                               \
    }

PLAIN_EXPORT(exports_sipwasm_router_routes_request_route, sw_request_route)
PLAIN_EXPORT(exports_sipwasm_router_routes_reply_route, sw_reply_route)
NAMED_EXPORT(exports_sipwasm_router_routes_named_route, sw_route)
NAMED_EXPORT(exports_sipwasm_router_tm_routes_failure_route, sw_failure_route)
NAMED_EXPORT(exports_sipwasm_router_tm_routes_branch_route, sw_branch_route)
NAMED_EXPORT(exports_sipwasm_router_tm_routes_onreply_route, sw_onreply_route)
PLAIN_EXPORT(exports_sipwasm_router_nosip_events_msg, sw_nosip_msg)
PLAIN_EXPORT(exports_sipwasm_router_msrp_events_frame_in, sw_msrp_frame_in)
NAMED_EXPORT(exports_sipwasm_router_event_routes_event_route, sw_event_route)

bool exports_sipwasm_router_self_test_run(plugin_string_t *err) {
    last_error[0] = 0;
    if (sw_self_test() == 0) {
        return true;
    }
    plugin_string_dup(err, last_error[0] ? last_error : "self-test failed");
    return false;
}

/* the defaults: a plugin's own definitions replace them */
__attribute__((weak)) sw_verdict sw_request_route(void) { return SW_CONTINUE; }
/* the router stops calling a reply_route that answers with its own name as unknown */
__attribute__((weak)) sw_verdict sw_reply_route(void) { return sw_unknown_route("reply_route"); }
__attribute__((weak)) sw_verdict sw_route(const char *name) { return sw_unknown_route(name); }
__attribute__((weak)) sw_verdict sw_failure_route(const char *name) { return sw_unknown_route(name); }
__attribute__((weak)) sw_verdict sw_branch_route(const char *name) { return sw_unknown_route(name); }
__attribute__((weak)) sw_verdict sw_onreply_route(const char *name) { return sw_unknown_route(name); }
__attribute__((weak)) sw_verdict sw_nosip_msg(void) { return SW_CONTINUE; }
__attribute__((weak)) sw_verdict sw_msrp_frame_in(void) { return SW_CONTINUE; }
__attribute__((weak)) sw_verdict sw_event_route(const char *name) { (void)name; return SW_CONTINUE; }
__attribute__((weak)) int sw_self_test(void) { return 0; }

/* ---- log --------------------------------------------------------------------------- */

void sw_log(sw_level level, const char *message) {
    plugin_string_t m = str(message);
    sipwasm_router_log_log((sipwasm_router_log_level_t)level, &m);
}

int sw_xlog(sw_level level, const char *template_) {
    plugin_string_t t = str(template_);
    sipwasm_router_log_pv_error_t e;
    if (!sipwasm_router_log_xlog((sipwasm_router_log_level_t)level, &t, &e)) {
        return pv_failed(&e);
    }
    return 0;
}

/* ---- pv ---------------------------------------------------------------------------- */

int sw_pv_get(const char *name, char *buf, size_t size) {
    plugin_string_t n = str(name);
    sipwasm_router_pv_value_t v;
    sipwasm_router_pv_error_t e;
    if (!sipwasm_router_pv_get(&n, &v, &e)) {
        return pv_failed(&e);
    }
    int len = 0;
    if (v.tag == SIPWASM_ROUTER_PV_VALUE_NULL) {
        if (size) {
            buf[0] = 0;
        }
    } else {
        len = value_out(v.tag == SIPWASM_ROUTER_PV_VALUE_INT, v.val.int_, &v.val.str, buf, size);
    }
    sipwasm_router_pv_value_free(&v);
    return len;
}

int sw_pv_get_int(const char *name, int64_t *out) {
    plugin_string_t n = str(name);
    sipwasm_router_pv_value_t v;
    sipwasm_router_pv_error_t e;
    if (!sipwasm_router_pv_get(&n, &v, &e)) {
        return pv_failed(&e);
    }
    int rc = -1;
    if (v.tag == SIPWASM_ROUTER_PV_VALUE_INT) {
        *out = v.val.int_;
        rc = 0;
    } else {
        snprintf(last_error, sizeof last_error, "pv: %s is not an integer", name);
    }
    sipwasm_router_pv_value_free(&v);
    return rc;
}

int sw_pv_sets(const char *name, const char *value) {
    plugin_string_t n = str(name), v = str(value);
    sipwasm_router_pv_error_t e;
    return sipwasm_router_pv_set_str(&n, &v, &e) ? 0 : pv_failed(&e);
}

int sw_pv_seti(const char *name, int64_t value) {
    plugin_string_t n = str(name);
    sipwasm_router_pv_error_t e;
    return sipwasm_router_pv_set_int(&n, value, &e) ? 0 : pv_failed(&e);
}

int sw_pv_unset(const char *name) {
    plugin_string_t n = str(name);
    sipwasm_router_pv_error_t e;
    return sipwasm_router_pv_unset(&n, &e) ? 0 : pv_failed(&e);
}

int sw_pv_is_null(const char *name) {
    plugin_string_t n = str(name);
    bool null;
    sipwasm_router_pv_error_t e;
    if (!sipwasm_router_pv_is_null(&n, &null, &e)) {
        return pv_failed(&e);
    }
    return null ? 1 : 0;
}

int sw_pv_format(const char *template_, char *buf, size_t size) {
    plugin_string_t t = str(template_), out;
    sipwasm_router_pv_error_t e;
    if (!sipwasm_router_pv_format(&t, &out, &e)) {
        return pv_failed(&e);
    }
    int len = copy_out(&out, buf, size);
    plugin_string_free(&out);
    return len;
}

/* ---- sl, core, hdr, maxfwd, tm, config ------------------------------------------------ */

int sw_sl_send_reply(uint16_t code, const char *reason) {
    plugin_string_t r = str(reason);
    sipwasm_router_sl_error_t e;
    return sipwasm_router_sl_send_reply(code, &r, &e) ? 0 : sl_failed(&e);
}

int sw_sl_append_to_reply(const char *headers) {
    plugin_string_t h = str(headers);
    sipwasm_router_sl_error_t e;
    return sipwasm_router_sl_append_to_reply(&h, &e) ? 0 : sl_failed(&e);
}

int sw_sl_send_reply_error(void) {
    sipwasm_router_sl_error_t e;
    return sipwasm_router_sl_send_reply_error(&e) ? 0 : sl_failed(&e);
}

bool sw_is_method(const char *method) {
    plugin_string_t m = str(method);
    return sipwasm_router_core_is_method(&m);
}

bool sw_is_method_in(const char *letters) {
    plugin_string_t l = str(letters);
    return sipwasm_router_core_is_method_in(&l);
}

bool sw_is_myself_ruri(void) { return sipwasm_router_core_is_myself_ruri(); }

void sw_force_rport(void) { sipwasm_router_core_force_rport(); }

void sw_drop(void) { sipwasm_router_core_set_drop(); }

int sw_set_flag(uint32_t flag) {
    sipwasm_router_core_error_t e;
    return sipwasm_router_core_set_flag(flag, &e) ? 0 : core_failed(&e);
}

int sw_is_flag_set(uint32_t flag) {
    bool set;
    sipwasm_router_core_error_t e;
    if (!sipwasm_router_core_is_flag_set(flag, &set, &e)) {
        return core_failed(&e);
    }
    return set ? 1 : 0;
}

int sw_hdr_append(const char *headers) {
    plugin_string_t h = str(headers);
    sipwasm_router_hdr_error_t e;
    return sipwasm_router_hdr_append(&h, &e) ? 0 : hdr_failed(&e);
}

int sw_hdr_remove(const char *name) {
    plugin_string_t n = str(name);
    uint32_t removed;
    sipwasm_router_hdr_error_t e;
    if (!sipwasm_router_hdr_remove(&n, &removed, &e)) {
        return hdr_failed(&e);
    }
    return (int)removed;
}

int sw_process_maxfwd(uint32_t limit) {
    sipwasm_router_maxfwd_outcome_t outcome;
    sipwasm_router_maxfwd_error_t e;
    if (sipwasm_router_maxfwd_process_maxfwd(limit, &outcome, &e)) {
        return 0;
    }
    switch (e.tag) {
    case SIPWASM_ROUTER_MAXFWD_ERROR_EXHAUSTED: set_error("maxfwd: Max-Forwards reached 0", NULL); break;
    case SIPWASM_ROUTER_MAXFWD_ERROR_NO_REQUEST: set_error("maxfwd: no request", NULL); break;
    default: set_error("maxfwd: invalid", &e.val.invalid); break;
    }
    sipwasm_router_maxfwd_error_free(&e);
    return -1;
}

int sw_t_relay(void) {
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_relay(NULL, &e) ? 0 : tm_failed(&e);
}

int sw_t_relay_to(const char *dst) {
    plugin_string_t d = str(dst);
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_relay(&d, &e) ? 0 : tm_failed(&e);
}

bool sw_t_check_trans(void) { return sipwasm_router_tm_t_check_trans(); }

bool sw_t_is_canceled(void) { return sipwasm_router_tm_t_is_canceled(); }

int sw_t_get_status_code(void) {
    uint16_t code;
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_get_status_code(&code, &e) ? (int)code : tm_failed(&e);
}

void sw_t_on_failure(const char *route) {
    plugin_string_t r = str(route);
    sipwasm_router_tm_t_on_failure(&r);
}

void sw_t_on_branch(const char *route) {
    plugin_string_t r = str(route);
    sipwasm_router_tm_t_on_branch(&r);
}

void sw_t_on_reply(const char *route) {
    plugin_string_t r = str(route);
    sipwasm_router_tm_t_on_reply(&r);
}

int sw_config_get(const char *key, char *buf, size_t size) {
    plugin_string_t k = str(key), v;
    if (!sipwasm_router_config_get(&k, &v)) {
        snprintf(last_error, sizeof last_error, "config: %s is not set", key);
        return -1;
    }
    int len = copy_out(&v, buf, size);
    plugin_string_free(&v);
    return len;
}

/* ---- auth -------------------------------------------------------------------------- */

static int auth_failed(sipwasm_router_auth_error_t *e) {
    int code = -1 - (int)e->tag;
    static const char *what[] = {"auth: no credentials", "auth: malformed credentials",
                                 "auth: not our nonce", "auth: stale nonce",
                                 "auth: nonce reused", "auth: wrong password"};
    switch (e->tag) {
    case SIPWASM_ROUTER_AUTH_ERROR_MALFORMED: set_error(what[1], &e->val.malformed); break;
    default:
        set_error(e->tag < 6 ? what[e->tag] : "auth: failed", NULL);
        break;
    }
    sipwasm_router_auth_error_free(e);
    return code;
}

int sw_dialog_limit_calls(const char *user, uint32_t concurrent, uint32_t per_minute) {
    plugin_string_t u = str(user);
    sipwasm_router_dialog_call_limit_t e;
    if (sipwasm_router_dialog_limit_calls(&u, concurrent, per_minute, &e)) {
        return 0;
    }
    switch (e.tag) {
    case SIPWASM_ROUTER_DIALOG_CALL_LIMIT_CONCURRENT:
        set_error("dialog: too many calls up or ringing", NULL);
        return SW_CALLS_CONCURRENT;
    case SIPWASM_ROUTER_DIALOG_CALL_LIMIT_PER_MINUTE:
        set_error("dialog: too many calls in the last minute", NULL);
        return SW_CALLS_PER_MINUTE;
    default:
        set_error("dialog: not an initial INVITE", NULL);
        return SW_CALLS_NOT_A_CALL;
    }
}

uint32_t sw_dialog_calls_of(const char *user) {
    plugin_string_t u = str(user);
    return sipwasm_router_dialog_calls_of(&u);
}

/* The user name of checked credentials into `user` (may be NULL). */
static int auth_checked(plugin_string_t *who, char *user, size_t size) {
    if (user) {
        copy_out(who, user, size);
    }
    plugin_string_free(who);
    return 0;
}

int sw_auth_check(sw_auth_kind kind, const char *realm, const char *password, char *user,
                  size_t size) {
    plugin_string_t r = str(realm), p = str(password), who;
    sipwasm_router_auth_error_t e;
    if (!sipwasm_router_auth_check((sipwasm_router_auth_kind_t)kind, &r, &p, &who, &e)) {
        return auth_failed(&e);
    }
    return auth_checked(&who, user, size);
}

int sw_auth_check_ha1(sw_auth_kind kind, const char *realm, const char *ha1, char *user,
                      size_t size) {
    plugin_string_t r = str(realm), h = str(ha1), who;
    sipwasm_router_auth_error_t e;
    if (!sipwasm_router_auth_check_ha1((sipwasm_router_auth_kind_t)kind, &r, &h, &who, &e)) {
        return auth_failed(&e);
    }
    return auth_checked(&who, user, size);
}

int sw_auth_challenge(sw_auth_kind kind, const char *realm) {
    return sw_auth_challenge_with(kind, realm, false);
}

int sw_auth_challenge_with(sw_auth_kind kind, const char *realm, bool stale) {
    plugin_string_t r = str(realm);
    sipwasm_router_auth_algorithm_t md5 = SIPWASM_ROUTER_AUTH_ALGORITHM_MD5;
    sipwasm_router_auth_list_algorithm_t algorithms = {&md5, 1};
    sipwasm_router_auth_error_t e;
    if (!sipwasm_router_auth_challenge((sipwasm_router_auth_kind_t)kind, &r, &algorithms, stale, &e)) {
        return auth_failed(&e);
    }
    return 0;
}

int sw_auth_username(sw_auth_kind kind, const char *realm, char *buf, size_t size) {
    plugin_string_t r = str(realm), who;
    if (!sipwasm_router_auth_username((sipwasm_router_auth_kind_t)kind, &r, &who)) {
        set_error("auth: no credentials", NULL);
        return -1;
    }
    int len = copy_out(&who, buf, size);
    plugin_string_free(&who);
    return len;
}

void sw_auth_consume_credentials(sw_auth_kind kind) {
    sipwasm_router_auth_consume_credentials((sipwasm_router_auth_kind_t)kind);
}

/* ---- textops ----------------------------------------------------------------------- */

static int textops_failed(sipwasm_router_textops_error_t *e) {
    static const char *what[] = {"textops: invalid regex", "textops: invalid subst",
                                 "textops: too large", "textops: invalid value"};
    if (e->tag < 4) {
        set_error(what[e->tag], &e->val.invalid_regex);
    } else {
        set_error("textops: no SIP message", NULL);
    }
    sipwasm_router_textops_error_free(e);
    return -1;
}

static int list_out(plugin_list_u8_t *l, char *buf, size_t size) {
    plugin_string_t s = {l->ptr, l->len};
    int n = copy_out(&s, buf, size);
    plugin_list_u8_free(l);
    return n;
}

int sw_textops_has_body(const char *content_type) {
    plugin_string_t t = str(content_type);
    return sipwasm_router_textops_has_body(&t) ? 1 : 0;
}

int sw_textops_get_body(char *buf, size_t size) {
    plugin_list_u8_t b;
    sipwasm_router_textops_get_body(&b);
    return list_out(&b, buf, size);
}

int sw_textops_set_body(const void *body, size_t len, const char *content_type) {
    plugin_list_u8_t b = {(uint8_t *)body, len};
    plugin_string_t t = str(content_type);
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_set_body(&b, &t, &e) ? 0 : textops_failed(&e);
}

int sw_textops_remove_body(void) {
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_remove_body(&e) ? 0 : textops_failed(&e);
}

int sw_textops_set_reply_body(const void *body, size_t len, const char *content_type) {
    plugin_list_u8_t b = {(uint8_t *)body, len};
    plugin_string_t t = str(content_type);
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_set_reply_body(&b, &t, &e) ? 0 : textops_failed(&e);
}

int sw_textops_search(const char *re) {
    plugin_string_t r = str(re);
    bool found;
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_search(&r, &found, &e) ? found : textops_failed(&e);
}

int sw_textops_search_body(const char *re) {
    plugin_string_t r = str(re);
    bool found;
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_search_body(&r, &found, &e) ? found : textops_failed(&e);
}

int sw_textops_search_hf(const char *name, const char *re) {
    plugin_string_t n = str(name), r = str(re);
    bool found;
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_search_hf(&n, &r, &found, &e) ? found : textops_failed(&e);
}

int sw_textops_replace_body(const char *re, const char *text, int all) {
    plugin_string_t r = str(re), t = str(text);
    uint32_t n;
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_replace_body(&r, &t, all != 0, &n, &e) ? (int)n
                                                                          : textops_failed(&e);
}

int sw_textops_subst_body(const char *expr) {
    plugin_string_t x = str(expr);
    uint32_t n;
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_subst_body(&x, &n, &e) ? (int)n : textops_failed(&e);
}

int sw_textops_subst_hf(const char *name, const char *expr, const char *which) {
    plugin_string_t n = str(name), x = str(expr), w = str(which);
    uint32_t count;
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_subst_hf(&n, &x, &w, &count, &e) ? (int)count
                                                                     : textops_failed(&e);
}

int sw_textops_get_body_part(const char *content_type, char *buf, size_t size) {
    plugin_string_t t = str(content_type);
    plugin_list_u8_t part;
    if (!sipwasm_router_textops_get_body_part(&t, &part)) {
        return -1;
    }
    return list_out(&part, buf, size);
}

int sw_textops_filter_body(const char *content_type) {
    plugin_string_t t = str(content_type);
    bool kept;
    sipwasm_router_textops_error_t e;
    return sipwasm_router_textops_filter_body(&t, &kept, &e) ? kept : textops_failed(&e);
}

/* ---- sdpops ------------------------------------------------------------------------ */

static int sdpops_failed(sipwasm_router_sdpops_error_t *e) {
    switch (e->tag) {
    case SIPWASM_ROUTER_SDPOPS_ERROR_NO_SDP: set_error("sdpops: no SDP", NULL); break;
    case SIPWASM_ROUTER_SDPOPS_ERROR_INVALID_SDP:
        set_error("sdpops: invalid SDP", &e->val.invalid_sdp);
        break;
    case SIPWASM_ROUTER_SDPOPS_ERROR_INVALID_ARGUMENT:
        set_error("sdpops: invalid argument", &e->val.invalid_argument);
        break;
    default: set_error("sdpops: no SIP message", NULL);
    }
    sipwasm_router_sdpops_error_free(e);
    return -1;
}

int sw_sdpops_sdp_content(void) { return sipwasm_router_sdpops_sdp_content() ? 1 : 0; }

int sw_sdpops_with_media(const char *arg) {
    plugin_string_t a = str(arg);
    bool yes;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_with_media(&a, &yes, &e) ? yes : sdpops_failed(&e);
}

int sw_sdpops_with_codecs_by_name(const char *arg) {
    plugin_string_t a = str(arg);
    bool yes;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_with_codecs_by_name(&a, &yes, &e) ? yes : sdpops_failed(&e);
}

int sw_sdpops_with_codecs_by_id(const char *arg) {
    plugin_string_t a = str(arg);
    bool yes;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_with_codecs_by_id(&a, &yes, &e) ? yes : sdpops_failed(&e);
}

int sw_sdpops_remove_codecs_by_name(const char *arg) {
    plugin_string_t a = str(arg);
    uint32_t n;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_remove_codecs_by_name(&a, &n, &e) ? (int)n : sdpops_failed(&e);
}

int sw_sdpops_remove_codecs_by_id(const char *arg) {
    plugin_string_t a = str(arg);
    uint32_t n;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_remove_codecs_by_id(&a, &n, &e) ? (int)n : sdpops_failed(&e);
}

int sw_sdpops_keep_codecs_by_name(const char *list, const char *media) {
    plugin_string_t l = str(list), m = str(media);
    uint32_t n;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_keep_codecs_by_name(&l, &m, &n, &e) ? (int)n : sdpops_failed(&e);
}

int sw_sdpops_keep_codecs_by_id(const char *list, const char *media) {
    plugin_string_t l = str(list), m = str(media);
    uint32_t n;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_keep_codecs_by_id(&l, &m, &n, &e) ? (int)n : sdpops_failed(&e);
}

int sw_sdpops_remove_media(const char *arg) {
    plugin_string_t a = str(arg);
    uint32_t n;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_remove_media(&a, &n, &e) ? (int)n : sdpops_failed(&e);
}

int sw_sdpops_set_connection_address(const char *arg) {
    plugin_string_t a = str(arg);
    uint32_t n;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_set_connection_address(&a, &n, &e) ? (int)n : sdpops_failed(&e);
}

int sw_sdpops_set_origin_address(const char *arg) {
    plugin_string_t a = str(arg);
    bool yes;
    sipwasm_router_sdpops_error_t e;
    return sipwasm_router_sdpops_set_origin_address(&a, &yes, &e) ? yes : sdpops_failed(&e);
}

int sw_sdpops_list_codecs(char *buf, size_t size) {
    sipwasm_router_sdpops_list_codec_t codecs;
    sipwasm_router_sdpops_error_t e;
    if (!sipwasm_router_sdpops_list_codecs(&codecs, &e)) {
        return sdpops_failed(&e);
    }
    size_t used = 0;
    if (size) {
        buf[0] = 0;
    }
    for (size_t i = 0; i < codecs.len; i++) {
        sipwasm_router_sdpops_codec_t *c = &codecs.ptr[i];
        int n = snprintf(used < size ? buf + used : NULL, used < size ? size - used : 0,
                         "%.*s %u %.*s %u\n", (int)c->media.len, (const char *)c->media.ptr,
                         c->id, (int)c->name.len, (const char *)c->name.ptr, c->clock_rate);
        used += n > 0 ? (size_t)n : 0;
    }
    sipwasm_router_sdpops_list_codec_free(&codecs);
    return (int)used;
}

/* ---- rtimer ------------------------------------------------------------------------ */

int sw_rtimer_once(const char *name, uint32_t delay_ms, const char *data) {
    plugin_string_t n = str(name), d = str(data);
    sipwasm_router_rtimer_error_t e;
    if (sipwasm_router_rtimer_once(&n, delay_ms, &d, &e)) {
        return 0;
    }
    switch (e.tag) {
    case SIPWASM_ROUTER_RTIMER_ERROR_INVALID_NAME:
        set_error("rtimer: invalid name", &e.val.invalid_name);
        break;
    case SIPWASM_ROUTER_RTIMER_ERROR_OUT_OF_RANGE:
        set_error("rtimer: out of range", &e.val.out_of_range);
        break;
    case SIPWASM_ROUTER_RTIMER_ERROR_TOO_MANY:
        set_error("rtimer: too many waiting", NULL);
        break;
    default:
        set_error("rtimer: unavailable", NULL);
    }
    sipwasm_router_rtimer_error_free(&e);
    return -1;
}

/* ---- statistics -------------------------------------------------------------------- */

static int statistics_failed(sipwasm_router_statistics_error_t *e) {
    static const char *what[] = {"statistics: invalid name", "statistics: too many"};
    set_error(e->tag < 2 ? what[e->tag] : "statistics: error", &e->val.invalid_name);
    sipwasm_router_statistics_error_free(e);
    return -1;
}

int sw_statistics_update_stat(const char *name, int64_t by, int64_t *value) {
    plugin_string_t n = str(name);
    int64_t v;
    sipwasm_router_statistics_error_t e;
    if (!sipwasm_router_statistics_update_stat(&n, by, &v, &e)) {
        return statistics_failed(&e);
    }
    if (value) {
        *value = v;
    }
    return 0;
}

int sw_statistics_reset_stat(const char *name) {
    plugin_string_t n = str(name);
    sipwasm_router_statistics_error_t e;
    if (!sipwasm_router_statistics_reset_stat(&n, &e)) {
        return statistics_failed(&e);
    }
    return 0;
}

int sw_statistics_get_stat(const char *name, int64_t *value) {
    plugin_string_t n = str(name);
    int64_t v;
    sipwasm_router_statistics_error_t e;
    if (!sipwasm_router_statistics_get_stat(&n, &v, &e)) {
        return statistics_failed(&e);
    }
    if (value) {
        *value = v;
    }
    return 0;
}

/* ---- dispatcher -------------------------------------------------------------------- */

/* 1 when it went, 0 for the "false" outcomes (none active, none left), -1 with the error
 * set otherwise. */
static int dispatcher_outcome(bool ok, sipwasm_router_dispatcher_error_t *e) {
    if (ok) {
        return 1;
    }
    switch (e->tag) {
    case SIPWASM_ROUTER_DISPATCHER_ERROR_NONE_ACTIVE:
    case SIPWASM_ROUTER_DISPATCHER_ERROR_NONE_LEFT: return 0;
    case SIPWASM_ROUTER_DISPATCHER_ERROR_UNKNOWN_SET: set_error("dispatcher: unknown set", NULL); break;
    case SIPWASM_ROUTER_DISPATCHER_ERROR_UNKNOWN_ALGORITHM: set_error("dispatcher: unknown algorithm", NULL); break;
    case SIPWASM_ROUTER_DISPATCHER_ERROR_INVALID: set_error("dispatcher: invalid", &e->val.invalid); break;
    default: set_error("dispatcher: no request", NULL); break;
    }
    sipwasm_router_dispatcher_error_free(e);
    return -1;
}

int sw_dispatcher_select_dst(uint32_t set, uint32_t alg, uint32_t limit) {
    sipwasm_router_dispatcher_error_t e;
    return dispatcher_outcome(sipwasm_router_dispatcher_select_dst(set, alg, limit, &e), &e);
}

int sw_dispatcher_select_domain(uint32_t set, uint32_t alg, uint32_t limit) {
    sipwasm_router_dispatcher_error_t e;
    return dispatcher_outcome(sipwasm_router_dispatcher_select_domain(set, alg, limit, &e), &e);
}

int sw_dispatcher_next_dst(void) {
    sipwasm_router_dispatcher_error_t e;
    return dispatcher_outcome(sipwasm_router_dispatcher_next_dst(&e), &e);
}

int sw_dispatcher_mark_dst(const char *state) {
    plugin_string_t s = str(state);
    sipwasm_router_dispatcher_error_t e;
    int r = dispatcher_outcome(sipwasm_router_dispatcher_mark_dst(&s, &e), &e);
    return r == 1 ? 0 : -1;
}

int64_t sw_dispatcher_is_from_list(int64_t set) {
    uint32_t want = (uint32_t)set;
    uint32_t found;
    if (!sipwasm_router_dispatcher_is_from_list(set < 0 ? NULL : &want, &found)) {
        return -1;
    }
    return found;
}

int sw_dispatcher_load_unset(void) {
    return sipwasm_router_dispatcher_load_unset() ? 1 : 0;
}

int sw_dispatcher_load_update(void) {
    return sipwasm_router_dispatcher_load_update() ? 1 : 0;
}

/* ---- sanity, pike, permissions ----------------------------------------------------- */

int sw_sanity_check(uint32_t msg_checks, uint32_t uri_checks) {
    sipwasm_router_sanity_error_t e;
    if (sipwasm_router_sanity_check(msg_checks, uri_checks, &e)) {
        return 1;
    }
    int r = 0;
    switch (e.tag) {
    case SIPWASM_ROUTER_SANITY_ERROR_FAILED: break;
    case SIPWASM_ROUTER_SANITY_ERROR_BAD_FLAGS: set_error("sanity: bad flags", NULL); r = -1; break;
    default: set_error("sanity: no request", NULL); r = -1; break;
    }
    sipwasm_router_sanity_error_free(&e);
    return r;
}

static int pike_value(sipwasm_router_pike_standing_t s) {
    switch (s) {
    case SIPWASM_ROUTER_PIKE_STANDING_ALLOWED: return 1;
    case SIPWASM_ROUTER_PIKE_STANDING_NEWLY_BLOCKED: return -2;
    default: return -1;
    }
}

int sw_pike_check_req(void) {
    return pike_value(sipwasm_router_pike_check_req());
}

int sw_pike_check_ip(const char *ip) {
    plugin_string_t s = str(ip);
    sipwasm_router_pike_standing_t standing;
    if (!sipwasm_router_pike_check_ip(&s, &standing)) {
        return -1;
    }
    return pike_value(standing);
}

int sw_permissions_allow_source_address(uint32_t group) {
    return sipwasm_router_permissions_allow_source_address(group) ? 1 : 0;
}

int sw_permissions_allow_address(uint32_t group, const char *ip, uint16_t port) {
    plugin_string_t s = str(ip);
    bool ok;
    plugin_string_t err;
    if (!sipwasm_router_permissions_allow_address(group, &s, port, &ok, &err)) {
        set_error("permissions: not an IP address", &err);
        plugin_string_free(&err);
        return -1;
    }
    return ok ? 1 : 0;
}

int64_t sw_permissions_allow_source_address_group(void) {
    uint32_t group;
    return sipwasm_router_permissions_allow_source_address_group(&group) ? (int64_t)group : -1;
}

static int ratelimit_outcome(bool ok, bool pass, sipwasm_router_ratelimit_error_t *e) {
    if (ok) {
        return pass ? 1 : 0;
    }
    switch (e->tag) {
    case SIPWASM_ROUTER_RATELIMIT_ERROR_UNKNOWN_PIPE: set_error("ratelimit: unknown pipe", NULL); break;
    case SIPWASM_ROUTER_RATELIMIT_ERROR_NO_QUEUE: set_error("ratelimit: no queue", &e->val.no_queue); break;
    default: set_error("ratelimit: no request", NULL); break;
    }
    sipwasm_router_ratelimit_error_free(e);
    return -1;
}

int sw_ratelimit_check(void) {
    bool pass = false;
    sipwasm_router_ratelimit_error_t e;
    bool ok = sipwasm_router_ratelimit_check(&pass, &e);
    return ratelimit_outcome(ok, pass, &e);
}

int sw_ratelimit_check_pipe(uint32_t pipe) {
    bool pass = false;
    sipwasm_router_ratelimit_error_t e;
    bool ok = sipwasm_router_ratelimit_check_pipe(pipe, &pass, &e);
    return ratelimit_outcome(ok, pass, &e);
}

/* ---- htable ------------------------------------------------------------------------ */

static int htable_failed(sipwasm_router_htable_error_t *e) {
    static const char *what[] = {"htable: unknown table", "htable: not an integer",
                                 "htable: too large", "htable: full",
                                 "htable: state backend unavailable"};
    set_error(e->tag < 5 ? what[e->tag] : "htable: error", &e->val.unknown_table);
    sipwasm_router_htable_error_free(e);
    return -1;
}

int sw_htable_get(const char *table, const char *key, char *buf, size_t size) {
    plugin_string_t t = str(table), k = str(key);
    sipwasm_router_htable_option_value_t v;
    sipwasm_router_htable_error_t e;
    if (!sipwasm_router_htable_get(&t, &k, &v, &e)) {
        return htable_failed(&e);
    }
    if (!v.is_some) {
        if (size) {
            buf[0] = 0;
        }
        return 0;
    }
    value_out(v.val.tag == SIPWASM_ROUTER_HTABLE_VALUE_INT, v.val.val.int_, &v.val.val.str, buf,
              size);
    sipwasm_router_htable_option_value_free(&v);
    return 1;
}

int sw_htable_set_str(const char *table, const char *key, const char *value) {
    plugin_string_t t = str(table), k = str(key);
    sipwasm_router_htable_value_t v = {.tag = SIPWASM_ROUTER_HTABLE_VALUE_STR};
    v.val.str = str(value);
    sipwasm_router_htable_error_t e;
    return sipwasm_router_htable_set(&t, &k, &v, &e) ? 0 : htable_failed(&e);
}

int sw_htable_set_int(const char *table, const char *key, int64_t value) {
    plugin_string_t t = str(table), k = str(key);
    sipwasm_router_htable_value_t v = {.tag = SIPWASM_ROUTER_HTABLE_VALUE_INT};
    v.val.int_ = value;
    sipwasm_router_htable_error_t e;
    return sipwasm_router_htable_set(&t, &k, &v, &e) ? 0 : htable_failed(&e);
}

int sw_htable_delete(const char *table, const char *key) {
    plugin_string_t t = str(table), k = str(key);
    bool was;
    sipwasm_router_htable_error_t e;
    if (!sipwasm_router_htable_delete(&t, &k, &was, &e)) {
        return htable_failed(&e);
    }
    return was ? 1 : 0;
}

/* ---- msrp -------------------------------------------------------------------------- */

static int msrp_relay_failed(sipwasm_router_msrp_relay_error_t *e) {
    static const char *what[] = {"msrp: no next hop", "msrp: bad address",
                                 "msrp: already relayed", "msrp: no frame"};
    set_error(e->tag < 4 ? what[e->tag] : "msrp: relay failed",
              e->tag == SIPWASM_ROUTER_MSRP_RELAY_ERROR_BAD_ADDRESS ? &e->val.bad_address : NULL);
    sipwasm_router_msrp_relay_error_free(e);
    return -1;
}

int sw_msrp_reply(uint16_t code, const char *text, const char *headers) {
    plugin_string_t t = str(text), h;
    sipwasm_router_msrp_error_t e;
    if (sipwasm_router_msrp_reply(code, &t, opt_str(headers, &h), &e)) {
        return 0;
    }
    static const char *what[] = {"msrp: no request", "msrp: REPORTs are not answered",
                                 "msrp: invalid", "msrp: already answered"};
    set_error(e.tag < 4 ? what[e.tag] : "msrp: reply failed",
              e.tag == SIPWASM_ROUTER_MSRP_ERROR_INVALID ? &e.val.invalid : NULL);
    sipwasm_router_msrp_error_free(&e);
    return -1;
}

int sw_msrp_relay(void) {
    sipwasm_router_msrp_relay_error_t e;
    return sipwasm_router_msrp_relay(&e) ? 0 : msrp_relay_failed(&e);
}

int sw_msrp_set_dst(const char *addr, const char *sock) {
    plugin_string_t a = str(addr), s = str(sock);
    sipwasm_router_msrp_relay_error_t e;
    return sipwasm_router_msrp_set_dst(&a, &s, &e) ? 0 : msrp_relay_failed(&e);
}

void sw_msrp_relay_flags(uint32_t bits) { sipwasm_router_msrp_relay_flags(bits); }

void sw_msrp_reply_flags(uint32_t bits) { sipwasm_router_msrp_reply_flags(bits); }

bool sw_msrp_is_reply(void) { return sipwasm_router_msrp_is_reply(); }

/* ---- config keys, rr, registrar, siputils, nathelper ---------------------------------- */

int sw_config_key(size_t i, char *buf, size_t size) {
    plugin_list_string_t keys;
    sipwasm_router_config_keys(&keys);
    int len = -1;
    if (i < keys.len) {
        len = copy_out(&keys.ptr[i], buf, size);
    }
    plugin_list_string_free(&keys);
    return len;
}

static int record_route_failed(sipwasm_router_rr_error_t *e) {
    set_error("rr: record_route", e->tag == SIPWASM_ROUTER_RR_ERROR_INVALID ? &e->val.invalid : NULL);
    sipwasm_router_rr_error_free(e);
    return -1;
}

int sw_record_route(void) {
    sipwasm_router_rr_error_t e;
    return sipwasm_router_rr_record_route(&e) ? 0 : record_route_failed(&e);
}

int sw_loose_route(void) {
    sipwasm_router_rr_routed_t routed;
    sipwasm_router_rr_error_t e;
    if (sipwasm_router_rr_loose_route(&routed, &e)) {
        return (int)routed;
    }
    switch (e.tag) {
    case SIPWASM_ROUTER_RR_ERROR_FORBIDDEN: set_error("rr: refused (403 sent)", &e.val.forbidden); break;
    case SIPWASM_ROUTER_RR_ERROR_INVALID: set_error("rr: invalid", &e.val.invalid); break;
    default: set_error("rr: no request", NULL); break;
    }
    sipwasm_router_rr_error_free(&e);
    return -1;
}

static int registrar_failed(sipwasm_router_registrar_error_t *e) {
    static const char *what[] = {"registrar: not a REGISTER", "registrar: bad request",
                                 "registrar: interval too brief", "registrar: out of order",
                                 "registrar: too many contacts", "registrar: not found",
                                 "registrar: no request", "registrar: state backend unavailable"};
    set_error(e->tag < 8 ? what[e->tag] : "registrar: error",
              e->tag == SIPWASM_ROUTER_REGISTRAR_ERROR_BAD_REQUEST ? &e->val.bad_request : NULL);
    sipwasm_router_registrar_error_free(e);
    return -1;
}

int sw_registrar_save(const char *table) {
    plugin_string_t t = str(table);
    uint32_t n;
    sipwasm_router_registrar_error_t e;
    return sipwasm_router_registrar_save(&t, &n, &e) ? (int)n : registrar_failed(&e);
}

int sw_registrar_lookup(const char *table) {
    plugin_string_t t = str(table);
    uint32_t n;
    sipwasm_router_registrar_error_t e;
    return sipwasm_router_registrar_lookup(&t, &n, &e) ? (int)n : registrar_failed(&e);
}

bool sw_has_totag(void) { return sipwasm_router_siputils_has_totag(); }

bool sw_siputils_is_e164(const char *number) {
    plugin_string_t n = str(number);
    return sipwasm_router_siputils_is_e164(&n);
}

bool sw_siputils_is_uri_user_e164(const char *uri) {
    plugin_string_t u = str(uri);
    return sipwasm_router_siputils_is_uri_user_e164(&u);
}

bool sw_siputils_is_user(const char *user) {
    plugin_string_t u = str(user);
    return sipwasm_router_siputils_is_user(&u);
}

bool sw_siputils_uri_param(const char *name, const char *value) {
    plugin_string_t n = str(name), v;
    return sipwasm_router_siputils_uri_param(&n, opt_str(value, &v));
}

static int siputils_failed(sipwasm_router_siputils_error_t *e) {
    static const char *what[] = {"siputils: invalid argument", "siputils: invalid URI"};
    if (e->tag < 2) {
        set_error(what[e->tag], &e->val.invalid_argument);
    } else {
        set_error("siputils: no SIP request", NULL);
    }
    sipwasm_router_siputils_error_free(e);
    return -1;
}

int sw_siputils_add_uri_param(const char *param) {
    plugin_string_t p = str(param);
    sipwasm_router_siputils_error_t e;
    return sipwasm_router_siputils_add_uri_param(&p, &e) ? 0 : siputils_failed(&e);
}

int sw_siputils_tel2sip(const char *uri, const char *hostpart, char *buf, size_t size) {
    plugin_string_t u = str(uri), h = str(hostpart);
    plugin_option_string_t sip;
    sipwasm_router_siputils_error_t e;
    if (!sipwasm_router_siputils_tel2sip(&u, &h, &sip, &e)) {
        return siputils_failed(&e);
    }
    if (!sip.is_some) {
        if (size) {
            buf[0] = 0;
        }
        return 0;
    }
    int n = copy_out(&sip.val, buf, size);
    plugin_string_free(&sip.val);
    return n;
}

/* ---- uac ---------------------------------------------------------------------------- */

static int uac_failed(sipwasm_router_uac_error_t *e) {
    switch (e->tag) {
    case SIPWASM_ROUTER_UAC_ERROR_NO_CHALLENGE:
        set_error("uac: no challenge", &e->val.no_challenge);
        break;
    case SIPWASM_ROUTER_UAC_ERROR_INVALID_ARGUMENT:
        set_error("uac: invalid argument", &e->val.invalid_argument);
        break;
    case SIPWASM_ROUTER_UAC_ERROR_UNREACHABLE:
        set_error("uac: unreachable", &e->val.unreachable);
        break;
    default: set_error("uac: no SIP request", NULL);
    }
    sipwasm_router_uac_error_free(e);
    return -1;
}

int sw_uac_auth(const char *realm, const char *username, const char *password) {
    plugin_string_t r = str(realm), u = str(username), p = str(password);
    sipwasm_router_uac_error_t e;
    return sipwasm_router_uac_auth(&r, &u, &p, &e) ? 0 : uac_failed(&e);
}

int sw_uac_replace_from(const char *display, const char *uri) {
    plugin_string_t d = str(display), u = str(uri);
    sipwasm_router_uac_error_t e;
    return sipwasm_router_uac_replace_from(&d, &u, &e) ? 0 : uac_failed(&e);
}

int sw_uac_replace_to(const char *display, const char *uri) {
    plugin_string_t d = str(display), u = str(uri);
    sipwasm_router_uac_error_t e;
    return sipwasm_router_uac_replace_to(&d, &u, &e) ? 0 : uac_failed(&e);
}

int sw_uac_req_send(const char *method, const char *ruri, const char *furi, const char *turi,
                    const char *ouri, const char *hdrs, const void *body, size_t body_len) {
    sipwasm_router_uac_request_t req = {
        .method = str(method),
        .ruri = str(ruri),
        .furi = str(furi),
        .turi = str(turi),
        .ouri = str(ouri),
        .hdrs = str(hdrs),
        .body = {(uint8_t *)body, body_len},
    };
    sipwasm_router_uac_error_t e;
    return sipwasm_router_uac_req_send(&req, &e) ? 0 : uac_failed(&e);
}

bool sw_is_myself_furi(void) { return sipwasm_router_core_is_myself_furi(); }

bool sw_nat_uac_test(uint32_t flags) { return sipwasm_router_nathelper_nat_uac_test(flags); }

static int nathelper_failed(sipwasm_router_nathelper_error_t *e) {
    static const char *what[] = {"nathelper: no message", "nathelper: no contact",
                                 "nathelper: contact already changed", "nathelper: invalid"};
    set_error(e->tag < 4 ? what[e->tag] : "nathelper: error",
              e->tag == SIPWASM_ROUTER_NATHELPER_ERROR_INVALID ? &e->val.invalid : NULL);
    sipwasm_router_nathelper_error_free(e);
    return -1;
}

int sw_fix_nated_register(void) {
    sipwasm_router_nathelper_error_t e;
    return sipwasm_router_nathelper_fix_nated_register(&e) ? 0 : nathelper_failed(&e);
}

int sw_add_contact_alias(void) {
    bool added;
    sipwasm_router_nathelper_error_t e;
    if (!sipwasm_router_nathelper_add_contact_alias(&added, &e)) {
        return nathelper_failed(&e);
    }
    return added ? 1 : 0;
}

int sw_handle_ruri_alias(void) {
    bool handled;
    sipwasm_router_nathelper_error_t e;
    if (!sipwasm_router_nathelper_handle_ruri_alias(&handled, &e)) {
        return nathelper_failed(&e);
    }
    return handled ? 1 : 0;
}

/* ---- the rest of hdr, core, tm, rr, registrar, auth, htable, msrp, nathelper ---------- */

int sw_hdr_append_after(const char *headers, const char *name) {
    plugin_string_t h = str(headers), n = str(name);
    sipwasm_router_hdr_error_t e;
    return sipwasm_router_hdr_append_after(&h, &n, &e) ? 0 : hdr_failed(&e);
}

int sw_hdr_insert(const char *headers) {
    plugin_string_t h = str(headers);
    sipwasm_router_hdr_error_t e;
    return sipwasm_router_hdr_insert(&h, &e) ? 0 : hdr_failed(&e);
}

int sw_hdr_insert_before(const char *headers, const char *name) {
    plugin_string_t h = str(headers), n = str(name);
    sipwasm_router_hdr_error_t e;
    return sipwasm_router_hdr_insert_before(&h, &n, &e) ? 0 : hdr_failed(&e);
}

bool sw_hdr_is_present(const char *name) {
    plugin_string_t n = str(name);
    return sipwasm_router_hdr_is_present(&n);
}

int sw_hdr_get(const char *name, char *buf, size_t size) {
    plugin_string_t n = str(name), v;
    if (!sipwasm_router_hdr_get(&n, &v)) {
        snprintf(last_error, sizeof last_error, "hdr: no %s header", name);
        return -1;
    }
    int len = copy_out(&v, buf, size);
    plugin_string_free(&v);
    return len;
}

int sw_reset_flag(uint32_t flag) {
    sipwasm_router_core_error_t e;
    return sipwasm_router_core_reset_flag(flag, &e) ? 0 : core_failed(&e);
}

int sw_is_myself(const char *uri) {
    plugin_string_t u = str(uri);
    bool mine;
    sipwasm_router_core_error_t e;
    if (!sipwasm_router_core_is_myself(&u, &mine, &e)) {
        return core_failed(&e);
    }
    return mine ? 1 : 0;
}

bool sw_is_myself_turi(void) { return sipwasm_router_core_is_myself_turi(); }

bool sw_is_myself_srcip(void) { return sipwasm_router_core_is_myself_srcip(); }

int sw_set_advertised_address(const char *host) {
    plugin_string_t h = str(host);
    sipwasm_router_core_error_t e;
    return sipwasm_router_core_set_advertised_address(&h, &e) ? 0 : core_failed(&e);
}

void sw_set_advertised_port(uint16_t port) { sipwasm_router_core_set_advertised_port(port); }

int sw_append_branch(const char *uri) {
    plugin_string_t u;
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_append_branch(opt_str(uri, &u), &e) ? 0 : tm_failed(&e);
}

int sw_t_load_contacts(void) {
    uint32_t n;
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_load_contacts(&n, &e) ? (int)n : tm_failed(&e);
}

int sw_t_next_contacts(void) {
    bool more;
    sipwasm_router_tm_error_t e;
    if (!sipwasm_router_tm_t_next_contacts(&more, &e)) {
        return tm_failed(&e);
    }
    return more ? 1 : 0;
}

int sw_t_reply(uint16_t code, const char *reason) {
    plugin_string_t r = str(reason);
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_reply(code, &r, &e) ? 0 : tm_failed(&e);
}

int sw_t_newtran(void) {
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_newtran(&e) ? 0 : tm_failed(&e);
}

int sw_t_set_fr(uint32_t fr_inv_ms, uint32_t fr_ms) {
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_set_fr(fr_inv_ms, fr_ms, &e) ? 0 : tm_failed(&e);
}

int sw_t_suspend(uint32_t *tindex, uint32_t *tlabel) {
    plugin_tuple2_u32_u32_t ids;
    sipwasm_router_tm_error_t e;
    if (!sipwasm_router_tm_t_suspend(&ids, &e)) {
        return tm_failed(&e);
    }
    *tindex = ids.f0;
    *tlabel = ids.f1;
    return 0;
}

int sw_t_continue(uint32_t tindex, uint32_t tlabel, const char *route) {
    plugin_string_t r = str(route);
    sipwasm_router_tm_error_t e;
    return sipwasm_router_tm_t_continue(tindex, tlabel, &r, &e) ? 0 : tm_failed(&e);
}

int sw_record_route_params(const char *params) {
    plugin_string_t p = str(params);
    sipwasm_router_rr_error_t e;
    return sipwasm_router_rr_record_route_params(&p, &e) ? 0 : record_route_failed(&e);
}

bool sw_registrar_registered(const char *table, const char *uri) {
    plugin_string_t t = str(table), u;
    return sipwasm_router_registrar_registered(&t, opt_str(uri, &u));
}

bool sw_auth_has_credentials(sw_auth_kind kind, const char *realm) {
    plugin_string_t r = str(realm);
    return sipwasm_router_auth_has_credentials((sipwasm_router_auth_kind_t)kind, &r);
}

int sw_htable_incr(const char *table, const char *key, int64_t by, int64_t *value) {
    plugin_string_t t = str(table), k = str(key);
    int64_t v;
    sipwasm_router_htable_error_t e;
    if (!sipwasm_router_htable_incr(&t, &k, by, &v, &e)) {
        return htable_failed(&e);
    }
    if (value) {
        *value = v;
    }
    return 0;
}

int sw_htable_set_ex_int(const char *table, const char *key, int64_t value, uint32_t seconds) {
    plugin_string_t t = str(table), k = str(key);
    sipwasm_router_htable_value_t v = {.tag = SIPWASM_ROUTER_HTABLE_VALUE_INT};
    v.val.int_ = value;
    sipwasm_router_htable_error_t e;
    return sipwasm_router_htable_set_ex(&t, &k, &v, seconds, &e) ? 0 : htable_failed(&e);
}

int sw_htable_incr_within(const char *table, const char *key, int64_t by, int64_t min,
                          int64_t max, int64_t *value) {
    plugin_string_t t = str(table), k = str(key);
    plugin_option_s64_t v;
    sipwasm_router_htable_error_t e;
    if (!sipwasm_router_htable_incr_within(&t, &k, by, min, max, &v, &e)) {
        return htable_failed(&e);
    }
    if (!v.is_some) {
        return 0;
    }
    if (value) {
        *value = v.val;
    }
    return 1;
}

int sw_htable_exists(const char *table, const char *key) {
    plugin_string_t t = str(table), k = str(key);
    bool there;
    sipwasm_router_htable_error_t e;
    if (!sipwasm_router_htable_exists(&t, &k, &there, &e)) {
        return htable_failed(&e);
    }
    return there ? 1 : 0;
}

int sw_msrp_forward(const char *to_path, const char *from_path) {
    plugin_string_t to = str(to_path), from = str(from_path);
    sipwasm_router_msrp_relay_error_t e;
    return sipwasm_router_msrp_forward(&to, &from, &e) ? 0 : msrp_relay_failed(&e);
}

bool sw_msrp_is_request(void) { return sipwasm_router_msrp_is_request(); }

int sw_fix_nated_contact(void) {
    sipwasm_router_nathelper_error_t e;
    return sipwasm_router_nathelper_fix_nated_contact(&e) ? 0 : nathelper_failed(&e);
}

int sw_set_contact_alias(bool trim) {
    sipwasm_router_nathelper_error_t e;
    return sipwasm_router_nathelper_set_contact_alias(trim, &e) ? 0 : nathelper_failed(&e);
}

void sw_add_rport(void) { sipwasm_router_nathelper_add_rport(); }

/* ---- forward, nosip, net, path ------------------------------------------------------ */

static int forward_to(const char *uri) {
    plugin_string_t u;
    sipwasm_router_forward_error_t e;
    if (sipwasm_router_forward_forward(opt_str(uri, &u), &e)) {
        return 0;
    }
    switch (e.tag) {
    case SIPWASM_ROUTER_FORWARD_ERROR_NO_REQUEST: set_error("forward: no request", NULL); break;
    case SIPWASM_ROUTER_FORWARD_ERROR_NO_DESTINATION: set_error("forward: no destination", &e.val.no_destination); break;
    default: set_error("forward: Max-Forwards reached 0", NULL); break;
    }
    sipwasm_router_forward_error_free(&e);
    return -1;
}

int sw_forward(void) { return forward_to(NULL); }

int sw_forward_uri(const char *uri) { return forward_to(uri); }

int sw_nosip_reply(const void *data, size_t len) {
    plugin_list_u8_t d = {(uint8_t *)data, len};
    sipwasm_router_nosip_error_t e;
    if (sipwasm_router_nosip_reply(&d, &e)) {
        return 0;
    }
    switch (e.tag) {
    case SIPWASM_ROUTER_NOSIP_ERROR_NO_PACKET: set_error("nosip: no packet to answer", NULL); break;
    case SIPWASM_ROUTER_NOSIP_ERROR_TOO_LARGE:
        snprintf(last_error, sizeof last_error, "nosip: reply too large (%u bytes)", e.val.too_large);
        break;
    default: set_error("nosip: too many replies", NULL); break;
    }
    sipwasm_router_nosip_error_free(&e);
    return -1;
}

int sw_net_send_udp(const char *dst, const void *payload, size_t len) {
    plugin_string_t d = str(dst);
    plugin_list_u8_t p = {(uint8_t *)payload, len};
    sipwasm_router_net_error_t e;
    if (sipwasm_router_net_send_udp(&d, &p, &e)) {
        return 0;
    }
    switch (e.tag) {
    case SIPWASM_ROUTER_NET_ERROR_INVALID_ADDRESS: set_error("net: invalid address", &e.val.invalid_address); break;
    case SIPWASM_ROUTER_NET_ERROR_DENIED: set_error("net: denied", &e.val.denied); break;
    case SIPWASM_ROUTER_NET_ERROR_TOO_LARGE:
        snprintf(last_error, sizeof last_error, "net: datagram too large (%u bytes)", e.val.too_large);
        break;
    default: set_error("net: too many datagrams in one event", NULL); break;
    }
    sipwasm_router_net_error_free(&e);
    return -1;
}

static int path_done(bool ok, sipwasm_router_path_error_t *e) {
    if (ok) {
        return 0;
    }
    set_error(e->tag == SIPWASM_ROUTER_PATH_ERROR_NOT_REGISTER ? "path: not a REGISTER" : "path: invalid",
              e->tag == SIPWASM_ROUTER_PATH_ERROR_INVALID ? &e->val.invalid : NULL);
    sipwasm_router_path_error_free(e);
    return -1;
}

int sw_add_path(const char *user) {
    plugin_string_t u;
    sipwasm_router_path_error_t e;
    return path_done(sipwasm_router_path_add_path(opt_str(user, &u), &e), &e);
}

int sw_add_path_received(const char *user) {
    plugin_string_t u;
    sipwasm_router_path_error_t e;
    return path_done(sipwasm_router_path_add_path_received(opt_str(user, &u), &e), &e);
}
