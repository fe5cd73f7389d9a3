//! The router as a client (`uac`) and `siputils`, with SIPp peers: a carrier that
//! challenges with 407 (answered by `uac.auth` in the failure route), a From replaced on
//! the way out and restored in replies and in the dialog's requests both ways, a request
//! of the router's own (sent again until answered), and the siputils checks on raw
//! requests.

use crate::harness::*;
use std::time::Duration;

/// A router running the probe, relaying to `127.0.0.1:port`, with `config` besides.
fn probe_to(port: u16, config: &[(&str, &str)]) -> TestRouter {
    let mut opts = RouterOpts::default();
    opts.config
        .insert("next_hop".into(), format!("sip:127.0.0.1:{port}"));
    for (k, v) in config {
        opts.config.insert((*k).into(), (*v).into());
    }
    TestRouter::start_with("probe", opts)
}

/// `calls` calls of `caller` (service `service`) through `r` to `callee` on `port`:
/// (caller, callee) outcomes.
fn calls_through(
    r: &TestRouter,
    port: u16,
    caller: Scenario,
    callee: Scenario,
    service: &str,
    calls: u32,
) -> (SippOutcome, SippOutcome) {
    let mut uas = Sipp::server(callee, port);
    uas.calls = calls;
    let uas = uas.spawn();
    std::thread::sleep(Duration::from_millis(300));
    let mut uac = Sipp::client(caller, r.udp);
    uac.service = Some(service.into());
    uac.calls = calls;
    let out = uac.run();
    (out, uas.wait(Duration::from_secs(10)))
}

fn challenge(password: &str) -> Scenario {
    Scenario::File(
        "uas_auth_challenge.xml",
        vec![
            ("USER", "trunk".to_string()),
            ("PASSWORD", password.to_string()),
        ],
    )
}

#[test]
fn a_carriers_challenge_is_answered_from_the_failure_route() {
    let _load = sipp_lock();
    let port = free_port();
    let r = probe_to(
        port,
        &[
            ("uac_realm", "carrier.test"),
            ("uac_user", "trunk"),
            ("uac_password", "trunk-secret"),
        ],
    );
    let (caller, carrier) = calls_through(
        &r,
        port,
        Scenario::File("uac_rr.xml", vec![]),
        challenge("trunk-secret"),
        "carrier",
        3,
    );
    assert_calls("carrier (credentials checked by SIPp)", &carrier, 3);
    // the caller never sees the 401: its calls just connect
    assert_calls("callers", &caller, 3);

    // wrong credentials: the carrier refuses, and its 403 reaches the caller
    let (caller, _) = calls_through(
        &r,
        port,
        Scenario::File("uac_rr.xml", vec![]),
        challenge("another-secret"),
        "carrier",
        1,
    );
    assert_eq!(
        (caller.successful_calls, caller.failed_calls),
        (0, 1),
        "{}",
        caller.output
    );
    // credentials for another realm: the carrier's challenge is not answered (no digest
    // of the password for a realm the next hop chose), its 401 reaches the caller
    let port = free_port();
    let r = probe_to(
        port,
        &[
            ("uac_realm", "other.test"),
            ("uac_user", "trunk"),
            ("uac_password", "trunk-secret"),
        ],
    );
    let mut uas = Sipp::server(challenge("trunk-secret"), port);
    uas.calls = 1;
    let uas = uas.spawn();
    std::thread::sleep(Duration::from_millis(300));
    let mut uac = Sipp::client(Scenario::File("uac_rr.xml", vec![]), r.udp);
    uac.service = Some("carrier".into());
    uac.calls = 1;
    let out = uac.run();
    assert_eq!(out.successful_calls, 0, "{}", out.output);
    assert!(out.output.contains("401 Unauthorized"), "{}", out.output);
    uas.stop(Duration::from_secs(5));
}

#[test]
fn a_replaced_from_is_restored_in_replies_and_in_the_dialog_both_ways() {
    let _load = sipp_lock();
    let port = free_port();
    let r = probe_to(port, &[]);
    let (caller, callee) = calls_through(
        &r,
        port,
        Scenario::File("uac_anon.xml", vec![]),
        Scenario::File("uas_anon.xml", vec![]),
        "anon",
        3,
    );
    // the callee saw Anonymous and got its BYE's 200 with the To it knows; the caller got
    // its own From in the 200 and its own URI in the callee's BYE
    assert_calls("callee", &callee, 3);
    assert_calls("callers", &caller, 3);
}

#[test]
fn a_retransmitted_2xx_comes_back_restored_too() {
    // the callee's 200 comes twice (its ACK lost, say): the copy the transaction forwards
    // as it is must carry the caller's own From as the first did
    let uas = FakeUas::new();
    let r = probe_to(uas.addr.port(), &[]);
    let caller = UdpClient::new(r.udp);
    let invite = request("INVITE", "anon", r.udp, caller.local(), "UDP", "");
    caller.send(invite.as_bytes());
    let (req, from) = uas
        .recv_request(Duration::from_secs(3))
        .expect("the INVITE relayed");
    assert!(
        hdr(&req, "From")
            .unwrap()
            .contains("anonymous@anonymous.invalid"),
        "{req:?}"
    );
    uas.respond(&req, from, 200, "OK", "callee");
    let first = caller.final_reply(Duration::from_secs(3)).expect("the 200");
    uas.respond(&req, from, 200, "OK", "callee");
    let again = caller
        .final_reply(Duration::from_secs(3))
        .expect("the 200 again");
    for reply in [&first, &again] {
        assert_eq!(reply.status(), Some(200));
        let from = hdr(reply, "From").unwrap();
        assert!(from.contains("sip:tester@"), "{from}");
        assert!(!from.contains("anonymous"), "{from}");
    }
    assert_eq!(first.as_bytes(), again.as_bytes());
}

#[test]
fn the_router_sends_requests_of_its_own() {
    let r = TestRouter::start("probe");
    let client = UdpClient::new(r.udp);
    let uas = FakeUas::new();
    let reply = client
        .ask(
            "OPTIONS",
            "uacsend",
            &format!(
                "X-Send-To: {}\r\nX-Send-Body: hello from the router\r\n",
                uas.uri("bob")
            ),
        )
        .expect("a reply");
    assert_eq!(hdr(&reply, "X-Result").as_deref(), Some("Ok(())"));
    let (msg, _) = uas
        .recv_request(Duration::from_secs(3))
        .expect("the router's MESSAGE");
    assert_eq!(msg.method(), sipwasm_proto::Method::Message);
    assert_eq!(msg.body(), b"hello from the router");
    assert_eq!(msg.content_length(), Some(21));
    assert!(msg.from().tag(msg.as_bytes()).is_some());
    assert_eq!(msg.top_via().port, Some(r.udp.port()));
    // unanswered over UDP, it comes again after T1 (the same request)
    let (again, from) = uas
        .recv_request(Duration::from_secs(2))
        .expect("the MESSAGE sent again");
    assert_eq!(again.call_id(), msg.call_id());
    assert_eq!(again.as_bytes(), msg.as_bytes());
    // answered, it stops
    uas.respond(&again, from, 202, "Accepted", "uas");
    let more = uas.collect(Duration::from_millis(2500));
    assert!(more.is_empty(), "{more:?}");
    // nowhere to go: an error, not a crash
    let reply = client
        .ask(
            "OPTIONS",
            "uacsend",
            "X-Send-To: sip:bob@nowhere.invalid\r\n",
        )
        .expect("a reply");
    assert!(
        hdr(&reply, "X-Result").unwrap().contains("Unreachable"),
        "{reply:?}"
    );
}

#[test]
fn siputils_checks_and_conversions() {
    let r = TestRouter::start("probe");
    let client = UdpClient::new(r.udp);
    let reply = client
        .ask(
            "OPTIONS",
            "siputils",
            "X-Number: +4930123456\r\nX-Tel: tel:+1-201-555-0123\r\n",
        )
        .expect("a reply");
    assert_eq!(hdr(&reply, "X-E164").as_deref(), Some("true"));
    assert_eq!(hdr(&reply, "X-Uri-E164").as_deref(), Some("true"));
    assert_eq!(
        hdr(&reply, "X-Tel2sip").as_deref(),
        Some("Ok(Some(\"sip:+12015550123@gw.example.com;user=phone\"))")
    );
    assert_eq!(hdr(&reply, "X-Uri-Param").as_deref(), Some("false true"));
    assert!(hdr(&reply, "X-Ruri").unwrap().ends_with(";x=1"));
    assert_eq!(hdr(&reply, "X-Is-User").as_deref(), Some("false"));
    let reply = client
        .ask(
            "OPTIONS",
            "siputils",
            "X-Number: 030123456\r\nX-Tel: sip:a@b\r\n",
        )
        .expect("a reply");
    assert_eq!(hdr(&reply, "X-E164").as_deref(), Some("false"));
    assert_eq!(hdr(&reply, "X-Tel2sip").as_deref(), Some("Ok(None)"));
}
