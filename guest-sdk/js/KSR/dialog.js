// KSR.dialog: calls per user, against toll fraud (what Kamailio operators build from the
// dialog module's profiles and get_profile_size, in one call). The router counts a call
// until its transaction settles it: a failure frees its place at once, a 2xx keeps it
// until the BYE.
import * as wit from "sipwasm:router/dialog@0.1.0";
import { call, KsrError } from "./call.js";

/** Results of limit_calls. */
export const OK = 1;
export const NOT_A_CALL = -1;
export const CONCURRENT = -2;
export const PER_MINUTE = -3;

const CODES = { "not-a-call": NOT_A_CALL, concurrent: CONCURRENT, "per-minute": PER_MINUTE };

/** Count this initial INVITE as a call of `user` when it has fewer than `concurrent` calls
 * up or ringing and started fewer than `perMinute` in the last minute (0: no limit): OK
 * (1), or CONCURRENT, PER_MINUTE, NOT_A_CALL (negative). */
export function limit_calls(user, concurrent, perMinute) {
  try {
    call("dialog", wit.limitCalls, user, concurrent, perMinute);
    return OK;
  } catch (e) {
    if (!(e instanceof KsrError) || !(e.kind in CODES)) throw e;
    return CODES[e.kind];
  }
}

/** Calls of `user` up or ringing. */
export const get_profile_size = (user) => wit.callsOf(user);
