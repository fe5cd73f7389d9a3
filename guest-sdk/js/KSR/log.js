// Logging into the router's log, each line tagged with the plugin and the route:
// KSR.info(...) ... as the core's KEMI functions, and KSR.xlog.xinfo(...) ... whose text
// is a template with pseudo-variables ("$rm from $si").
import * as wit from "sipwasm:router/log@0.1.0";
import { call } from "./call.js";

const LEVELS = { dbg: "debug", info: "info", notice: "notice", warn: "warn", err: "error", crit: "crit" };

function level(name) {
  const l = LEVELS[name];
  if (l === undefined) throw new TypeError(`log level ${name}: one of ${Object.keys(LEVELS).join(", ")}`);
  return l;
}

const trimmed = (text) => String(text).replace(/\n+$/, "");

/** Log `message` at `lvl`: "dbg", "info", "notice", "warn", "err" or "crit". A trailing
 * newline (as KEMI scripts write) is dropped. */
export function log(lvl, message) {
  wit.log(level(lvl), trimmed(message));
}

/** Log `template` with its pseudo-variables expanded, at `lvl`. */
export function xlog(lvl, template) {
  call("log", wit.xlog, level(lvl), trimmed(template));
  return 1;
}

export const dbg = (m) => log("dbg", m);
export const info = (m) => log("info", m);
export const notice = (m) => log("notice", m);
export const warn = (m) => log("warn", m);
export const err = (m) => log("err", m);
export const crit = (m) => log("crit", m);

export const xdbg = (t) => xlog("dbg", t);
export const xinfo = (t) => xlog("info", t);
export const xnotice = (t) => xlog("notice", t);
export const xwarn = (t) => xlog("warn", t);
export const xerr = (t) => xlog("err", t);
export const xcrit = (t) => xlog("crit", t);
