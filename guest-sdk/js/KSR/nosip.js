// KSR.nosip: the datagram of event_route[nosip:msg] (read it with $mb, $si ...).
import * as wit from "sipwasm:router/nosip@0.1.0";
import { call } from "./call.js";

/** Send `data` (a string or a Uint8Array) back to where the datagram came from. */
export function reply(data) {
  call("nosip", wit.reply, typeof data === "string" ? new TextEncoder().encode(data) : data);
  return 1;
}
