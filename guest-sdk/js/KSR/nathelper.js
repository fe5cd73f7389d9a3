// KSR.nathelper: phones behind NAT.
import * as wit from "sipwasm:router/nathelper@0.1.0";
import { call } from "./call.js";

/** True when one of the tests in `flags` says the sender is behind NAT (Kamailio's bits:
 * 1 private Contact, 2 Via host is not the source, 16 source port is not the Via port ...;
 * the default config tests 19). */
export const nat_uac_test = (flags) => wit.natUacTest(flags);

/** Rewrite the Contact's host and port to the source address. */
export function fix_nated_contact() {
  call("nathelper", wit.fixNatedContact);
  return 1;
}

/** Save the source address as the REGISTER's received (the binding's path back). */
export function fix_nated_register() {
  call("nathelper", wit.fixNatedRegister);
  return 1;
}

/** Add ;alias=IP~PORT~PROTO of the source to the Contact when it differs: 1 when added,
 * -1 when not needed. */
export function add_contact_alias() {
  return call("nathelper", wit.addContactAlias) ? 1 : -1;
}

/** Add the source's alias to the Contact, always (`trim`: remove an old one first). */
export function set_contact_alias(trim = 0) {
  call("nathelper", wit.setContactAlias, Boolean(trim));
  return 1;
}

/** Send to the Request-URI's alias and remove it: 1 when it had one, -1 when not. */
export function handle_ruri_alias() {
  return call("nathelper", wit.handleRuriAlias) ? 1 : -1;
}

/** Add rport to the top Via (answers go to the source port). */
export function add_rport() {
  wit.addRport();
  return 1;
}
