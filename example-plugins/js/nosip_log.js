// Kamailio's nosip module example in JavaScript: the twin of example-plugins/nosip-log
// (Rust). A packet that is not SIP is logged with its content and sender; SIP gets 501.
// Its behaviour is example-plugins/cases/nosip-log.toml, the same file as the Rust one's.

export function ksr_request_route() {
  KSR.sl.send_reply(501, "Not Implemented");
  KSR.x.exit();
}

export function ksr_timer_event(evname) {
  KSR.xlog.xinfo(`timer $rtimer(name) ran (${evname})`);
  KSR.x.exit();
}

export function ksr_nosip_event(evname) {
  KSR.xlog.xinfo("non-sip packet received - content [[$mb]] from [$si:$sp]");
  KSR.x.exit();
}
