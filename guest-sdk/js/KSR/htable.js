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

/** Set `key` to a string expiring `seconds` from now (0: never) instead of after the
 * table's autoexpire. */
export function sht_setxs(table, key, value, seconds) {
  call("htable", wit.setEx, table, key, { tag: "str", val: String(value) }, seconds);
  return 1;
}

/** sht_setxs for an integer. */
export function sht_setxi(table, key, value, seconds) {
  call("htable", wit.setEx, table, key, { tag: "int", val: BigInt(value) }, seconds);
  return 1;
}

/** Add `by` unless the new value would leave low..high: the new value, or null when it
 * would (nothing changed). */
export function sht_inc_within(table, key, by, low, high) {
  const v = call("htable", wit.incrWithin, table, key, BigInt(by), BigInt(low), BigInt(high));
  return v === undefined || v === null ? null : int(v);
}

/** 1 when `key` has no value, -1 when it has one. */
export function sht_is_null(table, key) {
  return call("htable", wit.exists, table, key) ? -1 : 1;
}
