// KSR.net: datagrams to an outside application, to destinations the router config grants
// (udp_allow); at most 16 per event.
import * as wit from "sipwasm:router/net@0.1.0";
import { call } from "./call.js";

/** Send `payload` (a string or a Uint8Array) to `dst` ("127.0.0.1:9999") when the event
 * ends. */
export function send_udp(dst, payload) {
  call("net", wit.sendUdp, dst, typeof payload === "string" ? new TextEncoder().encode(payload) : payload);
  return 1;
}
