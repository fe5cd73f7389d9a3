// Kamailio's core functions, called on KSR itself (KSR.is_method("INVITE"),
// KSR.setflag(5), KSR.force_rport()).
import * as wit from "sipwasm:router/core@0.1.0";
import { call } from "./call.js";

/** Set message flag `flag` (0..31). */
export function setflag(flag) {
  call("core", wit.setFlag, flag);
  return 1;
}

/** Clear message flag `flag`. */
export function resetflag(flag) {
  call("core", wit.resetFlag, flag);
  return 1;
}

/** True when message flag `flag` is set. */
export function isflagset(flag) {
  return call("core", wit.isFlagSet, flag);
}

/** True when the request's method is `method` (a reply: its CSeq method). */
export function is_method(method) {
  return wit.isMethod(method);
}

/** True when the method is one of `letters`: I(NVITE) A(CK) B(YE) C(ANCEL) R(EGISTER)
 * M(ESSAGE) O(PTIONS) S(UBSCRIBE) P(UBLISH) N(OTIFY) U(PDATE) ... */
export function is_method_in(letters) {
  return wit.isMethodIn(letters);
}

export const is_INVITE = () => wit.isMethod("INVITE");
export const is_ACK = () => wit.isMethod("ACK");
export const is_BYE = () => wit.isMethod("BYE");
export const is_CANCEL = () => wit.isMethod("CANCEL");
export const is_REGISTER = () => wit.isMethod("REGISTER");
export const is_MESSAGE = () => wit.isMethod("MESSAGE");
export const is_OPTIONS = () => wit.isMethod("OPTIONS");
export const is_SUBSCRIBE = () => wit.isMethod("SUBSCRIBE");
export const is_PUBLISH = () => wit.isMethod("PUBLISH");
export const is_NOTIFY = () => wit.isMethod("NOTIFY");
export const is_INFO = () => wit.isMethod("INFO");
export const is_UPDATE = () => wit.isMethod("UPDATE");
export const is_PRACK = () => wit.isMethod("PRACK");

/** True when `uri` names this router (a listener's address or an alias). */
export function is_myself(uri) {
  return call("core", wit.isMyself, uri);
}

/** True when the Request-URI names this router. */
export const is_myself_ruri = () => wit.isMyselfRuri();
/** True when the From URI names this router (a local user calls). */
export const is_myself_furi = () => wit.isMyselfFuri();
/** True when the To URI names this router. */
export const is_myself_turi = () => wit.isMyselfTuri();
/** True when the message came from one of this router's addresses. */
export const is_myself_srcip = () => wit.isMyselfSrcip();

/** Drop the message when the route ends (KSR.x.drop() also ends it now). */
export function set_drop() {
  wit.setDrop();
}

/** Answer to the source port as if the top Via had rport (RFC 3581). */
export function force_rport() {
  wit.forceRport();
  return 1;
}

/** The address written in our Via and Record-Route for this message. */
export function set_advertised_address(host) {
  call("core", wit.setAdvertisedAddress, host);
  return 1;
}

/** The port written in our Via and Record-Route for this message. */
export function set_advertised_port(port) {
  wit.setAdvertisedPort(port);
  return 1;
}
