// The KEMI Lua example (../shared/seeds/kamailio-kemi-lua.txt) in JavaScript: the twin of
// example-plugins/kemi-proxy (Rust). Every request is checked with process_maxfwd(10)
// (483 Too Many Hops), sent to $du with a stateful t_relay (500 when that fails), with
// branch, onreply and failure routes that log. The next hop comes from the plugin config
// (next_hop, default the seed's sip:127.0.0.1:5080).
// Its behaviour is example-plugins/cases/kemi-proxy.toml, the same file as the Rust one's.

export function ksr_request_route() {
  KSR.info("===== request - from kemi-proxy plugin");
  if (KSR.maxfwd.process_maxfwd(10) < 0) {
    KSR.sl.send_reply(483, "Too Many Hops");
    return;
  }
  KSR.pv.sets("$du", KSR.config.get("next_hop", "sip:127.0.0.1:5080"));
  KSR.tm.t_on_branch("ksr_branch_route_one");
  KSR.tm.t_on_reply("ksr_onreply_route_one");
  KSR.tm.t_on_failure("ksr_failure_route_one");
  try {
    KSR.tm.t_relay();
  } catch (e) {
    if (!(e instanceof KSR.Error)) throw e;
    KSR.sl.send_reply(500, "Server error");
  }
}

export function ksr_reply_route() {
  KSR.info("===== response - from kemi-proxy plugin");
}

export function ksr_branch_route_one() {
  KSR.info("===== branch route - from kemi-proxy plugin");
}

export function ksr_onreply_route_one() {
  KSR.info("===== onreply route - from kemi-proxy plugin");
}

export function ksr_failure_route_one() {
  KSR.info("===== failure route - from kemi-proxy plugin");
}
