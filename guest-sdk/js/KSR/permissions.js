// KSR.permissions: address groups from [[permissions.address]] (Kamailio's permissions
// address table); a match puts the entry's tag in $avp(peer_tag).
import * as wit from "sipwasm:router/permissions@0.1.0";
import { call } from "./call.js";

/** 1 when the request's source matches an entry of `group`, else -1. */
export function allow_source_address(group = 1) {
  return wit.allowSourceAddress(group) ? 1 : -1;
}

/** 1 when `ip` and `port` match an entry of `group`, else -1. */
export function allow_address(group, ip, port) {
  return call("permissions", wit.allowAddress, group, ip, port) ? 1 : -1;
}

/** The group of the first entry the source matches, or -1. */
export function allow_source_address_group() {
  const group = wit.allowSourceAddressGroup();
  return group === undefined || group === null ? -1 : group;
}
