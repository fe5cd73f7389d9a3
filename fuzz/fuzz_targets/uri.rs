//! The URI parser and its accessors, URI and header parameters, percent-unescaping, and
//! the address-list, Via and value parsers (over the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipwasm_proto::{name_addr, uri, values, via};

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = sipwasm_proto::Uri::parse_standalone(data) {
        let _ = (
            u.user(data),
            u.password(data),
            u.host(data),
            u.port_or_default(data),
        );
        let _ = (u.headers(data), u.param(data, b"lr"), u.as_bytes(data));
        for (name, value) in uri::uri_params(u.params(data)) {
            let _ = (uri::unescape(name), value.map(uri::unescape));
        }
    }
    let _ = uri::header_params(data).count();
    let _ = uri::unescape(data);
    for angle in [false, true] {
        let mut out = Vec::new();
        if name_addr::parse_list(data, data, angle, &mut out).is_ok() {
            for na in &out {
                let _ = (na.tag(data), na.display_name(data), na.uri.host(data));
            }
        }
    }
    let _ = name_addr::parse_single(data, data);
    let mut vias = Vec::new();
    if via::parse_via_value(data, data, 0, &mut vias).is_ok() {
        for v in &vias {
            let _ = (
                v.branch(data),
                v.transport(data),
                v.host(data),
                v.param(data, b"rport"),
            );
        }
    }
    let _ = (values::parse_cseq(data, data), values::parse_decimal(data));
    let _ = (
        values::check_call_id(data),
        values::parse_max_forwards(data),
    );
    let _ = (values::parse_content_length(data), values::check_date(data));
});
