// KSR.siputils.
import * as wit from "sipwasm:router/siputils@0.1.0";
import { call } from "./call.js";

/** True when the To header has a tag (an in-dialog request). */
export const has_totag = () => wit.hasTotag();

const found = (ok) => (ok ? 1 : -1);

/** is_e164(number): 1 for `+` and 2 to 15 digits, else -1. */
export const is_e164 = (number) => found(wit.isE164(number));

/** is_uri_user_e164(uri): 1 when the user part of `uri` is an E.164 number, else -1. */
export const is_uri_user_e164 = (uri) => found(wit.isUriUserE164(uri));

/** is_user(user): 1 when the credentials `auth` checked carry that user name. */
export const is_user = (user) => found(wit.isUser(user));

/** uri_param(name[, value]) on the Request-URI: 1 or -1. */
export const uri_param = (name, value) => found(wit.uriParam(name, value ?? undefined));

/** add_uri_param(param): `name` or `name=value` added to the Request-URI. */
export function add_uri_param(param) {
  call("siputils", wit.addUriParam, param);
  return 1;
}

/** tel2sip(uri, hostpart): the SIP URI, or the `uri` itself when it is not a tel: URI. */
export function tel2sip(uri, hostpart) {
  return call("siputils", wit.tel2sip, uri, hostpart) ?? uri;
}
