// The harness's stateless responder (../shared/bench/kamailio/stateless.lua, Kamailio KEMI)
// in JavaScript, line by line: OPTIONS 200, INVITE 480, ACK never answered, anything else
// 501.

export function ksr_request_route() {
  if (KSR.is_OPTIONS()) {
    KSR.sl.sl_send_reply(200, "OK");
    return;
  }
  if (KSR.is_INVITE()) {
    KSR.sl.sl_send_reply(480, "Temporarily Unavailable");
    return;
  }
  if (KSR.is_ACK()) return;
  KSR.sl.sl_send_reply(501, "Not Implemented");
}

// replies received without a transaction: drop
export function ksr_reply_route() {
  KSR.x.drop();
}
