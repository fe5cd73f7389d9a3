// KSR.textops: text operations on the message (Kamailio's textops and textopsx). Each
// body operation sees the body as the previous ones left it; the Content-Length is always
// written from the body sent. Searches and substitutions return 1 (or how many were
// replaced) when something matched, else -1, as KEMI does.
import * as wit from "sipwasm:router/textops@0.1.0";
import { call } from "./call.js";

const bytes = (data) => (typeof data === "string" ? new TextEncoder().encode(data) : data);
const text = (data) => new TextDecoder().decode(data);
const found = (ok) => (ok ? 1 : -1);
const count = (n) => (n > 0 ? n : -1);

/** 1 when the message has a body (of `contentType`, or a part of it), else -1. */
export function has_body(contentType = "") {
  return found(wit.hasBody(contentType));
}

/** The body as it will be sent. */
export function get_body() {
  return text(wit.getBody());
}

/** A new body; `contentType` "" keeps the message's. */
export function set_body(body, contentType = "") {
  call("textops", wit.setBody, bytes(body), contentType);
  return 1;
}

export function remove_body() {
  call("textops", wit.removeBody);
  return 1;
}

/** The body of the replies this event sends. */
export function set_reply_body(body, contentType) {
  call("textops", wit.setReplyBody, bytes(body), contentType);
  return 1;
}

export function search(re) {
  return found(call("textops", wit.search, re));
}

export function search_body(re) {
  return found(call("textops", wit.searchBody, re));
}

export function search_hf(name, re) {
  return found(call("textops", wit.searchHf, name, re));
}

export function replace_body(re, txt) {
  return count(call("textops", wit.replaceBody, re, txt, false));
}

export function replace_body_all(re, txt) {
  return count(call("textops", wit.replaceBody, re, txt, true));
}

/** sed-like /regex/replacement/flags (\1 groups; flags g, i, s). */
export function subst_body(expr) {
  return count(call("textops", wit.substBody, expr));
}

/** `which`: "f" first, "l" last, "a" every header called `name`. */
export function subst_hf(name, expr, which = "f") {
  return count(call("textops", wit.substHf, name, expr, which));
}

/** The content of that part of a multipart body, or null. */
export function get_body_part(contentType) {
  const part = wit.getBodyPart(contentType);
  return part === undefined || part === null ? null : text(part);
}

export function filter_body(contentType) {
  return found(call("textops", wit.filterBody, contentType));
}
