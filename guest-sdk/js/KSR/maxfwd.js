// KSR.maxfwd: Max-Forwards.
import * as wit from "sipwasm:router/maxfwd@0.1.0";
import { call, KsrError } from "./call.js";

/** Decrement Max-Forwards (capped at `limit`), or add it with `limit`: 1 when it was
 * decremented, 2 when added; -1 when it is 0 (answer 483 Too Many Hops), as Kamailio. */
export function process_maxfwd(limit) {
  try {
    return call("maxfwd", wit.processMaxfwd, limit) === "added" ? 2 : 1;
  } catch (e) {
    if (e instanceof KsrError && e.kind === "exhausted") return -1;
    throw e;
  }
}
