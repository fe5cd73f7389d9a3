// KSR.statistics: the plugin's own counters (Kamailio's statistics module), shown in
// /metrics as sipwasm_plugin_stat{tenant, name} and in `sipwasm ctl stats`. Names are
// 1-64 characters of a-z, 0-9 and _.
import * as wit from "sipwasm:router/statistics@0.1.0";
import { call, int } from "./call.js";

/** Add `value` (negative: subtract) to counter `name` (created at 0): the new value. */
export function update_stat(name, value) {
  return int(call("statistics", wit.updateStat, name, BigInt(value)));
}

/** Set counter `name` back to 0. */
export function reset_stat(name) {
  call("statistics", wit.resetStat, name);
  return 1;
}

/** The value of counter `name`, 0 when never updated ($stat(name)). */
export function get_stat(name) {
  return int(call("statistics", wit.getStat, name));
}
