// KSR.rtimer: timers, as Kamailio's rtimer module. The timers the plugin's config section
// declares ([[plugin.rtimer]] name, interval_ms) call ksr_timer_event("timer:NAME"); once()
// asks for one such call later. There, $rtimer(name) and $rtimer(data) describe the
// timer; there is no SIP message.
import * as wit from "sipwasm:router/rtimer@0.1.0";
import { call } from "./call.js";

/** Call ksr_timer_event("timer:NAME") once, `delayMs` from now, with $rtimer(data) set to
 * `data`. */
export function once(name, delayMs, data = "") {
  call("rtimer", wit.once, name, delayMs, String(data));
  return 1;
}
