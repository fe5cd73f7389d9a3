//! Test plugin: the user part of the Request-URI picks a behaviour, so tests can drive the
//! runtime's failure handling and every host interface with plain SIP requests.
//!
//! | R-URI user | behaviour                                                             |
//! |------------|-----------------------------------------------------------------------|
//! | `pv`       | reply 200 with `X-Val-N: <value or ERR:...>` for each `X-Get` header   |
//! | `count`    | reply 200 with `X-Count`: events this instance has served             |
//! | `spin`     | loop forever (cut at the CPU deadline)                                 |
//! | `busy`     | busy for `X-Busy-Ms` milliseconds (default 5), then reply 200          |
//! | `eat`      | allocate until the memory cap stops it                                 |
//! | `panic`    | panic                                                                  |
//! | `fail`     | return a route error                                                   |
//! | `badroute` | call a route that does not exist                                       |
//! | `noreply`  | do nothing                                                             |
//! | `exit`     | named route that exits before the caller replies                      |
//! | `log`      | log at every level, print to stdout and stderr, reply 200              |
//! | `hdrops`   | exercise every hdr function and report the results                     |
//! | `set`      | assign `$rU`, `$rd`, `$du`, `$var` and report them                     |
//! | `flags`    | set/test flags and methods, report                                     |
//! | `named`    | reply 200 with `X-Named: yes` (also run directly as a named route)     |
//! | `relay`    | stateful relay to config `next_hop` with Record-Route                  |
//! | `failover` | like `relay`; a failure route tries config `second_hop` on 4xx/5xx    |
//! | `stateless`| stateless `forward` to config `next_hop`                               |
//! | `suspend`  | `t_suspend`, set `$avp(after)` and flag 9 afterwards, send the ids with |
//! |            | `net.send-udp` to config `app` (`SUSPENDED:i:l`); also `$T(id_*)`        |
//! | `continue` | `t_continue` the ids in header `X-Resume: i:l[:route]` (default route   |
//! |            | `PROBE_RESUME`), reply 200 with `X-Continue: <result>`                  |
//! | `PROBE_RESUME` | (resume route) reply 200 with the state the request route left       |
//! | `twice`    | `t_suspend` then `t_relay` and `t_reply` in the same route: errors       |
//! | `slowrelay`| busy for 150 ms, then like `relay` (a retransmission races the route)   |
//! | `reg`      | REGISTER: `registrar.save("location")` of the To AOR, no auth          |
//! | (To `sha`) | REGISTER of user `sha`: SHA-256 digest only (password `sha-secret`,  |
//! |            | realm the To host), saved when the response used SHA-256            |
//! | `fork`     | `lookup` of the AOR in `X-Callee` (`user@domain`), a branch route that   |
//! |            | adds `X-Branch: <$ru> <$du>` to each branch, relay; the failure route   |
//! |            | forks to `X-Then` (`append_branch`) once                                |
//! | `serial`   | the same, serially by q (`t_load_contacts` / `t_next_contacts`)        |
//! | `ht`       | htable op from `X-Ht: get|set|setint|incr|delete|exists TABLE KEY [V]`, |
//! |            | reply 200 with `X-Result: <result>`                                     |
//! | `stat`     | statistics op from `X-Stat: update NAME BY | reset NAME | get NAME`,     |
//! |            | reply 200 with `X-Result: <result>`                                     |
//! | `once`     | `rtimer.once(X-Timer-Name, X-Delay-Ms, X-Timer-Data)`, reply 200 with     |
//! |            | `X-Result: <result>`                                                    |
//! | `later`    | `t_suspend`, then a one-shot timer `resume` in `X-Delay-Ms` whose event  |
//! |            | resumes the transaction in `PROBE_RESUME`                               |
//!
//! | `sdp`      | SDP edits from headers or config (`X-Sdp-Keep`/`sdp_keep`: keep those  |
//! |            | audio codecs; `X-Sdp-Remove`; `X-Sdp-Drop-Media`; `X-Sdp-Conn`/`sdp_conn`: |
//! |            | c= and o= address; `X-Subst-Body`; `X-Filter-Body`), then like `relay`  |
//! | `body`     | reply 200 with `X-Has-Sdp`, `X-Codecs` (media/id/name/rate), `X-Part`   |
//! |            | (`get_body_part(X-Part-Type)`) and the body as it would be sent as the  |
//! |            | reply's body (`set_reply_body`), after the same edits as `sdp`          |
//! | `carrier`  | relay to config `next_hop`; a 401/407 is answered once with `uac.auth`  |
//! |            | (config `uac_realm`, `uac_user`, `uac_password`) in the failure route   |
//! | `anon`     | `uac.replace_from("Anonymous", "sip:anonymous@anonymous.invalid")`,      |
//! |            | Record-Route, relay to config `next_hop`                               |
//! | `uacsend`  | `uac.req_send` of a MESSAGE to `X-Send-To` (body `X-Send-Body`), reply   |
//! |            | 200 with `X-Result`                                                     |
//! | `siputils` | reply 200 with `X-E164` (of `X-Number`), `X-Tel2sip` (of `X-Tel`),       |
//! |            | `X-Uri-Param` (`user=phone`? after `add_uri_param("x=1")`), `X-Ruri`     |
//!
//! Timer events (`event-routes`): `timer:resume` resumes as above; `timer:spin` loops
//! forever; every other one sends `EVENT <name> <$rtimer(name)> <$rtimer(data)>
//! <$shtrecord(key)> <$shtrecord(value)> <$si>` to config `app` with `net.send-udp`.
//!
//! Non-SIP packets are answered `ECHO <$ml> <$pr> <$si>` (`nosip.reply`); a packet that
//! starts with `CONTINUE:i:l:route` runs `t_continue` and answers with the result, and
//! `HT:<op> <table> <key> [value]` runs the htable op and answers `HT <result>`.
//!
//! MSRP SEND requests are answered 200 with `X-Probe:` headers carrying `$msrp(...)`
//! values; a SEND whose body is `fail` gets 403; other frames get nothing. A request with
//! `X-Probe-Relay: yes` and a further To-Path hop is relayed instead (`X-Probe-Flags: N`
//! sets the relay flags; a relay error is answered 400), and so is every response with a
//! further hop.
//!
//! Requests with Route headers follow them (`loose_route` + `t_relay`) first; with
//! `X-Branch-Du: URI` a branch route sets `$du` to it.
//! | other      | 404 No Such Probe                                                      |

use sipwasm_sdk::{
    Plugin, Route, Stop, auth, config, core, export_plugin, forward, hdr, htable, info, log, msrp,
    net, nosip, pv, registrar, rr, rtimer, sdpops, siputils, sl, statistics, textops, tm, uac,
    unknown_route,
};

/// Run `update NAME BY`, `reset NAME` or `get NAME` on the plugin's statistics and
/// describe the result.
fn stat_op(spec: &str) -> String {
    let mut w = spec.split_whitespace();
    let (op, name) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
    match op {
        "update" => format!(
            "{:?}",
            statistics::update_stat(name, w.next().and_then(|b| b.parse().ok()).unwrap_or(1))
        ),
        "reset" => format!("{:?}", statistics::reset_stat(name)),
        "get" => format!("{:?}", statistics::get_stat(name)),
        other => format!("unknown op {other:?}"),
    }
}

/// Run `op table key [value]` on the htables and describe the result.
/// True when the frame has header `name` with value `yes`.
fn hdr_flag(name: &str) -> Result<bool, sipwasm_sdk::Stop> {
    Ok(pv::gete(format!("$hdr({name})"))? == "yes")
}

fn htable_op(spec: &str) -> String {
    let mut w = spec.split_whitespace();
    let (op, table, key) = (
        w.next().unwrap_or(""),
        w.next().unwrap_or(""),
        w.next().unwrap_or(""),
    );
    let value = w.next().unwrap_or("");
    match op {
        "get" => format!("{:?}", htable::get(table, key)),
        "set" => format!("{:?}", htable::set_str(table, key, value)),
        "setint" => format!(
            "{:?}",
            htable::set_int(table, key, value.parse().unwrap_or(0))
        ),
        "incr" => format!("{:?}", htable::incr(table, key, value.parse().unwrap_or(1))),
        "delete" => format!("{:?}", htable::delete(table, key)),
        "exists" => format!("{:?}", htable::exists(table, key)),
        other => format!("unknown op {other:?}"),
    }
}

/// The value of header `name`, or else of config `key`, when not empty.
fn setting(name: &str, key: &str) -> Result<Option<String>, Stop> {
    let v = pv::gete(format!("$hdr({name})"))?;
    Ok(if v.is_empty() {
        config::get(key).filter(|v| !v.is_empty())
    } else {
        Some(v)
    })
}

/// The body edits of the `sdp` and `body` probes.
fn edit_body() -> Route {
    if let Some(part) = setting("X-Filter-Body", "filter_body")? {
        textops::filter_body(&part)?;
    }
    if let Some(keep) = setting("X-Sdp-Keep", "sdp_keep")? {
        sdpops::keep_codecs_by_name(&keep, "audio")?;
    }
    if let Some(remove) = setting("X-Sdp-Remove", "sdp_remove")? {
        sdpops::remove_codecs_by_name(&remove)?;
    }
    if let Some(media) = setting("X-Sdp-Drop-Media", "sdp_drop_media")? {
        sdpops::remove_media(&media)?;
    }
    if let Some(ip) = setting("X-Sdp-Conn", "sdp_conn")? {
        sdpops::set_connection_address(&ip)?;
        sdpops::set_origin_address(&ip)?;
    }
    if let Some(expr) = setting("X-Subst-Body", "subst_body")? {
        textops::subst_body(&expr)?;
    }
    Ok(())
}

/// A REGISTER authenticated with SHA-256 (RFC 8760) only: challenged with nothing else,
/// saved only when the client answered with it.
fn register_with_sha256() -> Route {
    let realm = pv::gete("$td")?;
    let with_sha256 = pv::gete("$hdr(Authorization)")?
        .to_ascii_uppercase()
        .contains("ALGORITHM=SHA-256");
    match auth::check(auth::Kind::Www, &realm, "sha-secret") {
        Ok(_) if with_sha256 => {
            registrar::save("location")?;
        }
        _ => auth::challenge_with(auth::Kind::Www, &realm, &[auth::Algorithm::Sha256], false)?,
    }
    core::exit()
}

#[derive(Default)]
struct Probe {
    served: u64,
}

fn reply_with(headers: &[(String, String)], code: u16, reason: &str) -> Route {
    for (name, value) in headers {
        sl::append_to_reply(format!("{name}: {value}\r\n"))?;
    }
    sl::send_reply(code, reason)?;
    core::exit()
}

impl Plugin for Probe {
    fn request_route(&mut self) -> Route {
        if rr::loose_route()?.is_routed() {
            if pv::get("$hdr(X-Branch-Du)")?.as_str().is_some() {
                tm::t_on_branch("PROBE_DU");
            }
            tm::t_relay()?;
            return core::exit();
        }
        if core::is_method("ACK") {
            return core::exit();
        }
        if core::is_method("CANCEL") {
            if tm::t_check_trans() {
                tm::t_relay()?;
            }
            return core::exit();
        }
        self.served += 1;
        if core::is_method("REGISTER") && pv::gete("$tU")? == "sha" {
            return register_with_sha256();
        }
        let user = pv::gete("$rU")?;
        match self.route(&user) {
            Err(Stop::UnknownRoute(name)) if name == user => {
                sl::send_reply(404, "No Such Probe")?;
                Ok(())
            }
            other => other,
        }
    }

    fn route(&mut self, name: &str) -> Route {
        match name {
            "pv" => {
                let n = pv::getvn("$hdrc(X-Get)", 0)?;
                let mut out = Vec::new();
                for i in 0..n {
                    let pvname = pv::gete(format!("$(hdr(X-Get)[{i}])"))?;
                    let value = match pv::get(&pvname) {
                        Ok(v) => v.to_string(),
                        Err(e) => format!("ERR:{e:?}"),
                    };
                    out.push((format!("X-Val-{i}"), value));
                }
                reply_with(&out, 200, "OK")
            }
            "count" => reply_with(&[("X-Count".into(), self.served.to_string())], 200, "OK"),
            "spin" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "busy" => {
                let ms = pv::getvn("$hdr(X-Busy-Ms)", 5)?;
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_millis(ms as u64) {
                    std::hint::spin_loop();
                }
                reply_with(&[], 200, "OK")
            }
            "eat" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("probe was asked to panic"),
            "fail" => Err(Stop::Error("probe failed on purpose".into())),
            "badroute" => self.route("NO_SUCH_ROUTE"),
            "noreply" => core::exit(),
            "exit" => {
                self.route("INNER_EXIT")?;
                reply_with(&[], 500, "Exit Did Not Stop The Route")
            }
            "INNER_EXIT" => core::exit(),
            "log" => {
                log::log(log::Level::Debug, "probe debug");
                info!("probe info from {}", pv::gete("$si")?);
                log::log(log::Level::Warn, "probe warn");
                log::xlog(log::Level::Error, "probe xlog $rm $ci")?;
                println!("probe stdout line");
                eprintln!("probe stderr line");
                reply_with(&[], 200, "OK")
            }
            "hdrops" => {
                let mut out = Vec::new();
                let mut record = |k: &str, v: String| out.push((format!("X-{k}"), v));
                record("Append", format!("{:?}", hdr::append("X-A: 1\r\n")));
                record(
                    "AppendAfter",
                    format!("{:?}", hdr::append_after("X-B: 2", "Call-ID")),
                );
                record(
                    "AppendAfterMissing",
                    format!("{:?}", hdr::append_after("X-B: 2", "X-Nope")),
                );
                record("Insert", format!("{:?}", hdr::insert("X-C: 3\r\n")));
                record(
                    "InsertBefore",
                    format!("{:?}", hdr::insert_before("X-D: 4\r\n", "CSeq")),
                );
                record("Invalid", format!("{:?}", hdr::append("no colon here")));
                record("Remove", format!("{:?}", hdr::remove("X-Remove-Me")));
                record("Present", hdr::is_present("X-Remove-Me").to_string());
                record("Get", format!("{:?}", hdr::get("X-Remove-Me")));
                record(
                    "ReplyHdrInvalid",
                    format!("{:?}", sl::append_to_reply("bad\r\n\r\nbody")),
                );
                reply_with(&out, 200, "OK")
            }
            "set" => {
                let mut out = Vec::new();
                pv::sets("$rU", "alice")?;
                pv::sets("$rd", "example.net")?;
                pv::sets("$du", "sip:127.0.0.1:5999")?;
                pv::seti("$var(n)", 41)?;
                let n = pv::getvn("$var(n)", 0)? + 1;
                out.push(("X-Ruri".into(), pv::gete("$ru")?));
                out.push(("X-Du".into(), pv::gete("$du")?));
                out.push(("X-Var".into(), n.to_string()));
                out.push((
                    "X-Si-Write".into(),
                    format!("{:?}", pv::sets("$si", "1.2.3.4")),
                ));
                out.push((
                    "X-Bad-Ru".into(),
                    format!("{:?}", pv::sets("$ru", "not a uri")),
                ));
                out.push(("X-Unknown".into(), format!("{:?}", pv::get("$nosuch"))));
                out.push((
                    "X-Config".into(),
                    config::get("greeting").unwrap_or_default(),
                ));
                reply_with(&out, 200, "OK")
            }
            "flags" => {
                core::set_flag(5)?;
                let out = vec![
                    ("X-Flag5".into(), core::is_flag_set(5)?.to_string()),
                    ("X-Flag40".into(), format!("{:?}", core::set_flag(40))),
                    (
                        "X-Is-Options".into(),
                        core::is_method("options").to_string(),
                    ),
                    ("X-Method-In".into(), core::is_method_in("IRO").to_string()),
                    ("X-Myself-Ruri".into(), core::is_myself_ruri().to_string()),
                    ("X-Myself-Srcip".into(), core::is_myself_srcip().to_string()),
                    ("X-Mf".into(), pv::gete("$mf")?),
                ];
                reply_with(&out, 200, "OK")
            }
            "named" => reply_with(&[("X-Named".into(), "yes".into())], 200, "OK"),
            "slowrelay" => {
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_millis(150) {
                    std::hint::spin_loop();
                }
                self.route("relay")
            }
            "relay" | "failover" => {
                let next = config::get("next_hop").ok_or(Stop::Error("no next_hop".into()))?;
                rr::record_route()?;
                pv::seti("$avp(attempt)", 1)?;
                core::set_flag(7)?;
                tm::t_on_reply("LOG_REPLY");
                if name == "failover" {
                    tm::t_on_failure("FAILOVER");
                }
                if let Err(e) = tm::t_relay_to(&next) {
                    sl::send_reply(500, format!("relay failed: {e:?}"))?;
                }
                core::exit()
            }
            "reg" => {
                registrar::save("location")?;
                core::exit()
            }
            "fork" | "serial" => {
                let callee = pv::gete("$hdr(X-Callee)")?;
                pv::sets("$ru", format!("sip:{callee}"))?;
                if registrar::lookup("location").is_err() {
                    sl::send_reply(404, "Not Registered")?;
                    return core::exit();
                }
                rr::record_route()?;
                tm::t_on_branch("PROBE_BRANCH");
                if name == "serial" {
                    if tm::t_load_contacts()? > 0 {
                        tm::t_next_contacts()?;
                    }
                    tm::t_on_failure("PROBE_SERIAL");
                } else {
                    tm::t_on_failure("PROBE_THEN");
                }
                tm::t_relay()?;
                core::exit()
            }
            "stateless" => {
                let next = config::get("next_hop").ok_or(Stop::Error("no next_hop".into()))?;
                forward::forward_uri(&next)?;
                core::exit()
            }
            "suspend" => {
                let (index, label) = tm::t_suspend()?;
                // state changed after t_suspend is what the resumed route sees
                pv::sets("$avp(after)", "set-after-suspend")?;
                core::set_flag(9)?;
                let again = tm::t_suspend()?;
                let app = config::get("app").ok_or(Stop::Error("no app".into()))?;
                let seen = format!(
                    "SUSPENDED:{index}:{label}:{}:{}:{}",
                    pv::gete("$T(id_index)")?,
                    pv::gete("$T(id_label)")?,
                    again == (index, label)
                );
                net::send_udp(&app, seen)?;
                core::exit()
            }
            "twice" => {
                tm::t_suspend()?;
                let relay = tm::t_relay();
                let reply = tm::t_reply(200, "OK");
                let app = config::get("app").ok_or(Stop::Error("no app".into()))?;
                net::send_udp(&app, format!("TWICE:{relay:?}:{reply:?}"))?;
                core::exit()
            }
            "continue" => {
                let spec = pv::gete("$hdr(X-Resume)")?;
                let mut parts = spec.split(':');
                let index = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                let label = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                let route = parts.next().unwrap_or("PROBE_RESUME");
                let result = tm::t_continue(index, label, route);
                reply_with(&[("X-Continue".into(), format!("{result:?}"))], 200, "OK")
            }
            "once" => {
                let name = pv::gete("$hdr(X-Timer-Name)")?;
                let delay = pv::gete("$hdr(X-Delay-Ms)")?.parse().unwrap_or(0);
                let data = pv::gete("$hdr(X-Timer-Data)")?;
                let result = rtimer::once(&name, delay, &data);
                reply_with(&[("X-Result".into(), format!("{result:?}"))], 200, "OK")
            }
            "later" => {
                let (index, label) = tm::t_suspend()?;
                let delay = pv::gete("$hdr(X-Delay-Ms)")?.parse().unwrap_or(300);
                rtimer::once("resume", delay, format!("{index}:{label}"))?;
                core::exit()
            }
            "carrier" | "anon" => {
                let next = config::get("next_hop").ok_or(Stop::Error("no next_hop".into()))?;
                if name == "anon" {
                    uac::replace_from("Anonymous", "sip:anonymous@anonymous.invalid")?;
                } else {
                    tm::t_on_failure("CARRIER_AUTH");
                }
                rr::record_route()?;
                if let Err(e) = tm::t_relay_to(&next) {
                    sl::send_reply(500, format!("relay failed: {e:?}"))?;
                }
                core::exit()
            }
            "CARRIER_AUTH" => {
                let code = pv::gete("$T(reply_code)")?;
                if (code == "401" || code == "407") && pv::gete("$avp(uac_tried)")?.is_empty() {
                    pv::sets("$avp(uac_tried)", "yes")?;
                    let user = config::get("uac_user").unwrap_or_default();
                    let password = config::get("uac_password").unwrap_or_default();
                    let realm = config::get("uac_realm").unwrap_or_default();
                    uac::auth(&realm, &user, &password)?;
                    let next = config::get("next_hop").ok_or(Stop::Error("no next_hop".into()))?;
                    tm::t_relay_to(&next)?;
                }
                Ok(())
            }
            "uacsend" => {
                let to = pv::gete("$hdr(X-Send-To)")?;
                let result = uac::req_send(&uac::Request {
                    method: "MESSAGE".into(),
                    ruri: to.clone(),
                    furi: "sip:router@sipwasm.test".into(),
                    turi: to,
                    ouri: String::new(),
                    hdrs: "Content-Type: text/plain\r\n".into(),
                    body: pv::gete("$hdr(X-Send-Body)")?.into_bytes(),
                });
                reply_with(&[("X-Result".into(), format!("{result:?}"))], 200, "OK")
            }
            "siputils" => {
                let number = pv::gete("$hdr(X-Number)")?;
                let tel = pv::gete("$hdr(X-Tel)")?;
                let tel2sip = format!("{:?}", siputils::tel2sip(&tel, "gw.example.com"));
                let before = siputils::uri_param("x", Some("1"));
                siputils::add_uri_param("x=1")?;
                let after = siputils::uri_param("x", Some("1"));
                reply_with(
                    &[
                        ("X-E164".into(), siputils::is_e164(&number).to_string()),
                        (
                            "X-Uri-E164".into(),
                            siputils::is_uri_user_e164(&format!("sip:{number}@x")).to_string(),
                        ),
                        ("X-Tel2sip".into(), tel2sip),
                        ("X-Uri-Param".into(), format!("{before} {after}")),
                        ("X-Ruri".into(), pv::gete("$ru")?),
                        ("X-Is-User".into(), siputils::is_user("alice").to_string()),
                    ],
                    200,
                    "OK",
                )
            }
            "sdp" => {
                edit_body()?;
                let next = config::get("next_hop").ok_or(Stop::Error("no next_hop".into()))?;
                rr::record_route()?;
                if let Err(e) = tm::t_relay_to(&next) {
                    sl::send_reply(500, format!("relay failed: {e:?}"))?;
                }
                core::exit()
            }
            "body" => {
                edit_body()?;
                let codecs = match sdpops::list_codecs() {
                    Ok(list) => list
                        .iter()
                        .map(|c| format!("{}/{}/{}/{}", c.media, c.id, c.name, c.clock_rate))
                        .collect::<Vec<_>>()
                        .join(" "),
                    Err(e) => format!("{e:?}"),
                };
                let part_type = pv::gete("$hdr(X-Part-Type)")?;
                let part = textops::get_body_part(&part_type).map_or("none".to_string(), |p| {
                    String::from_utf8_lossy(&p).trim().to_string()
                });
                let body = textops::get_body();
                if !body.is_empty() {
                    textops::set_reply_body(&body, "application/sdp")?;
                }
                reply_with(
                    &[
                        ("X-Has-Sdp".into(), sdpops::sdp_content().to_string()),
                        ("X-Codecs".into(), codecs),
                        ("X-Part".into(), part.replace(['\r', '\n'], " ")),
                    ],
                    200,
                    "OK",
                )
            }
            "ht" => {
                let spec = pv::gete("$hdr(X-Ht)")?;
                reply_with(&[("X-Result".into(), htable_op(&spec))], 200, "OK")
            }
            "stat" => {
                let spec = pv::gete("$hdr(X-Stat)")?;
                reply_with(&[("X-Result".into(), stat_op(&spec))], 200, "OK")
            }
            "PROBE_RESUME" => {
                let out: Vec<(String, String)> = vec![
                    ("X-Resumed".into(), pv::gete("$T(id_index)")?),
                    ("X-Avp".into(), pv::gete("$avp(after)")?),
                    ("X-Flag9".into(), core::is_flag_set(9)?.to_string()),
                    ("X-Rm".into(), pv::gete("$rm")?),
                ];
                for (name, value) in &out {
                    sl::append_to_reply(format!("{name}: {value}\r\n"))?;
                }
                tm::t_reply(200, "Resumed")?;
                core::exit()
            }
            other => unknown_route(other),
        }
    }

    fn event_route(&mut self, name: &str) -> Route {
        match name {
            "timer:resume" => {
                let data = pv::gete("$rtimer(data)")?;
                let (index, label) = data.split_once(':').unwrap_or_default();
                tm::t_continue(
                    index.parse().unwrap_or(0),
                    label.parse().unwrap_or(0),
                    "PROBE_RESUME",
                )?;
                Ok(())
            }
            "timer:spin" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            _ => {
                let app = config::get("app").ok_or(Stop::Error("no app".into()))?;
                let seen = pv::format(
                    "$rtimer(name) $rtimer(data) $shtrecord(key) $shtrecord(value) $si",
                )?;
                net::send_udp(&app, format!("EVENT {name} {seen}"))?;
                Ok(())
            }
        }
    }

    fn nosip_msg(&mut self) -> Route {
        let mb = pv::gete("$mb")?;
        if let Some(rest) = mb.strip_prefix("CONTINUE:") {
            let mut parts = rest.trim_end().split(':');
            let index = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let label = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let route = parts.next().unwrap_or("PROBE_RESUME");
            let result = tm::t_continue(index, label, route);
            nosip::reply(format!("CONTINUE {result:?}"))?;
            return core::exit();
        }
        if let Some(spec) = mb.strip_prefix("HT:") {
            nosip::reply(format!("HT {}", htable_op(spec.trim_end())))?;
            return core::exit();
        }
        let echo = pv::format("ECHO $ml $pr $si $rm")?;
        nosip::reply(echo)?;
        core::exit()
    }

    fn msrp_frame_in(&mut self) -> Route {
        // relay mode: every frame with a further hop is relayed (responses go back the
        // way their request came); X-Probe-Flags sets the relay flags
        if pv::gete("$msrp(nexthops)")? != "0"
            && (!msrp::is_request() || hdr_flag("X-Probe-Relay")?)
        {
            if let Ok(flags) = pv::gete("$hdr(X-Probe-Flags)")?.parse() {
                msrp::relay_flags(flags);
            }
            if let Err(e) = msrp::relay()
                && msrp::is_request()
            {
                msrp::reply(400, format!("Cannot Relay {e:?}"), None)?;
            }
            return core::exit();
        }
        if !msrp::is_request() || pv::gete("$msrp(method)")? != "SEND" {
            return core::exit();
        }
        if pv::gete("$msrp(body)")? == "fail" {
            msrp::reply(403, "Forbidden", None)?;
            return core::exit();
        }
        let headers = pv::format(
            "X-Probe-Sessid: $msrp(sessid)\r\nX-Probe-Prevhop: $msrp(prevhop)\r\nX-Probe-Bodylen: $msrp(bodylen)\r\nX-Probe-Srcaddr: $msrp(srcaddr)\r\nX-Probe-Port: $(msrp(crthop){msrpuri.port})\r\nX-Probe-Sip-View: $rm|$hdr(Message-ID)|$hdr(MSRP-First-Line)\r\n",
        )?;
        msrp::reply(200, "OK", Some(&headers))?;
        core::exit()
    }

    fn onreply_route(&mut self, name: &str) -> Route {
        match name {
            "LOG_REPLY" => {
                log::xlog(
                    log::Level::Info,
                    "probe onreply $rs for $ci (branch $T(branch_index))",
                )?;
                hdr::append("X-Probe-Onreply: seen\r\n")?;
                Ok(())
            }
            other => unknown_route(other),
        }
    }

    fn branch_route(&mut self, name: &str) -> Route {
        match name {
            "PROBE_BRANCH" => {
                // this branch's own header: the others do not get it
                let du = pv::get("$du")?.as_str().unwrap_or_default().to_string();
                hdr::append(format!("X-Branch: <{}> <{du}>\r\n", pv::gete("$ru")?))?;
                Ok(())
            }
            "PROBE_DU" => Ok(pv::sets("$du", pv::gete("$hdr(X-Branch-Du)")?)?),
            other => unknown_route(other),
        }
    }

    fn failure_route(&mut self, name: &str) -> Route {
        match name {
            "PROBE_SERIAL" => {
                if !tm::t_is_canceled() && tm::t_next_contacts()? {
                    tm::t_on_failure("PROBE_SERIAL");
                    tm::t_relay()?;
                }
                Ok(())
            }
            "PROBE_THEN" => {
                if let Some(then) = pv::get("$hdr(X-Then)")?.as_str() {
                    tm::append_branch(then)?;
                    tm::t_relay()?;
                }
                Ok(())
            }
            "FAILOVER" => {
                let code = pv::getvn("$T(reply_code)", 0)?;
                let flag = core::is_flag_set(7)?;
                let attempt = pv::getvn("$avp(attempt)", 0)?;
                info!("probe failure route: {code} (flag 7 {flag}, attempt {attempt})");
                if tm::t_is_canceled() {
                    return Ok(());
                }
                if (400..600).contains(&code)
                    && flag
                    && attempt == 1
                    && let Some(second) = config::get("second_hop")
                {
                    pv::seti("$avp(attempt)", 2)?;
                    // a failure route runs once: arm it again for the next round
                    tm::t_on_failure("FAILOVER");
                    tm::t_relay_to(second)?;
                    return Ok(());
                }
                tm::t_reply(503, format!("Failover Exhausted After {code}"))?;
                Ok(())
            }
            // a named route of the request routes (CARRIER_AUTH)
            other => self.route(other),
        }
    }
}

export_plugin!(Probe);
