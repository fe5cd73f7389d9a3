// KSR.htable: shared tables ([[htable]] in the config), read and written by every
// tenant granted the table ($sht(table=>key)).
import * as wit from "sipwasm:router/htable@0.1.0";
import { call, int } from "./call.js";

/** The value of `key` (number or string), null when missing or expired. */
export function sht_get(table, key) {
  const v = call("htable", wit.get, table, key);
  if (v === undefined || v === null) return null;
  return v.tag === "int" ? int(v.val) : v.val;
}

/** The value as a string, "" when missing. */
export function sht_gete(table, key) {
  const v = sht_get(table, key);
  return v === null ? "" : String(v);
}

/** Set `key` to a string; its expiry restarts. */
export function sht_sets(table, key, value) {
  call("htable", wit.set, table, key, { tag: "str", val: String(value) });
  return 1;
}

/** Set `key` to an integer; its expiry restarts. */
export function sht_seti(table, key, value) {
  call("htable", wit.set, table, key, { tag: "int", val: value });
  return 1;
}

/** Remove `key`: 1 when it had a value, -1 when not. */
export function sht_rm(table, key) {
  return call("htable", wit.delete, table, key) ? 1 : -1;
}

/** Add 1 to the integer at `key` (0 when missing): the new value. */
export function sht_inc(table, key) {
  return int(call("htable", wit.incr, table, key, 1));
}

/** Subtract 1 from the integer at `key`: the new value. */
export function sht_dec(table, key) {
  return int(call("htable", wit.incr, table, key, -1));
}

/** 1 when `key` has no value, -1 when it has one. */
export function sht_is_null(table, key) {
  return call("htable", wit.exists, table, key) ? -1 : 1;
}
