// KSR.path: Path headers for registrations through this router (RFC 3327).
import * as wit from "sipwasm:router/path@0.1.0";
import { call } from "./call.js";

/** Add our Path to the REGISTER (with `user` in its URI when given). */
export function add_path(user) {
  call("path", wit.addPath, user ?? null);
  return 1;
}

/** add_path with the source address as received: requests to the phone come back over
 * the flow it registered from. */
export function add_path_received(user) {
  call("path", wit.addPathReceived, user ?? null);
  return 1;
}
