// KSR.sanity: checks of a request before it is routed (Kamailio's sanity), with
// Kamailio's flags; a failed check is answered as Kamailio answers it.
import * as wit from "sipwasm:router/sanity@0.1.0";
import { callOr } from "./call.js";

export const DEFAULT_CHECKS = 3047;
export const DEFAULT_URI_CHECKS = 7;

/** 1 when the request passes; -1 when it failed a check (answered already). */
export function sanity_check(msgChecks, uriChecks) {
  return callOr("sanity", { failed: -1 }, wit.check, msgChecks, uriChecks) === -1 ? -1 : 1;
}

/** sanity_check with Kamailio's default flags (3047, 7). */
export function sanity_check_defaults() {
  return sanity_check(DEFAULT_CHECKS, DEFAULT_URI_CHECKS);
}

/** The failure was answered by the check already (Kamailio's noreply 0): 1. */
export function sanity_reply() {
  return 1;
}
