// KSR.pv: pseudo-variables, read and written by name ($ru, $si, $hdr(Name),
// $(ci{s.len}), $var(x), $avp(x) ...) with Kamailio's syntax, indexes and
// transformations.
import * as wit from "sipwasm:router/pv@0.1.0";
import { call, int } from "./call.js";

/** The value of `name`: a string, a number, or null for $null. */
export function get(name) {
  const v = call("pv", wit.get, name);
  return v.tag === "null" ? null : v.tag === "int" ? int(v.val) : v.val;
}

/** The value as a string, "" for $null. */
export function gete(name) {
  const v = get(name);
  return v === null ? "" : String(v);
}

/** The value as a string, "<null>" for $null (as xlog prints it). */
export function getw(name) {
  const v = get(name);
  return v === null ? "<null>" : String(v);
}

/** The value as a string, `dflt` for $null. */
export function getvs(name, dflt) {
  const v = get(name);
  return v === null ? dflt : String(v);
}

/** The value as an integer, `dflt` for $null or a value that is no number. */
export function getvn(name, dflt) {
  const v = get(name);
  if (typeof v === "number") return v;
  if (v === null || !/^\s*-?\d+\s*$/.test(v)) return dflt;
  return parseInt(v, 10);
}

/** Assign a string. */
export function sets(name, value) {
  call("pv", wit.setStr, name, String(value));
}

/** Assign an integer. */
export function seti(name, value) {
  call("pv", wit.setInt, name, value);
}

/** Assign $null ($du = $null, delete an $avp). */
export function unset(name) {
  call("pv", wit.unset, name);
}

/** True when `name` is $null (the thing it names is absent). */
export function is_null(name) {
  return call("pv", wit.isNull, name);
}

/** `template` with its pseudo-variables expanded ("$rm from $si:$sp"). */
export function format(template) {
  return call("pv", wit.format, template);
}
