// The harness's proxy.cfg, line by line, in JavaScript: the twin of bench/plugins/proxy-cfg
// (Rust) for the side-by-side benchmarks (Max-Forwards check, ACKs of our negative replies
// absorbed, every request relayed statefully to config next_hop).

let nextHop = null;

export function ksr_request_route() {
  if (nextHop === null) nextHop = KSR.config.get("next_hop", "sip:127.0.0.1:5090");
  if (KSR.maxfwd.process_maxfwd(10) < 0) {
    KSR.sl.send_reply(483, "Too Many Hops");
    KSR.x.exit();
  }
  if (KSR.is_ACK() && KSR.tm.t_check_trans()) {
    KSR.tm.t_relay();
    KSR.x.exit();
  }
  KSR.pv.sets("$du", nextHop);
  try {
    KSR.tm.t_relay();
  } catch (e) {
    if (!(e instanceof KSR.Error)) throw e;
    KSR.sl.send_reply_error();
  }
  KSR.x.exit();
}
