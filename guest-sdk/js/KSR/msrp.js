// KSR.msrp: the MSRP relay (event_route[msrp:frame-in]); the frame is read with $msrp(...)
// pseudo-variables.
import * as wit from "sipwasm:router/msrp@0.1.0";
import { call } from "./call.js";

/** Answer the frame with `code` and `text`, and extra header lines. */
export function reply(code, text, headers) {
  call("msrp", wit.reply, code, text, headers ?? null);
  return 1;
}

/** Relay the frame to the next To-Path hop (or the set_dst destination). */
export function relay() {
  call("msrp", wit.relay);
  return 1;
}

/** Send the frame with these To-Path and From-Path values (space-separated URIs). */
export function forward(toPath, fromPath) {
  call("msrp", wit.forward, toPath, fromPath);
  return 1;
}

/** Relay to `addr` ("tcp:IP:PORT") from local socket `sock` ("" for any). */
export function set_dst(addr, sock) {
  call("msrp", wit.setDst, addr, sock);
  return 1;
}

/** Flags for relay/forward: 1 = only on an open connection, 2 = close after. */
export function relay_flags(flags) {
  wit.relayFlags(flags);
  return 1;
}

/** The same flags for reply. */
export function reply_flags(flags) {
  wit.replyFlags(flags);
  return 1;
}

/** True when the frame is a request (SEND, REPORT, AUTH). */
export const is_request = () => wit.isRequest();
/** True when the frame is a response. */
export const is_reply = () => wit.isReply();
