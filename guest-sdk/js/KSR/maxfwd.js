// KSR.maxfwd: Max-Forwards.
import * as wit from "sipwasm:router/maxfwd@0.1.0";
import { callOr } from "./call.js";

/** Decrement Max-Forwards (capped at `limit`), or add it with `limit`: 1 when it was
 * decremented, 2 when added; -1 when it is 0 (answer 483 Too Many Hops), as Kamailio. */
export function process_maxfwd(limit) {
  const outcome = callOr("maxfwd", { exhausted: -1 }, wit.processMaxfwd, limit);
  if (outcome === -1) return -1;
  return outcome === "added" ? 2 : 1;
}
