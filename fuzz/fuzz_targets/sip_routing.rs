//! What a routing plugin does with a message that parsed: pseudo-variables and
//! transformations over every header, loose routing and Record-Route, the nathelper
//! functions, the registrar, digest checks, and the request and replies the router builds
//! from it (which must parse again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipwasm_fuzz::{check_outbound, new_config, parse, read_pvs, source};
use sipwasm_routing::RouteContext;
use sipwasm_routing::auth::Realm;

fuzz_target!(|data: &[u8]| {
    let Some(msg) = parse(data) else {
        return;
    };
    let request = msg.is_request();
    let register = msg.method_text() == b"REGISTER";
    let mut ctx = RouteContext::new(new_config(), msg, source(), 1_000_000);
    read_pvs(&ctx);
    let _ = (ctx.nat_uac_test(127), ctx.has_totag());
    if !request {
        return;
    }
    let _ = ctx.auth_check("proxy.example.com", "secret", Realm::Proxy, None);
    let _ = ctx.auth_check("proxy.example.com", "secret", Realm::Www, None);
    if register {
        let _ = ctx.fix_nated_register();
        let _ = ctx.registrar_save("location");
        check_outbound(ctx.take_outbound(), "the registrar's reply");
        let _ = ctx.registrar_lookup("location");
        return;
    }
    let _ = ctx.loose_route();
    let _ = ctx.fix_nated_contact();
    let _ = ctx.add_contact_alias();
    let _ = ctx.handle_ruri_alias();
    let _ = ctx.record_route("");
    let _ = ctx.hdr_append("X-Fuzz: 1");
    read_pvs(&ctx);
    let _ = ctx.forward(Some("sip:10.0.0.2:5060"));
    check_outbound(ctx.take_outbound(), "the forwarded request");
    let _ = ctx.send_reply(404, "Not Here");
    check_outbound(ctx.take_outbound(), "a stateless reply");
});
