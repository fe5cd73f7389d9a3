// KSR.auth: digest authentication; the script supplies the password, or its HA1 with flag 1
// (Kamailio's pv_www_authenticate / pv_proxy_authenticate). Nonces expire and cannot be
// replayed; the router counts failures, bans guessing sources and throttles users guessed
// at from many addresses.
import * as wit from "sipwasm:router/auth@0.1.0";
import * as core from "sipwasm:router/core@0.1.0";
import { call, KsrError } from "./call.js";

/** Results of pv_www_authenticate / pv_proxy_authenticate: Kamailio's codes. */
export const OK = 1;
export const ERROR = -1;
export const INVALID_PASSWORD = -2;
export const STALE_NONCE = -4;
export const NO_CREDENTIALS = -5;
export const NONCE_REUSED = -6;

const CODES = {
  "no-credentials": NO_CREDENTIALS,
  malformed: ERROR,
  "invalid-nonce": ERROR,
  "stale-nonce": STALE_NONCE,
  "nonce-reused": NONCE_REUSED,
  "invalid-password": INVALID_PASSWORD,
};

// The last check's kind and whether its nonce was stale: the next challenge of the same
// event says `stale`, and consume_credentials removes what was checked.
const last = { kind: null, stale: false };

/** Called by the routes before each event. */
export function beginEvent() {
  last.kind = null;
  last.stale = false;
}

/** Flag: the password given is HA1 hashes (`sipwasm passwd USER REALM`). */
export const HA1 = 1;

function authenticate(kind, realm, password, flags) {
  last.kind = kind;
  last.stale = false;
  try {
    call("auth", flags & HA1 ? wit.checkHa1 : wit.check, kind, realm, password);
    return OK;
  } catch (e) {
    if (!(e instanceof KsrError) || !(e.kind in CODES)) throw e;
    last.stale = e.kind === "stale-nonce";
    return CODES[e.kind];
  }
}

/** Check the Authorization credentials for `realm` against `password`: OK (1), or a
 * negative code: NO_CREDENTIALS (challenge), STALE_NONCE (challenge again),
 * INVALID_PASSWORD, NONCE_REUSED, ERROR (malformed, not our nonce). With flags HA1 (1),
 * `password` is HA1 hashes. */
export function pv_www_authenticate(realm, password, flags = 0) {
  return authenticate("www", realm, password, flags);
}

/** pv_www_authenticate for Proxy-Authorization (requests other than REGISTER). */
export function pv_proxy_authenticate(realm, password, flags = 0) {
  return authenticate("proxy", realm, password, flags);
}

function challenge(kind, realm) {
  call("auth", wit.challenge, kind, realm, ["md5"], last.stale && last.kind === kind);
  return 1;
}

/** Answer 401 with a WWW-Authenticate challenge for `realm`. End the route afterwards. */
export const www_challenge = (realm, flags = 0) => challenge("www", realm);

/** Answer 407 with a Proxy-Authenticate challenge for `realm`. */
export const proxy_challenge = (realm, flags = 0) => challenge("proxy", realm);

/** www_challenge for a REGISTER, proxy_challenge for anything else. */
export function auth_challenge(realm, flags = 0) {
  return challenge(core.isMethod("REGISTER") ? "www" : "proxy", realm);
}

/** True when the request has Digest credentials for `realm` (either header). */
export function has_credentials(realm) {
  return wit.hasCredentials("www", realm) || wit.hasCredentials("proxy", realm);
}

/** The user name in the credentials for `realm` (before they are checked), or null. */
export function username(realm, proxy = false) {
  return wit.username(proxy ? "proxy" : "www", realm) ?? null;
}

/** Remove the checked credentials before the request goes on. */
export function consume_credentials() {
  const kinds = last.kind === null ? ["www", "proxy"] : [last.kind];
  return kinds.map((k) => wit.consumeCredentials(k)).some(Boolean) ? 1 : -1;
}
