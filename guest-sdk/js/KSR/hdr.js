// KSR.hdr: the headers of the current message, as the textops functions.
import * as wit from "sipwasm:router/hdr@0.1.0";
import { call } from "./call.js";

/** Add header lines after the last header (append_hf): "X-A: 1\r\n". */
export function append(headers) {
  call("hdr", wit.append, headers);
  return 1;
}

/** Add header lines after the first `name` header. */
export function append_after(headers, name) {
  call("hdr", wit.appendAfter, headers, name);
  return 1;
}

/** Add header lines before the first header (insert_hf). */
export function insert(headers) {
  call("hdr", wit.insert, headers);
  return 1;
}

/** Add header lines before the first `name` header. */
export function insert_before(headers, name) {
  call("hdr", wit.insertBefore, headers, name);
  return 1;
}

/** Remove every `name` header (remove_hf): how many were removed. */
export function remove(name) {
  return call("hdr", wit.remove, name);
}

/** True when the message has a `name` header (is_present_hf). */
export function is_present(name) {
  return wit.isPresent(name);
}

/** The value of the first `name` header, or null. */
export function get(name) {
  return wit.get(name) ?? null;
}
