// Kamailio's msrp module example (its event_route[msrp:frame-in]) in JavaScript: the twin
// of example-plugins/msrp-relay (Rust). AUTH is answered with a digest challenge, then 200
// with a Use-Path naming a new session, kept in the msrp htable; SEND frames are relayed to
// the session's other side; everything else goes on along its To-Path. SIP gets 403.
// Its behaviour is example-plugins/cases/msrp-relay.toml, the same file as the Rust one's.

const TABLE = "msrp";
let count = 0;

function fnv1a(text) {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) {
    h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16);
}

const hops = () => KSR.pv.getvn("$msrp(nexthops)", 0);

function auth() {
  if (hops() > 0) {
    KSR.msrp.relay();
    KSR.x.exit();
  }
  const realm = KSR.config.get("realm", "myrealm");
  if (KSR.auth.pv_www_authenticate(realm, KSR.config.get("password", "xyz123")) !== KSR.auth.OK) {
    try {
      KSR.auth.www_challenge(realm);
    } catch (e) {
      if (!(e instanceof KSR.Error)) throw e;
      KSR.msrp.reply(500, "Server Error");
    }
    KSR.x.exit();
  }
  const srcaddr = KSR.pv.get("$msrp(srcaddr)");
  const srcsock = KSR.pv.get("$msrp(srcsock)");
  count += 1;
  const sessid = `s.${KSR.pv.get("$Ts")}.${count}.${fnv1a(srcaddr + KSR.pv.gete("$hdr(Authorization)"))}`;
  KSR.htable.sht_sets(TABLE, `${sessid}::srcaddr`, srcaddr);
  KSR.htable.sht_sets(TABLE, `${sessid}::srcsock`, srcsock);
  const scheme = KSR.pv.get("$pr") === "tls" ? "msrps" : "msrp";
  KSR.msrp.reply(200, "OK", KSR.pv.format(`Use-Path: ${scheme}://$Ri:$Rp/${sessid};tcp`));
  KSR.x.exit();
}

function send() {
  if (hops() > 1) {
    KSR.msrp.reply(200, "Received");
    KSR.msrp.relay();
    KSR.x.exit();
  }
  const sessid = KSR.pv.get("$msrp(sessid)");
  const addr = KSR.htable.sht_get(TABLE, `${sessid}::srcaddr`);
  const sock = KSR.htable.sht_get(TABLE, `${sessid}::srcsock`);
  if (addr === null || sock === null) {
    KSR.msrp.reply(481, "No Such Session");
    KSR.x.exit();
  }
  KSR.msrp.relay_flags(1);
  KSR.msrp.set_dst(addr, sock);
  KSR.msrp.relay();
  KSR.x.exit();
}

export function ksr_request_route() {
  KSR.sl.send_reply(403, "No SIP Here");
  KSR.x.exit();
}

export function ksr_msrp_event(evname) {
  KSR.msrp.reply_flags(1);
  if (KSR.msrp.is_reply()) {
    KSR.msrp.relay();
    KSR.x.exit();
  }
  const method = KSR.pv.get("$msrp(method)");
  if (method === "AUTH") auth();
  else if (method === "SEND") send();
  KSR.msrp.relay();
  KSR.x.exit();
}
