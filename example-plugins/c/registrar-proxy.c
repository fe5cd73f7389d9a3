/*
 * A registrar and proxy for a small domain in C, shaped after Kamailio's default
 * kamailio.cfg: the twin of example-plugins/registrar-proxy (Rust; its README says what
 * phones get). REGISTER needs digest authentication against the users of
 * [plugin.config] (`ha1.<name>`: the HA1 hashes `sipwasm passwd` prints; `user.<name>`: a
 * password) and is saved in "location"; initial requests from our users need
 * proxy authentication, requests for foreign domains are refused (no open relay), and
 * calls go to the callee's registered contacts; requests inside a dialog follow the
 * signed route set; with `voicemail` set, a call nobody answers (486, 408, 480) goes there.
 * Against toll fraud: `max_calls` / `calls_per_minute` per user (sw_dialog_limit_calls),
 * and with `gateway` set, numbers go there only with one of `allow_prefixes` or for
 * `granted` users.
 *
 * Its behaviour is example-plugins/cases/registrar-proxy.toml, the same file as the Rust
 * one's.
 */
#include "sipwasm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLT_NATS 5
#define MAX_USERS 64

static char realm[128], voicemail[256], gateway[256], allow_prefixes[512], granted[512];
static uint32_t max_calls, calls_per_minute;
static struct {
    char name[64], secret[160];
    bool ha1; /* `secret` is HA1 hashes, not a password */
} users[MAX_USERS];
static size_t n_users;
static bool configured;

static void configure(void) {
    if (configured) {
        return;
    }
    configured = true;
    if (sw_config_get("realm", realm, sizeof realm) < 0) {
        strcpy(realm, "sipwasm.local");
    }
    if (sw_config_get("voicemail", voicemail, sizeof voicemail) < 0) {
        voicemail[0] = 0;
    }
    if (sw_config_get("gateway", gateway, sizeof gateway) < 0) {
        gateway[0] = 0;
    }
    if (sw_config_get("allow_prefixes", allow_prefixes, sizeof allow_prefixes) < 0) {
        allow_prefixes[0] = 0;
    }
    if (sw_config_get("granted", granted, sizeof granted) < 0) {
        granted[0] = 0;
    }
    char number[16];
    max_calls = sw_config_get("max_calls", number, sizeof number) < 0 ? 0 : strtoul(number, NULL, 10);
    calls_per_minute =
        sw_config_get("calls_per_minute", number, sizeof number) < 0 ? 0 : strtoul(number, NULL, 10);
    char key[80];
    for (size_t i = 0; n_users < MAX_USERS && sw_config_key(i, key, sizeof key) >= 0; i++) {
        bool ha1 = strncmp(key, "ha1.", 4) == 0;
        const char *name = ha1 ? key + 4 : key + 5;
        if ((!ha1 && strncmp(key, "user.", 5) != 0) || strlen(name) >= sizeof users[0].name) {
            continue;
        }
        strcpy(users[n_users].name, name);
        users[n_users].ha1 = ha1;
        if (sw_config_get(key, users[n_users].secret, sizeof users[0].secret) >= 0) {
            n_users++;
        }
    }
}

static int user_index(const char *user) {
    for (size_t i = 0; i < n_users; i++) {
        if (strcmp(users[i].name, user) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Check the credentials of `kind`; challenge when they are missing or wrong (the route
 * then ends: SW_EXIT). SW_CONTINUE with the user in `user` when they are good. */
static sw_verdict authenticate(sw_auth_kind kind, char *user, size_t size) {
    int rc = SW_AUTH_NO_CREDENTIALS;
    /* an unknown user is challenged like a wrong password: nothing tells who exists */
    if (sw_auth_username(kind, realm, user, size) >= 0) {
        int i = user_index(user);
        if (i >= 0) {
            rc = users[i].ha1 ? sw_auth_check_ha1(kind, realm, users[i].secret, user, size)
                              : sw_auth_check(kind, realm, users[i].secret, user, size);
        }
    }
    if (rc == 0) {
        sw_auth_consume_credentials(kind);
        return SW_CONTINUE;
    }
    /* no log line per failure: the router counts them and logs bans once */
    return sw_auth_challenge_with(kind, realm, rc == SW_AUTH_STALE_NONCE) < 0 ? SW_FAILED
                                                                               : SW_EXIT;
}

/* route[RELAY] */
static sw_verdict relay(void) {
    if (sw_is_method("INVITE")) {
        sw_t_on_reply("MANAGE_REPLY");
        if (voicemail[0]) {
            sw_t_on_failure("MANAGE_FAILURE");
        }
    }
    if (sw_t_relay() < 0 && sw_sl_send_reply_error() < 0) {
        return SW_FAILED;
    }
    return SW_EXIT;
}

/* route[REQINIT] */
static sw_verdict reqinit(void) {
    sw_force_rport();
    if (sw_process_maxfwd(10) < 0) {
        return sw_sl_send_reply(483, "Too Many Hops") < 0 ? SW_FAILED : SW_EXIT;
    }
    if (sw_is_method("OPTIONS") && sw_is_myself_ruri() && sw_pv_is_null("$rU") == 1) {
        /* a phone checking that its proxy is alive */
        return sw_sl_send_reply(200, "Keepalive") < 0 ? SW_FAILED : SW_EXIT;
    }
    return SW_CONTINUE;
}

/* route[NATDETECT] */
static sw_verdict natdetect(void) {
    int64_t vias = 0;
    bool from_a_phone = sw_pv_get_int("$hdrc(Via)", &vias) == 0 && vias == 1;
    if (sw_nat_uac_test(SW_NAT_VIA_PORT | SW_NAT_VIA_RECEIVED | SW_NAT_CONTACT_PRIVATE)) {
        if (sw_is_method("REGISTER") && sw_fix_nated_register() < 0) {
            return SW_FAILED;
        }
        if (sw_set_flag(FLT_NATS) < 0) {
            return SW_FAILED;
        }
    }
    if (from_a_phone && !sw_is_method("REGISTER") && sw_pv_is_null("$hdr(Contact)") == 0) {
        /* the other side's requests of this dialog find the phone where its packets come
         * from (a Contact that is no SIP URI is left as it is) */
        sw_add_contact_alias();
    }
    return SW_CONTINUE;
}

/* route[WITHINDLG] */
static sw_verdict within_dialog(void) {
    int routed = sw_loose_route();
    if (routed < 0) {
        /* a Route set this router did not issue: answered 403 */
        return SW_EXIT;
    }
    if (routed == SW_RR_ROUTE_SET || routed == SW_RR_FLOW) {
        if (sw_pv_is_null("$du") == 1 && sw_handle_ruri_alias() < 0) {
            return SW_FAILED;
        }
        return relay();
    }
    if (sw_is_method("ACK")) {
        return SW_EXIT;
    }
    return sw_sl_send_reply(404, "Not here") < 0 ? SW_FAILED : SW_EXIT;
}

/* A request another router of the deployment hands over for a phone whose connection
 * this router holds (routers sharing registrations, [state]): its one Route is this
 * router's signed Path entry for that flow, and loose_route sends it over the flow. The
 * other router authenticated the caller; a forged entry gets 403 (-1 here). */
static int handed_over(void) {
    char route[512], uri[512];
    int64_t routes = 0;
    if (sw_pv_get_int("$hdrc(Route)", &routes) < 0 || routes != 1) {
        return 0;
    }
    if (sw_pv_get("$hdr(Route)", route, sizeof route) < 0 || strchr(route, ',') != NULL) {
        return 0;
    }
    if (sw_pv_get("$(hdr(Route){nameaddr.uri})", uri, sizeof uri) < 0 || strchr(uri, '@') == NULL
        || strstr(uri, ";sig=") == NULL || sw_is_myself(uri) != 1) {
        return 0;
    }
    int routed = sw_loose_route();
    return routed < 0 ? -1 : routed == SW_RR_FLOW;
}

/* route[AUTH] */
static sw_verdict auth(void) {
    char user[64], named[64];
    sw_verdict v;
    if (sw_is_method("REGISTER")) {
        if ((v = authenticate(SW_AUTH_WWW, user, sizeof user)) != SW_CONTINUE) {
            return v;
        }
        if (sw_pv_get("$tU", named, sizeof named) < 0) {
            return SW_FAILED;
        }
        if (strcmp(named, user) != 0) {
            sw_sl_send_reply(403, "Forbidden: To does not match your credentials");
            return SW_EXIT;
        }
        return SW_CONTINUE;
    }
    if (sw_is_myself_furi()) {
        if ((v = authenticate(SW_AUTH_PROXY, user, sizeof user)) != SW_CONTINUE) {
            return v;
        }
        if (sw_pv_get("$fU", named, sizeof named) < 0) {
            return SW_FAILED;
        }
        if (strcmp(named, user) != 0) {
            sw_sl_send_reply(403, "Forbidden: From does not match your credentials");
            return SW_EXIT;
        }
        if (sw_is_method("INVITE") && sw_dialog_limit_calls(user, max_calls, calls_per_minute) < 0) {
            /* the router logs the limit (once a minute per user) and counts it */
            return sw_sl_send_reply(403, "Forbidden: too many calls") < 0 ? SW_FAILED : SW_EXIT;
        }
    }
    if (!sw_is_myself_ruri()) {
        return sw_sl_send_reply(403, "Not relaying") < 0 ? SW_FAILED : SW_EXIT;
    }
    return SW_CONTINUE;
}

/* A telephone number: + and digits, or digits. */
static bool is_number(const char *user) {
    const char *d = user[0] == '+' ? user + 1 : user;
    if (!*d) {
        return false;
    }
    for (; *d; d++) {
        if (*d < '0' || *d > '9') {
            return false;
        }
    }
    return true;
}

/* True when `item` is one of the comma-separated `items` (`prefix`: one of them starts it). */
static bool in_list(const char *items, const char *item, bool prefix) {
    const char *p = items;
    while (*p) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n > 0 && strncmp(p, item, n) == 0 && (prefix || item[n] == 0)) {
            return true;
        }
        p += strcspn(p, ",");
    }
    return false;
}

/* A number nobody registered: to the gateway, when a user of ours calls it and may (an
 * allowed prefix, or granted); 403 when not; 404 for anything else. */
static sw_verdict to_gateway(const char *callee) {
    if (!gateway[0] || !is_number(callee)) {
        return sw_sl_send_reply(404, "Not Found") < 0 ? SW_FAILED : SW_EXIT;
    }
    char caller[64], ruri[512];
    if (sw_pv_get("$fU", caller, sizeof caller) < 0) {
        caller[0] = 0;
    }
    bool allowed = in_list(allow_prefixes, callee, true) || in_list(granted, caller, false);
    if (!sw_is_myself_furi() || !allowed) {
        char line[256];
        snprintf(line, sizeof line, "call from %s to %s refused: not an allowed destination",
                 caller, callee);
        sw_log_info(line);
        return sw_sl_send_reply(403, "Forbidden: destination not allowed") < 0 ? SW_FAILED
                                                                                 : SW_EXIT;
    }
    const char *host = strncmp(gateway, "sip:", 4) == 0 ? gateway + 4 : gateway;
    snprintf(ruri, sizeof ruri, "sip:%s@%s", callee, host);
    if (sw_pv_sets("$ru", ruri) < 0) {
        return SW_FAILED;
    }
    return relay();
}

sw_verdict sw_request_route(void) {
    sw_verdict v;
    configure();
    if ((v = reqinit()) != SW_CONTINUE || (v = natdetect()) != SW_CONTINUE) {
        return v;
    }
    if (sw_is_method("CANCEL")) {
        return sw_t_check_trans() ? relay() : SW_EXIT;
    }
    if (sw_has_totag()) {
        return within_dialog();
    }
    if (sw_is_method("ACK")) {
        /* an ACK without a To tag belongs to nothing */
        return SW_EXIT;
    }
    int handed = handed_over();
    if (handed < 0) {
        return SW_EXIT;
    }
    if (handed > 0) {
        /* the dialog's requests come back this way, to the same flow */
        if (sw_is_method_in("ISF") && sw_record_route() < 0) {
            return SW_FAILED;
        }
        return relay();
    }
    if ((v = auth()) != SW_CONTINUE) {
        return v;
    }
    /* Route headers of an initial request (a phone's outbound proxy) are not followed */
    if (sw_hdr_remove("Route") < 0) {
        return SW_FAILED;
    }
    int64_t vias = 0;
    if (sw_pv_get_int("$hdrc(Via)", &vias) == 0 && vias == 1
        && sw_hdr_remove("Record-Route") < 0) {
        return SW_FAILED;
    }
    if (sw_is_method_in("ISF") && sw_record_route() < 0) {
        return SW_FAILED;
    }
    if (sw_is_method("REGISTER")) {
        int n = sw_registrar_save("location");
        if (n < 0) {
            return SW_FAILED;
        }
        char line[200];
        snprintf(line, sizeof line, "registered $tU with %d contact(s) from $si:$sp", n);
        sw_xlog(SW_L_INFO, line);
        return SW_EXIT;
    }
    if (sw_pv_is_null("$rU") == 1) {
        return sw_sl_send_reply(484, "Address Incomplete") < 0 ? SW_FAILED : SW_EXIT;
    }
    /* the callee's number, for the voicemail route (lookup changes $rU) */
    char callee[128];
    if (sw_pv_get("$rU", callee, sizeof callee) < 0 || sw_pv_sets("$avp(oexten)", callee) < 0) {
        return SW_FAILED;
    }
    if (sw_registrar_lookup("location") < 0) {
        return to_gateway(callee);
    }
    return relay();
}

sw_verdict sw_failure_route(const char *name) {
    if (strcmp(name, "MANAGE_FAILURE") != 0) {
        return sw_unknown_route(name);
    }
    configure();
    if (sw_t_is_canceled()) {
        return SW_EXIT;
    }
    int code = sw_t_get_status_code();
    if (code < 0) {
        return SW_FAILED;
    }
    if (!voicemail[0]) {
        return SW_EXIT;
    }
    if (code == 486 || code == 408 || code == 480) {
        /* route[TOVOICEMAIL]: one new branch; the contacts that failed are not called again */
        const char *host = strncmp(voicemail, "sip:", 4) == 0 ? voicemail + 4 : voicemail;
        char user[128], ruri[400];
        if (sw_pv_get("$avp(oexten)", user, sizeof user) < 0) {
            return SW_FAILED;
        }
        snprintf(ruri, sizeof ruri, "sip:%s@%s", user, host);
        if (sw_pv_unset("$du") < 0 || sw_pv_sets("$ru", ruri) < 0) {
            return SW_FAILED;
        }
        char line[200];
        snprintf(line, sizeof line, "%s to voicemail after %d", user, code);
        sw_log_info(line);
        if (sw_t_relay() < 0 && sw_sl_send_reply_error() < 0) {
            return SW_FAILED;
        }
    }
    return SW_EXIT;
}

sw_verdict sw_onreply_route(const char *name) {
    if (strcmp(name, "MANAGE_REPLY") != 0) {
        return sw_unknown_route(name);
    }
    /* a callee behind NAT: the caller's requests of the dialog find it through the alias
     * of its Contact (a Contact that is no SIP URI is left as it is) */
    if (sw_pv_is_null("$hdr(Contact)") == 0) {
        sw_add_contact_alias();
    }
    return SW_CONTINUE;
}
