// KSR.sdpops: SDP operations (Kamailio's sdpops, and nathelper's c=/o= rewrite) on an
// application/sdp body or the SDP part of a multipart one. Codec lists are names or
// payload types separated by commas. Tests return 1 or -1; removals how many went, or -1.
import * as wit from "sipwasm:router/sdpops@0.1.0";
import { call } from "./call.js";

const found = (ok) => (ok ? 1 : -1);
const count = (n) => (n > 0 ? n : -1);

export function sdp_content() {
  return found(wit.sdpContent());
}

export function sdp_with_media(media) {
  return found(call("sdpops", wit.withMedia, media));
}

export function sdp_with_codecs_by_name(codecs) {
  return found(call("sdpops", wit.withCodecsByName, codecs));
}

export function sdp_with_codecs_by_id(codecs) {
  return found(call("sdpops", wit.withCodecsById, codecs));
}

/** Every codec of every active stream: {media, id, name, clockRate}. */
export function list_codecs() {
  return call("sdpops", wit.listCodecs);
}

export function sdp_remove_codecs_by_name(codecs) {
  return count(call("sdpops", wit.removeCodecsByName, codecs));
}

export function sdp_remove_codecs_by_id(codecs) {
  return count(call("sdpops", wit.removeCodecsById, codecs));
}

export function sdp_keep_codecs_by_name(codecs, media = "") {
  return count(call("sdpops", wit.keepCodecsByName, codecs, media));
}

export function sdp_keep_codecs_by_id(codecs, media = "") {
  return count(call("sdpops", wit.keepCodecsById, codecs, media));
}

export function sdp_remove_media(media) {
  return count(call("sdpops", wit.removeMedia, media));
}

/** Every c= line to `ip`; how many changed, or -1. */
export function set_connection_address(ip) {
  return count(call("sdpops", wit.setConnectionAddress, ip));
}

export function set_origin_address(ip) {
  return found(call("sdpops", wit.setOriginAddress, ip));
}
