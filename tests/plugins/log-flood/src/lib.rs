//! Hostile test plugin: every SIP request writes 2000 log lines (log, xlog, stdout,
//! stderr) and answers 200. A request to user `huge` instead tries to add a 1 MB header
//! to the message and to its reply, then answers 200 with `X-Huge-Header:` telling how the
//! router took it (`refused` or `accepted`).

use sipwasm_sdk::{Plugin, Route, export_plugin, hdr, info, log, pv, sl};

#[derive(Default)]
struct LogFlood;

impl Plugin for LogFlood {
    fn request_route(&mut self) -> Route {
        if pv::gete("$rU")? == "huge" {
            return huge_header();
        }
        for i in 0..500 {
            info!("flood line {i}");
            let _ = log::xlog(log::Level::Warn, "flood xlog $ru $ci");
            println!("flood stdout {i}");
            eprintln!("flood stderr {i}");
        }
        sl::send_reply(200, "OK")?;
        Ok(())
    }
}

fn huge_header() -> Route {
    let huge = format!("X-Huge: {}", "h".repeat(1 << 20));
    let on_message = hdr::append(&huge);
    let on_reply = sl::append_to_reply(&huge);
    let verdict = if on_message.is_err() && on_reply.is_err() {
        "refused"
    } else {
        "accepted"
    };
    sl::append_to_reply(format!("X-Huge-Header: {verdict}\r\n"))?;
    sl::send_reply(200, "OK")?;
    Ok(())
}

export_plugin!(LogFlood);
