/*
 * Kamailio's msrp module example (an MSRP relay, RFC 4976) in C: the twin of
 * example-plugins/msrp-relay (Rust). AUTH is answered with a challenge, then with 200 and
 * a Use-Path naming a session this relay keeps in the `msrp` table (the client's address
 * and socket); a SEND for a known session goes to that client's connection; anything
 * with further hops is relayed; SIP is not served here.
 *
 * Its behaviour is example-plugins/cases/msrp-relay.toml, the same file as the Rust one's.
 */
#include "sipwasm.h"

#include <stdio.h>
#include <string.h>

#define TABLE "msrp"

static char realm[128], password[128];
static uint64_t count;

static void configure(void) {
    if (realm[0]) {
        return;
    }
    if (sw_config_get("realm", realm, sizeof realm) < 0) {
        strcpy(realm, "myrealm");
    }
    if (sw_config_get("password", password, sizeof password) < 0) {
        strcpy(password, "xyz123");
    }
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x00000100000001b3ULL;
    }
    return h;
}

static int64_t hops(void) {
    int64_t n = 0;
    return sw_pv_get_int("$msrp(nexthops)", &n) < 0 ? 0 : n;
}

static sw_verdict auth(void) {
    if (hops() > 0) {
        return sw_msrp_relay() < 0 ? SW_FAILED : SW_EXIT;
    }
    if (sw_auth_check(SW_AUTH_WWW, realm, password, NULL, 0) < 0) {
        if (sw_auth_challenge(SW_AUTH_WWW, realm) < 0
            && sw_msrp_reply(500, "Server Error", NULL) < 0) {
            return SW_FAILED;
        }
        return SW_EXIT;
    }
    char srcaddr[256], srcsock[128], authorization[1024], ts[32], seed[1300], sessid[96];
    char key[160], proto[8], use_path[400], template_[200];
    if (sw_pv_get("$msrp(srcaddr)", srcaddr, sizeof srcaddr) < 0
        || sw_pv_get("$msrp(srcsock)", srcsock, sizeof srcsock) < 0
        || sw_pv_get("$hdr(Authorization)", authorization, sizeof authorization) < 0
        || sw_pv_get("$Ts", ts, sizeof ts) < 0 || sw_pv_get("$pr", proto, sizeof proto) < 0) {
        return SW_FAILED;
    }
    count++;
    snprintf(seed, sizeof seed, "%s%s", srcaddr, authorization);
    snprintf(sessid, sizeof sessid, "s.%s.%llu.%llx", ts, (unsigned long long)count,
             (unsigned long long)fnv1a(seed));
    snprintf(key, sizeof key, "%s::srcaddr", sessid);
    if (sw_htable_set_str(TABLE, key, srcaddr) < 0) {
        return SW_FAILED;
    }
    snprintf(key, sizeof key, "%s::srcsock", sessid);
    if (sw_htable_set_str(TABLE, key, srcsock) < 0) {
        return SW_FAILED;
    }
    snprintf(template_, sizeof template_, "Use-Path: %s://$Ri:$Rp/%s;tcp",
             strcmp(proto, "tls") == 0 ? "msrps" : "msrp", sessid);
    if (sw_pv_format(template_, use_path, sizeof use_path) < 0
        || sw_msrp_reply(200, "OK", use_path) < 0) {
        return SW_FAILED;
    }
    return SW_EXIT;
}

static sw_verdict send_frame(void) {
    if (hops() > 1) {
        if (sw_msrp_reply(200, "Received", NULL) < 0 || sw_msrp_relay() < 0) {
            return SW_FAILED;
        }
        return SW_EXIT;
    }
    char sessid[128], key[200], addr[256], sock[128];
    if (sw_pv_get("$msrp(sessid)", sessid, sizeof sessid) < 0) {
        return SW_FAILED;
    }
    snprintf(key, sizeof key, "%s::srcaddr", sessid);
    int found = sw_htable_get(TABLE, key, addr, sizeof addr);
    snprintf(key, sizeof key, "%s::srcsock", sessid);
    int found_sock = sw_htable_get(TABLE, key, sock, sizeof sock);
    if (found < 0 || found_sock < 0) {
        return SW_FAILED;
    }
    if (!found || !found_sock) {
        return sw_msrp_reply(481, "No Such Session", NULL) < 0 ? SW_FAILED : SW_EXIT;
    }
    sw_msrp_relay_flags(1);
    if (sw_msrp_set_dst(addr, sock) < 0 || sw_msrp_relay() < 0) {
        return SW_FAILED;
    }
    return SW_EXIT;
}

sw_verdict sw_request_route(void) {
    return sw_sl_send_reply(403, "No SIP Here") < 0 ? SW_FAILED : SW_EXIT;
}

sw_verdict sw_msrp_frame_in(void) {
    char method[16];
    configure();
    sw_msrp_reply_flags(1);
    if (sw_msrp_is_reply()) {
        return sw_msrp_relay() < 0 ? SW_FAILED : SW_EXIT;
    }
    if (sw_pv_get("$msrp(method)", method, sizeof method) < 0) {
        return SW_FAILED;
    }
    if (strcmp(method, "AUTH") == 0) {
        return auth();
    }
    if (strcmp(method, "SEND") == 0) {
        return send_frame();
    }
    return sw_msrp_relay() < 0 ? SW_FAILED : SW_EXIT;
}
