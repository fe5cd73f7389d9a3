// Kamailio 101, tutorial 3 ("Routing Blocks & Structure") in JavaScript: the twin of
// example-plugins/tutorial-501 (Rust). INVITE gets 480 Temporarily Unavailable, anything
// else 501 Not Implemented from the RESPOND_501 route, with the tutorial's log lines.
// Its behaviour is example-plugins/cases/tutorial-501.toml, the same file as the Rust one's.

export function ksr_request_route() {
  KSR.info("Hello, I am in the request_route");
  if (KSR.is_INVITE()) {
    KSR.sl.send_reply(480, "Temporarily Unavailable");
    KSR.x.exit();
  }
  RESPOND_501();
  KSR.info("Back in request_route");
}

export function RESPOND_501() {
  KSR.info("Now I am in the respond 501 route");
  KSR.sl.send_reply(501, "Not Implemented");
  KSR.x.exit();
}
