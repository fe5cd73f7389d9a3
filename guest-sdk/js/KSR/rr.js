// KSR.rr: Record-Route and loose routing.
import * as wit from "sipwasm:router/rr@0.1.0";
import { call, KsrError } from "./call.js";
import { exit } from "./x.js";

/** loose_route results: no Route header (-1, as Kamailio); the next hop comes from the
 * route set; the next hop is a UA's flow; an initial request whose Route named only this
 * router (its entries were removed). */
export const NO_ROUTE = -1;
export const ROUTE_SET = 1;
export const FLOW = 2;
export const PRELOADED = 3;

const CODES = { "no-route": NO_ROUTE, "route-set": ROUTE_SET, flow: FLOW, preloaded: PRELOADED };

/** Add our Record-Route (two for a request that changes transport). */
export function record_route() {
  call("rr", wit.recordRoute);
  return 1;
}

/** record_route with ";params" in our entry. */
export function record_route_params(params) {
  call("rr", wit.recordRouteParams, params);
  return 1;
}

/** Follow the Route set: NO_ROUTE, ROUTE_SET, FLOW or PRELOADED. A Route set this router
 * did not issue is answered 403 and the route ends (KSR.x.exit()). */
export function loose_route() {
  try {
    return CODES[call("rr", wit.looseRoute)];
  } catch (e) {
    if (e instanceof KsrError && e.kind === "forbidden") exit();
    throw e;
  }
}
