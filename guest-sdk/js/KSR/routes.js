// What the router calls: the exported interfaces of the world (routes, tm-routes,
// nosip-events, msrp-events, event-routes, self-test), dispatched to the functions the
// script exports. The router's timers call ksr_timer_event("timer:NAME"); an expired entry
// of a table with expired_event calls ksr_htable_event("htable:expired:TABLE").
// A plugin's entry (scripts/build-plugins-js writes it) is:
//
//     import "KSR/global.js";           // KSR as a global, as in app_jsdt
//     import * as script from "./my_script.js";
//     import { exports } from "KSR/routes.js";
//     export const { routes, tmRoutes, nosipEvents, msrpEvents, eventRoutes, selfTest } =
//       exports(script);
import { beginEvent } from "./auth.js";
import { Drop, Exit } from "./x.js";

class NoSuchRoute {}

function failed(e) {
  if (e && e.payload && typeof e.payload === "object" && "tag" in e.payload) {
    return `${e.payload.tag}${e.payload.val === undefined ? "" : `: ${e.payload.val}`}`;
  }
  if (e instanceof Error) {
    const where = (e.stack || "").split("\n").find((l) => /:\d+/.test(l));
    return `${e.name}: ${e.message}${where ? ` (${where.trim()})` : ""}`;
  }
  return `thrown: ${String(e)}`;
}

/** The objects of the world's exports for `script`, a module whose exported functions are
 * the routes. */
export function exports(script) {
  function run(name, args, missing, route) {
    try {
      const f = script[name];
      if (typeof f !== "function") {
        if (missing !== undefined) return missing;
        throw new NoSuchRoute();
      }
      beginEvent();
      f(...args);
      return "continue";
    } catch (e) {
      if (e instanceof Exit) return "exit";
      if (e instanceof Drop) return "drop";
      if (e instanceof NoSuchRoute) throw { tag: "unknown-route", val: route ?? name };
      throw { tag: "failed", val: failed(e) };
    }
  }
  return {
    routes: {
      requestRoute: () => run("ksr_request_route", [], "continue"),
      replyRoute: () => run("ksr_reply_route", [], undefined, "reply_route"),
      namedRoute: (name) => run(name, []),
    },
    tmRoutes: {
      failureRoute: (name) => run(name, []),
      branchRoute: (name) => run(name, []),
      onreplyRoute: (name) => run(name, []),
    },
    nosipEvents: {
      msg: () => run("ksr_nosip_event", ["nosip:msg"], "continue"),
    },
    msrpEvents: {
      frameIn: () => run("ksr_msrp_event", ["msrp:frame-in"], "continue"),
    },
    eventRoutes: {
      eventRoute: (name) =>
        run(name.startsWith("htable:") ? "ksr_htable_event" : "ksr_timer_event", [name], "continue"),
    },
    selfTest: {
      run: () => {
        const check = script.ksr_self_test;
        if (typeof check !== "function") return;
        try {
          check();
        } catch (e) {
          throw failed(e);
        }
      },
    },
  };
}
