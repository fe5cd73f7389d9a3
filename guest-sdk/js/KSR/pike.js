// KSR.pike: flood detection per source address (Kamailio's pike).
import * as wit from "sipwasm:router/pike@0.1.0";

const VALUES = { allowed: 1, "newly-blocked": -2, blocked: -1 };

/** Count the request against its source address: 1 under the limit, -2 blocked by this
 * request, -1 blocked already, as Kamailio. */
export function pike_check_req() {
  return VALUES[wit.checkReq()];
}

/** pike_check_req for `ip`; -1 when it is not an IP address. */
export function pike_check_ip(ip) {
  const standing = wit.checkIp(ip);
  return standing === undefined || standing === null ? -1 : VALUES[standing];
}
