// KSR: Kamailio's KEMI object for sipwasm plugins written in JavaScript.
//
// A plugin is a script in the style of Kamailio's app_jsdt: its exported functions are
// the routes, and KSR is a global (or `import KSR from "KSR"`):
//
//     export function ksr_request_route() {
//         if (KSR.maxfwd.process_maxfwd(10) < 0) {
//             KSR.sl.send_reply(483, "Too Many Hops");
//             KSR.x.exit();
//         }
//         KSR.tm.t_on_failure("ksr_failure_route_one");
//         KSR.tm.t_relay();
//     }
//     export function ksr_failure_route_one() { KSR.info("every branch failed"); }
//
// ksr_request_route and ksr_reply_route are called as their routes; any other exported
// function by its name (a name given to KSR.tm.t_on_failure, t_on_branch, t_on_reply,
// t_continue); ksr_nosip_event(evname) for event_route[nosip:msg] and
// ksr_msrp_event(evname) for event_route[msrp:frame-in]; ksr_timer_event(evname) for the
// router's timers (timer:NAME, see KSR.rtimer) and ksr_htable_event(evname) for
// htable:expired:TABLE; ksr_self_test() before a new version is swapped in.
//
// Results a route branches on are return values, as in KEMI (KSR.registrar.lookup
// returns -1 when nobody is registered, KSR.maxfwd.process_maxfwd -1 at 0); a call the
// router refuses throws KSR.Error (a bad pseudo-variable name, t_relay with no
// destination ...), which fails the event unless the route catches it. KSR.x.exit() and
// KSR.x.drop() end the route.
import * as auth from "./auth.js";
import { KsrError } from "./call.js";
import * as config from "./config.js";
import * as core from "./core.js";
import * as dialog from "./dialog.js";
import * as dispatcher from "./dispatcher.js";
import * as forward from "./forward.js";
import * as hdr from "./hdr.js";
import * as htable from "./htable.js";
import * as statistics from "./statistics.js";
import * as log from "./log.js";
import * as maxfwd from "./maxfwd.js";
import * as msrp from "./msrp.js";
import * as nathelper from "./nathelper.js";
import * as net from "./net.js";
import * as nosip from "./nosip.js";
import * as path from "./path.js";
import * as permissions from "./permissions.js";
import * as pike from "./pike.js";
import * as pv from "./pv.js";
import * as ratelimit from "./ratelimit.js";
import * as registrar from "./registrar.js";
import * as rr from "./rr.js";
import * as rtimer from "./rtimer.js";
import * as sanity from "./sanity.js";
import * as sdpops from "./sdpops.js";
import * as siputils from "./siputils.js";
import * as sl from "./sl.js";
import * as textops from "./textops.js";
import * as tm from "./tm.js";
import * as uac from "./uac.js";
import * as x from "./x.js";

const KSR = {
  ...core,
  forward: forward.forward,
  forward_uri: forward.forward_uri,
  log: log.log,
  dbg: log.dbg,
  info: log.info,
  notice: log.notice,
  warn: log.warn,
  err: log.err,
  crit: log.crit,
  xlog: log,
  Error: KsrError,
  auth,
  config,
  dialog,
  dispatcher,
  hdr,
  htable,
  statistics,
  rtimer,
  textops,
  sdpops,
  uac,
  maxfwd,
  msrp,
  nathelper,
  net,
  nosip,
  path,
  permissions,
  pike,
  pv,
  ratelimit,
  registrar,
  rr,
  sanity,
  siputils,
  sl,
  tm,
  // Kamailio keeps t_suspend/t_continue in tmx: the same functions
  tmx: tm,
  x,
};

export default KSR;
