// KSR.ratelimit: rate limits (Kamailio's ratelimit), pipes and queues of the router
// config; each tenant counts its own requests.
import * as wit from "sipwasm:router/ratelimit@0.1.0";
import { call } from "./call.js";

/** 1 when the request may pass its method's pipe, -1 when it is over the limit. */
export function rl_check() {
  return call("ratelimit", wit.check) ? 1 : -1;
}

/** rl_check against `pipe`. */
export function rl_check_pipe(pipe) {
  return call("ratelimit", wit.checkPipe, pipe) ? 1 : -1;
}
