//! Pseudo-variable names, transformations and xlog templates: the first line is parsed as
//! a spec (and a template) and read from a message; the rest is the value written to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipwasm_fuzz::{new_config, parse, source};
use sipwasm_routing::pv::{self, PvSpec};
use sipwasm_routing::{RouteContext, Value};
use std::sync::OnceLock;

const MESSAGE: &[u8] = include_bytes!("../seeds/pv-message.sip");

fn message() -> &'static sipwasm_proto::SipMessage {
    static MSG: OnceLock<sipwasm_proto::SipMessage> = OnceLock::new();
    MSG.get_or_init(|| parse(MESSAGE).expect("the fixed message parses"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (spec, value) = text.split_once('\n').unwrap_or((text, ""));
    let mut ctx = RouteContext::new(new_config(), message().clone(), source(), 1_000_000);
    if let Ok(parts) = pv::parse_template(spec) {
        let _ = ctx.format(&parts);
    }
    let Ok(spec) = PvSpec::parse(spec) else {
        return;
    };
    let _ = ctx.pv_get(&spec);
    if spec.name.is_writable() {
        let _ = ctx.pv_set(&spec, Value::from(value));
        let _ = ctx.pv_get(&spec);
        let _ = ctx.forward(Some("sip:10.0.0.2"));
        sipwasm_fuzz::check_outbound(ctx.take_outbound(), "a request after a pv write");
    }
});
