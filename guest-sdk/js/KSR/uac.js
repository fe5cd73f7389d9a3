// KSR.uac: the router as a client (Kamailio's uac module): answer a carrier's challenge in
// a failure route, replace From and To (restored in replies and the dialog's later
// requests), send a request of the router's own.
import * as wit from "sipwasm:router/uac@0.1.0";
import { call } from "./call.js";

/** In a failure route after a 401/407: credentials for `realm` (only a challenge naming it
 * is answered), for the next t_relay. */
export function uac_auth(realm, username, password) {
  call("uac", wit.auth, realm, username, password);
  return 1;
}

export function uac_replace_from(display, uri) {
  call("uac", wit.replaceFrom, display, uri);
  return 1;
}

export function uac_replace_to(display, uri) {
  call("uac", wit.replaceTo, display, uri);
  return 1;
}

/** A request from the router (Kamailio's $uac_req(...) keys), sent again over UDP until
 * answered; not INVITE, ACK or CANCEL. */
export function uac_req_send(method, ruri, furi, turi, ouri = "", hdrs = "", body = "") {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  call("uac", wit.reqSend, { method, ruri, furi, turi, ouri, hdrs, body: bytes });
  return 1;
}
