// KSR.dispatcher: load balancing over the router's destination sets with health probes
// and failover (Kamailio's dispatcher). Algorithms go by Kamailio's numbers (0 Call-ID
// hash, 4 round-robin, 8 priority, 9 weight, 10 call load, ...); functions return 1 or -1
// as KEMI does.
import * as wit from "sipwasm:router/dispatcher@0.1.0";
import { call, callOr } from "./call.js";

const FOUND = { "none-active": -1, "none-left": -1 };

function found(f, ...args) {
  return callOr("dispatcher", FOUND, f, ...args) === -1 ? -1 : 1;
}

/** $du becomes a destination of `set`; the others are kept for ds_next_dst. -1 when none
 * is active. */
export function ds_select_dst(set, alg) {
  return found(wit.selectDst, set, alg, 0);
}

/** ds_select_dst keeping at most `limit` destinations in all (0: no limit). */
export function ds_select_dst_limit(set, alg, limit) {
  return found(wit.selectDst, set, alg, limit);
}

/** The Request-URI's host and port become the destination's. -1 when none is active. */
export function ds_select_domain(set, alg) {
  return found(wit.selectDomain, set, alg, 0);
}

/** ds_select_domain keeping at most `limit` destinations. */
export function ds_select_domain_limit(set, alg, limit) {
  return found(wit.selectDomain, set, alg, limit);
}

/** The next destination kept by the selection (a failure route); -1 when every one was
 * tried. */
export function ds_next_dst() {
  return found(wit.nextDst);
}

/** ds_next_dst for a ds_select_domain selection. */
export function ds_next_domain() {
  return found(wit.nextDst);
}

/** The destination last selected is out of service ("ip") until it answers probes. */
export function ds_mark_dst() {
  return ds_mark_dst_state("ip");
}

/** Mark the destination last selected: "i", "a", "d" or "t", with "p" to probe it. */
export function ds_mark_dst_state(state) {
  call("dispatcher", wit.markDst, state);
  return 1;
}

/** 1 when the request came from a destination of set `group` (-1: any set). */
export function ds_is_from_list(group) {
  const set = wit.isFromList(group < 0 ? null : group);
  return set === undefined || set === null ? -1 : 1;
}

/** 1 when the request came from a destination of any set granted. */
export function ds_is_from_lists() {
  return ds_is_from_list(-1);
}

/** The call balanced with algorithm 10 failed: it no longer counts. */
export function ds_load_unset() {
  return wit.loadUnset() ? 1 : -1;
}

/** On a BYE or CANCEL: the call no longer counts. */
export function ds_load_update() {
  return wit.loadUpdate() ? 1 : -1;
}
