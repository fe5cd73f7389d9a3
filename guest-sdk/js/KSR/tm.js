// KSR.tm (and KSR.tmx): stateful forwarding, the transaction's routes and replies,
// suspending and resuming a transaction.
import * as wit from "sipwasm:router/tm@0.1.0";
import { call } from "./call.js";

/** Forward statefully: the main branch ($ru, to $du when set) and every branch of the
 * destination set (append_branch, KSR.registrar.lookup). */
export function t_relay() {
  call("tm", wit.tRelay, null);
  return 1;
}

/** t_relay with every branch sent to the SIP URI `uri` instead. */
export function t_relay_to(uri) {
  call("tm", wit.tRelay, uri);
  return 1;
}

/** Add a branch to the destination set: `uri`, or the current $ru/$du. */
export function append_branch(uri) {
  call("tm", wit.appendBranch, uri ?? null);
  return 1;
}

/** Order the destination set by q-value for serial forking: how many contacts. */
export function t_load_contacts() {
  return call("tm", wit.tLoadContacts);
}

/** Take the next group of contacts (highest q first): false when none is left. */
export function t_next_contacts() {
  return call("tm", wit.tNextContacts);
}

/** Run the script's route `route` for every branch before it is sent. */
export function t_on_branch(route) {
  wit.tOnBranch(route);
}

/** Run the script's route `route` for every reply of the transaction. */
export function t_on_reply(route) {
  wit.tOnReply(route);
}

/** Run the script's route `route` when every branch has failed. */
export function t_on_failure(route) {
  wit.tOnFailure(route);
}

/** Answer statefully (the transaction is made when there is none). */
export function t_reply(code, reason) {
  call("tm", wit.tReply, code, reason);
  return 1;
}

/** Make the transaction of the current request now. */
export function t_newtran() {
  call("tm", wit.tNewtran);
  return 1;
}

/** True when the request belongs to a transaction (for a CANCEL: the INVITE's). */
export function t_check_trans() {
  return wit.tCheckTrans();
}

/** In a failure route: true when the transaction was canceled. */
export function t_is_canceled() {
  return wit.tIsCanceled();
}

/** The status code of the transaction's best reply so far. */
export function t_get_status_code() {
  return call("tm", wit.tGetStatusCode);
}

/** Final-response timeouts for this transaction, in ms (0 keeps the default). */
export function t_set_fr(frInvMs, frMs = 0) {
  call("tm", wit.tSetFr, frInvMs, frMs);
  return 1;
}

/** Suspend the request's transaction: [tindex, tlabel] to give to t_continue. */
export function t_suspend() {
  return call("tm", wit.tSuspend);
}

/** Resume the suspended transaction (tindex, tlabel) in the script's route `route`. */
export function t_continue(tindex, tlabel, route) {
  call("tm", wit.tContinue, tindex, tlabel, route);
  return 1;
}
