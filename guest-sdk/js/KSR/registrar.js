// KSR.registrar: the location table.
import * as wit from "sipwasm:router/registrar@0.1.0";
import { call, callOr } from "./call.js";

/** Store the REGISTER's bindings in `table` and answer it: how many contacts are bound.
 * `flags` is Kamailio's and must be 0. */
export function save(table, flags = 0) {
  if (flags) throw new TypeError("registrar.save: only flags 0 is supported");
  return call("registrar", wit.save, table);
}

/** Point the request at the contacts registered for its Request-URI: how many branches
 * were made; -1 when nobody is registered there, as Kamailio. */
export function lookup(table) {
  return callOr("registrar", { "not-found": -1 }, wit.lookup, table);
}

/** True when `uri` (the Request-URI when omitted) has a binding in `table`. */
export function registered(table, uri) {
  return wit.registered(table, uri ?? null);
}
