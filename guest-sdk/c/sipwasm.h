/*
 * sipwasm.h — the C SDK for sipwasm routing plugins.
 *
 * A thin layer over the bindings `wit-bindgen c` generates from wit/ (world `plugin`),
 * with the names Kamailio users know. A plugin defines the routes it has; the SDK gives
 * every other export a default (as the Rust SDK does), so tutorial 3 is:
 *
 *     #include "sipwasm.h"
 *
 *     sw_verdict sw_request_route(void) {
 *         sw_log_info("Hello, I am in the request_route");
 *         if (sw_is_method("INVITE")) {
 *             if (sw_sl_send_reply(480, "Temporarily Unavailable") < 0) return SW_FAILED;
 *             return SW_EXIT;
 *         }
 *         return sw_route("RESPOND_501");
 *     }
 *
 *     sw_verdict sw_route(const char *name) {
 *         if (strcmp(name, "RESPOND_501") == 0) { ... }
 *         return sw_unknown_route(name);
 *     }
 *
 * Errors are return codes: a function that can fail returns 0 (or a value >= 0) on success
 * and -1 on failure, and sw_error() then says why until the next failing call. A route
 * that returns SW_FAILED fails its event with that text (the router logs it and answers
 * with the tenant's fallback), as `?` does in the Rust SDK.
 *
 * Memory: strings passed in are borrowed for the call (no copy); what the router returns
 * is copied into the caller's buffer and freed at once. Nothing is kept between calls
 * but the last error's text, in a static buffer.
 *
 * Build: see guest-sdk/c/README.md (`scripts/build-plugins` builds the examples).
 */
#ifndef SIPWASM_H
#define SIPWASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- routes ------------------------------------------------------------------------ */

/* How a route ended. */
typedef enum sw_verdict {
    SW_CONTINUE = 0, /* ran to its end */
    SW_EXIT = 1,     /* `exit` */
    SW_DROP = 2,     /* `drop`: the message is not sent on */
    SW_FAILED = 3,   /* the route failed: sw_error() says why */
} sw_verdict;

/* The routes a plugin may define. Every one has a default: request_route continues,
 * reply_route does not exist (the router then stops calling it), named, failure, branch
 * and onreply routes are unknown, nosip and MSRP events continue, the self-test passes. */
sw_verdict sw_request_route(void);
sw_verdict sw_reply_route(void);
sw_verdict sw_route(const char *name);          /* route[NAME] */
sw_verdict sw_failure_route(const char *name);  /* failure_route[NAME] (t_on_failure) */
sw_verdict sw_branch_route(const char *name);   /* branch_route[NAME] (t_on_branch) */
sw_verdict sw_onreply_route(const char *name);  /* onreply_route[NAME] (t_on_reply) */
sw_verdict sw_nosip_msg(void);                  /* event_route[nosip:msg] */
sw_verdict sw_msrp_frame_in(void);              /* event_route[msrp:frame-in] */
/* event_route[NAME] of the router's timers: "timer:NAME" (a configured timer or a one-shot,
 * see sw_rtimer_once), "htable:expired:TABLE" ($shtrecord(key), $shtrecord(value)). */
sw_verdict sw_event_route(const char *name);
/* Run before a new version is swapped in: 0 to pass, -1 with sw_fail() to keep the old. */
int sw_self_test(void);

/* "No such route": what a route function answers for a name it does not have. */
sw_verdict sw_unknown_route(const char *name);
/* Fail with `why` (printf-like): sets sw_error() and returns SW_FAILED / -1. */
sw_verdict sw_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Why the last call failed ("" when none has). */
const char *sw_error(void);

/* ---- log --------------------------------------------------------------------------- */

typedef enum sw_level {
    SW_L_DBG = 0,
    SW_L_INFO = 1,
    SW_L_NOTICE = 2,
    SW_L_WARN = 3,
    SW_L_ERR = 4,
    SW_L_CRIT = 5,
} sw_level;

/* A line in the router's log, tagged with the plugin and the route. */
void sw_log(sw_level level, const char *message);
#define sw_log_info(message) sw_log(SW_L_INFO, (message))
#define sw_log_warn(message) sw_log(SW_L_WARN, (message))
/* `xlog`: the template's pseudo-variables are expanded ("$rm from $si"). */
int sw_xlog(sw_level level, const char *template_);

/* ---- pv: pseudo-variables ------------------------------------------------------------ */

/* `$name` as text into `buf` (NUL-terminated, cut to `size`): its length, 0 for $null
 * (buf ""), -1 on error. Integers are printed. */
int sw_pv_get(const char *name, char *buf, size_t size);
/* `$name` as an integer: 0 and *out on success, -1 when it is not one or on error. */
int sw_pv_get_int(const char *name, int64_t *out);
int sw_pv_sets(const char *name, const char *value);
int sw_pv_seti(const char *name, int64_t value);
int sw_pv_unset(const char *name);
/* 1 when `$name` is $null, 0 when not, -1 on error. */
int sw_pv_is_null(const char *name);

/* `pv.format`: the template with its pseudo-variables expanded, into `buf`: its length,
 * or -1 on error. */
int sw_pv_format(const char *template_, char *buf, size_t size);

/* ---- sl, core, hdr, maxfwd, tm, config ---------------------------------------------- */

int sw_sl_send_reply(uint16_t code, const char *reason);
int sw_sl_append_to_reply(const char *headers); /* "Name: value\r\n" lines */
int sw_sl_send_reply_error(void);

bool sw_is_method(const char *method);
bool sw_is_method_in(const char *letters); /* "IRB": INVITE, REGISTER, BYE ... */
bool sw_is_myself_ruri(void);
void sw_force_rport(void);
int sw_set_flag(uint32_t flag);
int sw_is_flag_set(uint32_t flag); /* 1, 0, or -1 on error */
void sw_drop(void);

int sw_hdr_append(const char *headers); /* append_hf */
int sw_hdr_remove(const char *name);    /* remove_hf: how many were removed, or -1 */

/* process_maxfwd(limit): 0 when the request may go on, -1 when Max-Forwards reached 0
 * (answer 483) or on error. */
int sw_process_maxfwd(uint32_t limit);

int sw_t_relay(void);
int sw_t_relay_to(const char *dst); /* t_relay to a SIP URI */
/* t_check_trans: the request belongs to a transaction (for a CANCEL: the INVITE's). */
bool sw_t_check_trans(void);
/* In a failure route: the transaction was canceled; the status of its best reply (or -1). */
bool sw_t_is_canceled(void);
int sw_t_get_status_code(void);
void sw_t_on_failure(const char *route);
void sw_t_on_branch(const char *route);
void sw_t_on_reply(const char *route);

/* The plugin's own configuration (`[plugin.config]`): the value of `key` into `buf`,
 * its length, or -1 when the key is not set. */
int sw_config_get(const char *key, char *buf, size_t size);

/* The i-th key of `[plugin.config]` into `buf`: its length, -1 past the last one. */
int sw_config_key(size_t i, char *buf, size_t size);

/* ---- rr, registrar, siputils, nathelper ---------------------------------------------- */

int sw_record_route(void);
/* loose_route: SW_RR_* >= 0, or -1 when the Route set was refused (the router answered
 * 403: end the route) or on error. */
enum { SW_RR_NO_ROUTE = 0, SW_RR_ROUTE_SET = 1, SW_RR_FLOW = 2, SW_RR_PRELOADED = 3 };
int sw_loose_route(void);
/* save(table): the number of contacts bound (the router has answered), or -1. */
int sw_registrar_save(const char *table);
/* lookup(table): the number of branches made, or -1 (nobody registered: sw_error()). */
int sw_registrar_lookup(const char *table);
bool sw_has_totag(void);
/* siputils: is_e164(number), is_uri_user_e164(uri), is_user(user) (the credentials auth
 * checked), uri_param(name, value or NULL) on the Request-URI: true or false. */
bool sw_siputils_is_e164(const char *number);
bool sw_siputils_is_uri_user_e164(const char *uri);
bool sw_siputils_is_user(const char *user);
bool sw_siputils_uri_param(const char *name, const char *value);
/* add_uri_param("name" or "name=value") to the Request-URI: 0 or -1. */
int sw_siputils_add_uri_param(const char *param);
/* tel2sip(uri, hostpart) into `buf`: the SIP URI's length, 0 when `uri` is not a tel: URI
 * (buf ""), -1 on error. */
int sw_siputils_tel2sip(const char *uri, const char *hostpart, char *buf, size_t size);

/* ---- uac: the router as a client (Kamailio's uac) ------------------------------------- */

/* uac_auth(): in a failure route after a 401/407, credentials for `realm` (only a challenge
 * naming it is answered) for the next t_relay: 0 or -1. */
int sw_uac_auth(const char *realm, const char *username, const char *password);
/* uac_replace_from / uac_replace_to(display or "", uri), restored in replies and, with a
 * Record-Route, in the dialog's later requests: 0 or -1. */
int sw_uac_replace_from(const char *display, const char *uri);
int sw_uac_replace_to(const char *display, const char *uri);
/* uac_req_send(): a request from the router, sent again over UDP until answered, not
 * INVITE, ACK or CANCEL ("" ouri: to the ruri's host; hdrs
 * with their CRLFs; body of `body_len` bytes): 0 or -1. */
int sw_uac_req_send(const char *method, const char *ruri, const char *furi, const char *turi,
                    const char *ouri, const char *hdrs, const void *body, size_t body_len);
bool sw_is_myself_furi(void);
/* nat_uac_test flags */
enum { SW_NAT_CONTACT_PRIVATE = 1, SW_NAT_VIA_RECEIVED = 2, SW_NAT_VIA_PORT = 16 };
bool sw_nat_uac_test(uint32_t flags);
int sw_fix_nated_register(void);
/* 1 when an alias was added, 0 when not needed, -1 on error. */
int sw_add_contact_alias(void);
/* 1 when the Request-URI's alias was handled, 0 when it had none, -1 on error. */
int sw_handle_ruri_alias(void);

/* ---- auth: digest (SIP requests and MSRP AUTH) --------------------------------------- */

typedef enum sw_auth_kind {
    SW_AUTH_WWW = 0,   /* WWW-Authenticate / Authorization (REGISTER, MSRP AUTH) */
    SW_AUTH_PROXY = 1, /* Proxy-Authenticate / Proxy-Authorization */
} sw_auth_kind;

/* Why sw_auth_check refused (all < 0). */
enum {
    SW_AUTH_NO_CREDENTIALS = -1, /* challenge */
    SW_AUTH_MALFORMED = -2,
    SW_AUTH_INVALID_NONCE = -3,
    SW_AUTH_STALE_NONCE = -4, /* challenge again with stale */
    SW_AUTH_NONCE_REUSED = -5,
    SW_AUTH_INVALID_PASSWORD = -6,
    SW_AUTH_NO_REQUEST = -7,
};

/* The credentials of `kind` for `realm` match `password`: 0 and the user name into
 * `user` (may be NULL), else one of SW_AUTH_* (and sw_error()). */
int sw_auth_check(sw_auth_kind kind, const char *realm, const char *password, char *user,
                  size_t size);
/* sw_auth_check against HA1 hashes instead of a password: hex H(user:realm:password), an
 * MD5 and/or a SHA-256 one separated by ':' (`sipwasm passwd USER REALM`). */
int sw_auth_check_ha1(sw_auth_kind kind, const char *realm, const char *ha1, char *user,
                      size_t size);
/* Answer with a challenge (MD5) for `realm`; the route then ends. */
int sw_auth_challenge(sw_auth_kind kind, const char *realm);
/* The same, telling the client its nonce was stale when `stale`. */
int sw_auth_challenge_with(sw_auth_kind kind, const char *realm, bool stale);
/* The user name of the credentials for `realm` into `buf`: its length, -1 when none. */
int sw_auth_username(sw_auth_kind kind, const char *realm, char *buf, size_t size);
/* Remove the checked credentials before the request goes on. */
void sw_auth_consume_credentials(sw_auth_kind kind);

/* ---- dialog: calls per user, against toll fraud ---------------------------------------- */

/* Why sw_dialog_limit_calls refused (all < 0). */
enum {
    SW_CALLS_CONCURRENT = -1, /* the user has that many calls up or ringing */
    SW_CALLS_PER_MINUTE = -2, /* the user started that many calls in the last minute */
    SW_CALLS_NOT_A_CALL = -3, /* not an initial INVITE */
};

/* Count this initial INVITE as a call of `user` when it has fewer than `concurrent` calls
 * up or ringing and started fewer than `per_minute` in the last minute (0: no limit): 0,
 * or one of SW_CALLS_* (and sw_error()). The router frees the place on a failure, or on
 * the BYE of an answered call. */
int sw_dialog_limit_calls(const char *user, uint32_t concurrent, uint32_t per_minute);
/* Calls of `user` up or ringing. */
uint32_t sw_dialog_calls_of(const char *user);

/* ---- htable: shared tables ------------------------------------------------------------ */

/* `$sht(table=>key)` into `buf` (integers printed): 1 when found, 0 when absent (buf ""),
 * -1 on error. */
int sw_htable_get(const char *table, const char *key, char *buf, size_t size);
int sw_htable_set_str(const char *table, const char *key, const char *value);
int sw_htable_set_int(const char *table, const char *key, int64_t value);
/* 1 when it was there, 0 when not, -1 on error. */
int sw_htable_delete(const char *table, const char *key);

/* ---- statistics: the plugin's own counters ----------------------------------------------- */

/* Add `by` (negative: subtract) to counter `name` (created at 0; 1-64 of a-z, 0-9, _): 0,
 * with the new value in `*value` (when not NULL), or -1 on error. Shown in /metrics as
 * sipwasm_plugin_stat{tenant, name} and in `sipwasm ctl stats`. */
int sw_statistics_update_stat(const char *name, int64_t by, int64_t *value);
/* Set counter `name` back to 0: 0, or -1 on error. */
int sw_statistics_reset_stat(const char *name);
/* The value of counter `name` (0 when never updated) in `*value`: 0, or -1 on error. */
int sw_statistics_get_stat(const char *name, int64_t *value);

/* ---- rtimer: timers ------------------------------------------------------------------ */

/* Run sw_event_route("timer:NAME") once, `delay_ms` from now, with $rtimer(data) set to
 * `data`: 0, or -1 on error (bad name, over a day, over 1 KiB of data, 1024 waiting). The
 * config's timers ([[plugin.rtimer]] name, interval_ms) need no call. */
int sw_rtimer_once(const char *name, uint32_t delay_ms, const char *data);

/* ---- textops: bodies, searches, substitutions (Kamailio's textops) -------------------- */

/* Each body operation sees the body as the previous ones left it; the Content-Length is
 * always written from the body sent. Errors: -1 with sw_error() saying why. */

/* 1 when the message has a body (of `content_type`, or a part of it; "" any), else 0. */
int sw_textops_has_body(const char *content_type);
/* The body as it will be sent into `buf` (NUL-terminated, cut to `size`): its length. */
int sw_textops_get_body(char *buf, size_t size);
/* set_body(body, type): 0 or -1; `content_type` "" keeps the message's. */
int sw_textops_set_body(const void *body, size_t len, const char *content_type);
/* remove_body(): 0 or -1. */
int sw_textops_remove_body(void);
/* set_reply_body(body, type): the body of the replies this event sends: 0 or -1. */
int sw_textops_set_reply_body(const void *body, size_t len, const char *content_type);
/* search(re) in the whole message as it will be sent: 1 match, 0 none, -1 error. */
int sw_textops_search(const char *re);
/* search_body(re): 1, 0 or -1. */
int sw_textops_search_body(const char *re);
/* search_hf(name, re): 1, 0 or -1. */
int sw_textops_search_hf(const char *name, const char *re);
/* replace_body(re, text), replace_body_all with `all`: how many matches, or -1. */
int sw_textops_replace_body(const char *re, const char *text, int all);
/* subst_body("/re/repl/flags"): how many matches were replaced, or -1. */
int sw_textops_subst_body(const char *expr);
/* subst_hf(name, "/re/repl/flags", which: "f" first, "l" last, "a" all): how many
 * values changed, or -1. */
int sw_textops_subst_hf(const char *name, const char *expr, const char *which);
/* get_body_part(type) into `buf`: its length, or -1 when there is no such part. */
int sw_textops_get_body_part(const char *content_type, char *buf, size_t size);
/* filter_body(type): 1 kept, 0 no such part, -1 error. */
int sw_textops_filter_body(const char *content_type);

/* ---- sdpops: SDP codecs, media, addresses (Kamailio's sdpops) ------------------------- */

/* Lists are names or payload types separated by commas ("PCMU,PCMA", "0,8"). Tests answer
 * 1, 0 or -1 (error: no SDP, bad SDP, bad argument); changes how many, or -1. */
int sw_sdpops_sdp_content(void);
int sw_sdpops_with_media(const char *media);
int sw_sdpops_with_codecs_by_name(const char *names);
int sw_sdpops_with_codecs_by_id(const char *ids);
/* Every codec of every active stream, one "media id name clock_rate" line each, into
 * `buf`: the full length, or -1. */
int sw_sdpops_list_codecs(char *buf, size_t size);
int sw_sdpops_remove_codecs_by_name(const char *names);
int sw_sdpops_remove_codecs_by_id(const char *ids);
/* Keep only these codecs in the streams of type `media` ("" every stream). */
int sw_sdpops_keep_codecs_by_name(const char *names, const char *media);
int sw_sdpops_keep_codecs_by_id(const char *ids, const char *media);
int sw_sdpops_remove_media(const char *media);
/* Every c= line to `ip`: how many changed, or -1. */
int sw_sdpops_set_connection_address(const char *ip);
/* The o= address to `ip`: 1, 0 when there is no o= line, -1. */
int sw_sdpops_set_origin_address(const char *ip);

/* ---- dispatcher: destination sets, probes, failover ------------------------------------ */

/* ds_select_dst(set, alg, limit): $du becomes a destination of `set` (Kamailio's algorithm
 * numbers: 0 Call-ID hash, 4 round-robin, 8 priority, 9 weight, 10 call load ...), up to
 * `limit` (0: all) kept for failover. 1 when set, 0 when none is active, -1 on error. */
int sw_dispatcher_select_dst(uint32_t set, uint32_t alg, uint32_t limit);
/* ds_select_domain: the same, rewriting the Request-URI's host and port. */
int sw_dispatcher_select_domain(uint32_t set, uint32_t alg, uint32_t limit);
/* ds_next_dst (failure route): 1 when the next destination was set, 0 when every one was
 * tried, -1 on error. */
int sw_dispatcher_next_dst(void);
/* ds_mark_dst(state) on the destination last selected ("ip": out until it answers
 * probes; "a", "i", "d", "t"): 0, or -1 on error. */
int sw_dispatcher_mark_dst(const char *state);
/* ds_is_from_list(set) (`set` < 0: any granted): the set whose destination sent the
 * request, or -1. */
int64_t sw_dispatcher_is_from_list(int64_t set);
/* ds_load_unset / ds_load_update (on BYE or CANCEL): 1 when the call stopped counting. */
int sw_dispatcher_load_unset(void);
int sw_dispatcher_load_update(void);

/* ---- sanity, pike, permissions: the edge's checks --------------------------------------- */

/* sanity_check(msg_checks, uri_checks) with Kamailio's flags (defaults 3047 and 7): 1 when
 * the request passes, 0 when it failed a check (answered already as Kamailio answers it),
 * -1 on error (bad flags). */
int sw_sanity_check(uint32_t msg_checks, uint32_t uri_checks);
/* pike_check_req(): 1 under the limit, -2 blocked by this request, -1 blocked already. */
int sw_pike_check_req(void);
/* pike_check_ip(ip): the same for `ip`; -1 when it is not an IP address too. */
int sw_pike_check_ip(const char *ip);
/* allow_source_address(group): 1 when the source matches an entry of `group`, else 0
 * (the entry's tag goes to $avp(peer_tag)). */
int sw_permissions_allow_source_address(uint32_t group);
/* allow_address(group, ip, port): 1 / 0, -1 when `ip` is not an IP address. */
int sw_permissions_allow_address(uint32_t group, const char *ip, uint16_t port);
/* allow_source_address_group(): the group of the first entry the source matches, or -1. */
int64_t sw_permissions_allow_source_address_group(void);
/* rl_check(): 1 when the request may pass its method's pipe, 0 when over the limit, -1 on
 * error (no queue for the method). */
int sw_ratelimit_check(void);
/* rl_check_pipe(pipe): the same against `pipe` (-1: no such pipe). */
int sw_ratelimit_check_pipe(uint32_t pipe);

/* ---- msrp: event_route[msrp:frame-in] -------------------------------------------------- */

/* Answer the frame: `code` and `text`, with extra header lines (or NULL). */
int sw_msrp_reply(uint16_t code, const char *text, const char *headers);
/* Relay the frame to the next To-Path hop (or to sw_msrp_set_dst's destination). */
int sw_msrp_relay(void);
/* Relay to `addr` from local socket `sock` ("tcp:IP:PORT", "" for any). */
int sw_msrp_set_dst(const char *addr, const char *sock);
void sw_msrp_relay_flags(uint32_t bits); /* 1: only on an open connection; 2: close after */
void sw_msrp_reply_flags(uint32_t bits);
bool sw_msrp_is_reply(void);

/* ---- more of hdr, core, tm, rr, registrar, auth, htable, msrp, nathelper ------------- */

int sw_hdr_append_after(const char *headers, const char *name); /* after the first `name` */
int sw_hdr_insert(const char *headers); /* insert_hf: before the first header */
int sw_hdr_insert_before(const char *headers, const char *name);
bool sw_hdr_is_present(const char *name); /* is_present_hf */
/* The first `name` header's value into `buf`: its length, -1 when there is none. */
int sw_hdr_get(const char *name, char *buf, size_t size);

int sw_reset_flag(uint32_t flag);
/* 1 when `uri` names this router (a listener or an alias), 0 when not, -1 on error. */
int sw_is_myself(const char *uri);
bool sw_is_myself_turi(void);
bool sw_is_myself_srcip(void);
/* What goes into our Via and Record-Route for this message. */
int sw_set_advertised_address(const char *host);
void sw_set_advertised_port(uint16_t port);

/* A branch of the destination set: `uri`, or (NULL) the current $ru/$du. */
int sw_append_branch(const char *uri);
/* Serial forking by q: how many contacts / 1 when a group was taken, 0 when none is left. */
int sw_t_load_contacts(void);
int sw_t_next_contacts(void);
int sw_t_reply(uint16_t code, const char *reason); /* statefully */
int sw_t_newtran(void);
int sw_t_set_fr(uint32_t fr_inv_ms, uint32_t fr_ms); /* 0 keeps the default */
/* Suspend the request's transaction; resume it from another event with sw_t_continue in
 * the plugin's route `route`. */
int sw_t_suspend(uint32_t *tindex, uint32_t *tlabel);
int sw_t_continue(uint32_t tindex, uint32_t tlabel, const char *route);

int sw_record_route_params(const char *params); /* ";params" in our Record-Route */
/* `uri` (NULL: the Request-URI) has a binding in `table`. */
bool sw_registrar_registered(const char *table, const char *uri);
bool sw_auth_has_credentials(sw_auth_kind kind, const char *realm);
/* Add `by` to the integer at `key` (0 when missing): 0 and the new value in *value. */
int sw_htable_incr(const char *table, const char *key, int64_t by, int64_t *value);
/* 1 when `key` has a value, 0 when not, -1 on error. */
int sw_htable_exists(const char *table, const char *key);
/* sht_setxi: set `key` to an integer expiring `seconds` from now (0: never): 0, or -1. */
int sw_htable_set_ex_int(const char *table, const char *key, int64_t value, uint32_t seconds);
/* `sw_htable_incr` unless the new value would leave min..max: 1 and the new value in
 * *value, 0 when it would (nothing changed), -1 on error. */
int sw_htable_incr_within(const char *table, const char *key, int64_t by, int64_t min,
                          int64_t max, int64_t *value);
/* Send the frame with these To-Path and From-Path values (space-separated URIs). */
int sw_msrp_forward(const char *to_path, const char *from_path);
bool sw_msrp_is_request(void);
int sw_fix_nated_contact(void);
int sw_set_contact_alias(bool trim);
void sw_add_rport(void);

/* ---- forward, nosip, net, path -------------------------------------------------------- */

int sw_forward(void);                /* statelessly, to $du or the Request-URI */
int sw_forward_uri(const char *uri); /* statelessly, to `uri` */
/* event_route[nosip:msg]: send `len` bytes back to where the packet came from. */
int sw_nosip_reply(const void *data, size_t len);
/* A datagram to `dst` ("IP:PORT", granted by the config's udp_allow) when the event ends. */
int sw_net_send_udp(const char *dst, const void *payload, size_t len);
/* Path for a REGISTER through this router (RFC 3327), with `user` (or NULL) in its URI;
 * _received adds the source as `received`. */
int sw_add_path(const char *user);
int sw_add_path_received(const char *user);

#ifdef __cplusplus
}
#endif

#endif /* SIPWASM_H */
