// A registrar and proxy for phones, as Kamailio's default config does it, in JavaScript:
// the twin of example-plugins/registrar-proxy (Rust). Phones register with digest
// authentication (users from the plugin config: ha1.NAME = the HA1 hashes sipwasm passwd
// prints, or user.NAME = "password"),
// call each other through the location table, behind NAT too (nathelper, Contact aliases),
// and calls that fail with 486/408/480 go to voicemail when `voicemail` is set. Nobody
// relays through it: requests to other domains get 403. Against toll fraud: max_calls /
// calls_per_minute per user (KSR.dialog), and with `gateway` set, numbers go there only
// with one of allow_prefixes or for granted users.
// Its behaviour is example-plugins/cases/registrar-proxy.toml, the same file as the Rust
// one's.

const FLT_NATS = 5;
// nat_uac_test: 16 source port is not the Via port, 2 Via host is not the source, 1 the
// Contact is a private address (Kamailio's default config tests 19)
const NAT_TESTS = 16 | 2 | 1;

let settings = null;

// read on the first event: the config is not there when the script is built
function config() {
  if (settings === null) {
    const users = {};
    for (const key of KSR.config.keys()) {
      // [secret, flags]: HA1 hashes (flag 1) or a password
      if (key.startsWith("ha1.")) users[key.slice(4)] = [KSR.config.get(key), KSR.auth.HA1];
      else if (key.startsWith("user.")) users[key.slice(5)] = [KSR.config.get(key), 0];
    }
    const list = (key) =>
      KSR.config
        .get(key, "")
        .split(",")
        .map((p) => p.trim())
        .filter((p) => p !== "");
    settings = {
      realm: KSR.config.get("realm", "sipwasm.local"),
      voicemail: KSR.config.get("voicemail", ""),
      users,
      maxCalls: Number(KSR.config.get("max_calls", "0")) || 0,
      callsPerMinute: Number(KSR.config.get("calls_per_minute", "0")) || 0,
      gateway: KSR.config.get("gateway", ""),
      allowPrefixes: list("allow_prefixes"),
      granted: list("granted"),
    };
  }
  return settings;
}

export function ksr_request_route() {
  config();
  reqinit();
  natdetect();
  if (KSR.is_CANCEL()) {
    if (KSR.tm.t_check_trans()) relay();
    KSR.x.exit();
  }
  if (KSR.siputils.has_totag()) within_dialog();
  if (KSR.is_ACK()) {
    // an ACK without a To tag belongs to nothing
    KSR.x.exit();
  }
  if (handedOver()) {
    // the dialog's requests come back this way, to the same flow
    if (KSR.is_method_in("ISF")) KSR.rr.record_route();
    relay();
  }
  auth();
  // Route headers of an initial request (a phone's outbound proxy) are not followed
  KSR.hdr.remove("Route");
  if (KSR.pv.get("$hdrc(Via)") === 1) KSR.hdr.remove("Record-Route");
  if (KSR.is_method_in("ISF")) KSR.rr.record_route();
  if (KSR.is_REGISTER()) {
    const n = KSR.registrar.save("location");
    KSR.xlog.xinfo(`registered $tU with ${n} contact(s) from $si:$sp`);
    KSR.x.exit();
  }
  if (KSR.pv.is_null("$rU")) {
    KSR.sl.send_reply(484, "Address Incomplete");
    KSR.x.exit();
  }
  // the callee's number, for the voicemail route (lookup changes $rU)
  KSR.pv.sets("$avp(oexten)", KSR.pv.get("$rU"));
  if (KSR.registrar.lookup("location") < 0) toGateway();
  relay();
}

// A telephone number: + and digits, or digits.
const isNumber = (user) => /^\+?[0-9]+$/.test(user);

// A number nobody registered: to the gateway, when a user of ours calls it and may (an
// allowed prefix, or granted); 403 when not; 404 for anything else.
function toGateway() {
  const { gateway, allowPrefixes, granted } = settings;
  const callee = KSR.pv.get("$rU");
  if (!gateway || !isNumber(callee)) {
    KSR.sl.send_reply(404, "Not Found");
    KSR.x.exit();
  }
  const caller = KSR.pv.get("$fU");
  const allowed = allowPrefixes.some((p) => callee.startsWith(p)) || granted.includes(caller);
  if (!KSR.is_myself_furi() || !allowed) {
    KSR.info(`call from ${caller} to ${callee} refused: not an allowed destination`);
    KSR.sl.send_reply(403, "Forbidden: destination not allowed");
    KSR.x.exit();
  }
  const host = gateway.startsWith("sip:") ? gateway.slice(4) : gateway;
  KSR.pv.sets("$ru", `sip:${callee}@${host}`);
}

// route[RELAY]
function relay() {
  if (KSR.is_INVITE()) {
    KSR.tm.t_on_reply("MANAGE_REPLY");
    if (settings.voicemail) KSR.tm.t_on_failure("MANAGE_FAILURE");
  }
  relayOrAnswer();
  KSR.x.exit();
}

// t_relay, or the reply that fits why it could not
function relayOrAnswer() {
  try {
    KSR.tm.t_relay();
  } catch (e) {
    if (!(e instanceof KSR.Error)) throw e;
    KSR.sl.send_reply_error();
  }
}

// route[REQINIT]
function reqinit() {
  KSR.force_rport();
  if (KSR.maxfwd.process_maxfwd(10) < 0) {
    KSR.sl.send_reply(483, "Too Many Hops");
    KSR.x.exit();
  }
  if (KSR.is_OPTIONS() && KSR.is_myself_ruri() && KSR.pv.is_null("$rU")) {
    // a phone checking that its proxy is alive
    KSR.sl.send_reply(200, "Keepalive");
    KSR.x.exit();
  }
}

// route[NATDETECT]
function natdetect() {
  const fromAPhone = KSR.pv.get("$hdrc(Via)") === 1;
  if (KSR.nathelper.nat_uac_test(NAT_TESTS)) {
    if (KSR.is_REGISTER()) KSR.nathelper.fix_nated_register();
    KSR.setflag(FLT_NATS);
  }
  if (fromAPhone && !KSR.is_REGISTER() && !KSR.pv.is_null("$hdr(Contact)")) {
    // the other side's requests of this dialog find the phone where its packets come
    // from (a Contact that is no SIP URI is left as it is)
    addContactAlias();
  }
}

function addContactAlias() {
  try {
    KSR.nathelper.add_contact_alias();
  } catch (e) {
    if (!(e instanceof KSR.Error)) throw e;
    KSR.dbg(`no alias: ${e.message}`);
  }
}

// route[WITHINDLG]
function within_dialog() {
  // a Route set this router did not issue is answered 403 and ends the route
  const routed = KSR.rr.loose_route();
  if (routed === KSR.rr.ROUTE_SET || routed === KSR.rr.FLOW) {
    if (KSR.pv.is_null("$du")) KSR.nathelper.handle_ruri_alias();
    relay();
  }
  if (KSR.is_ACK()) KSR.x.exit();
  KSR.sl.send_reply(404, "Not here");
  KSR.x.exit();
}

// Check the credentials; challenge when they are missing or wrong (the route then ends).
// The user name when they are good.
function authenticate(proxy) {
  const { realm, users } = settings;
  const user = KSR.auth.username(realm, proxy);
  const secret = user === null ? undefined : users[user];
  let rc;
  // an unknown user is challenged like a wrong password: nothing tells who exists
  if (secret === undefined) rc = KSR.auth.NO_CREDENTIALS;
  else if (proxy) rc = KSR.auth.pv_proxy_authenticate(realm, secret[0], secret[1]);
  else rc = KSR.auth.pv_www_authenticate(realm, secret[0], secret[1]);
  if (rc === KSR.auth.OK) {
    KSR.auth.consume_credentials();
    return user;
  }
  // no log line per failure: the router counts them and logs bans once
  if (proxy) KSR.auth.proxy_challenge(realm);
  else KSR.auth.www_challenge(realm);
  KSR.x.exit();
}

// A request another router of the deployment hands over for a phone whose connection
// this router holds (routers sharing registrations, [state]): its one Route is this
// router's signed Path entry for that flow, and loose_route sends it over the flow. The
// other router authenticated the caller; a forged entry gets 403.
function handedOver() {
  if (KSR.pv.get("$hdrc(Route)") !== 1 || (KSR.pv.get("$hdr(Route)") || "").includes(",")) {
    return false;
  }
  const uri = KSR.pv.get("$(hdr(Route){nameaddr.uri})") || "";
  if (!uri.includes("@") || !uri.includes(";sig=") || !KSR.is_myself(uri)) return false;
  return KSR.rr.loose_route() === KSR.rr.FLOW;
}

// route[AUTH]
function auth() {
  if (KSR.is_REGISTER()) {
    const user = authenticate(false);
    if (KSR.pv.get("$tU") !== user) {
      KSR.sl.send_reply(403, "Forbidden: To does not match your credentials");
      KSR.x.exit();
    }
    return;
  }
  if (KSR.is_myself_furi()) {
    const user = authenticate(true);
    if (KSR.pv.get("$fU") !== user) {
      KSR.sl.send_reply(403, "Forbidden: From does not match your credentials");
      KSR.x.exit();
    }
    if (
      KSR.is_INVITE() &&
      KSR.dialog.limit_calls(user, settings.maxCalls, settings.callsPerMinute) !== KSR.dialog.OK
    ) {
      // the router logs the limit (once a minute per user) and counts it
      KSR.sl.send_reply(403, "Forbidden: too many calls");
      KSR.x.exit();
    }
  }
  if (!KSR.is_myself_ruri()) {
    KSR.sl.send_reply(403, "Not relaying");
    KSR.x.exit();
  }
}

// failure_route[MANAGE_FAILURE]
export function MANAGE_FAILURE() {
  const { voicemail } = config();
  if (KSR.tm.t_is_canceled()) KSR.x.exit();
  const code = KSR.tm.t_get_status_code();
  if (voicemail && [486, 408, 480].includes(code)) {
    // route[TOVOICEMAIL]: one new branch; the contacts that failed are not called again
    const host = voicemail.replace(/^sip:/, "");
    const user = KSR.pv.get("$avp(oexten)");
    KSR.pv.unset("$du");
    KSR.pv.sets("$ru", `sip:${user}@${host}`);
    KSR.info(`${user} to voicemail after ${code}`);
    relayOrAnswer();
  }
  KSR.x.exit();
}

// onreply_route[MANAGE_REPLY]: a callee behind NAT: the caller's requests of the dialog
// find it through the alias of its Contact (a Contact that is no SIP URI is left as it is)
export function MANAGE_REPLY() {
  if (!KSR.pv.is_null("$hdr(Contact)")) addContactAlias();
}
