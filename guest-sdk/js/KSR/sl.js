// KSR.sl: stateless replies.
import * as wit from "sipwasm:router/sl@0.1.0";
import { call } from "./call.js";

/** Answer the current request with `code` and `reason` (sl_send_reply). An ACK is never
 * answered: nothing is sent, as in Kamailio. */
export function send_reply(code, reason) {
  call("sl", wit.sendReply, code, reason);
  return 1;
}
export const sl_send_reply = send_reply;

/** Answer with the reply that fits the last error of the request (sl_reply_error). */
export function send_reply_error() {
  call("sl", wit.sendReplyError);
  return 1;
}
export const sl_reply_error = send_reply_error;

/** Add header lines ("Name: value\r\n") to the reply the route sends. */
export function append_to_reply(headers) {
  call("sl", wit.appendToReply, headers);
  return 1;
}
