// Stateless forwarding, on KSR itself as in Kamailio's core (KSR.forward()).
import * as wit from "sipwasm:router/forward@0.1.0";
import { call } from "./call.js";

/** Forward statelessly to $du, or the Request-URI. */
export function forward() {
  call("forward", wit.forward, null);
  return 1;
}

/** Forward statelessly to the SIP URI `uri`. */
export function forward_uri(uri) {
  call("forward", wit.forward, uri);
  return 1;
}
