//! Answers every request with 200 OK whose headers are built from the request with
//! pseudo-variables and transformations, and shows header lumps on the request.
//!
//! | reply header          | from                                   |
//! |-----------------------|----------------------------------------|
//! | `X-Caller`            | `$fU`                                  |
//! | `X-Callid-Len`        | `$(ci{s.len})`                         |
//! | `X-Ruri-User-Upper`   | `$(ru{uri.user}{s.toupper})`           |
//! | `X-Source`            | `$si:$sp` over `$pr`                   |
//! | `X-From-Tag`          | `$(hdr(From){tobody.tag})`             |
//! | `X-Via-Count`         | `$hdrc(Via)`                           |
//! | `X-Echo`              | `$hdr(X-Echo)`, when the request has it |
//! | `X-Lumps`             | what the header lumps did to the request |

use sipwasm_sdk::{Plugin, Route, core, export_plugin, hdr, log, pv, sl};

#[derive(Default)]
struct HeadersDemo {
    /// Requests answered by this instance: plugin state lives across messages.
    served: u64,
}

impl Plugin for HeadersDemo {
    fn request_route(&mut self) -> Route {
        if core::is_method("ACK") {
            return core::exit();
        }
        self.served += 1;
        pv::seti("$var(served)", self.served as i64)?;
        let headers = pv::format(
            "X-Caller: $fU\r\n\
             X-Callid-Len: $(ci{s.len})\r\n\
             X-Ruri-User-Upper: $(ru{uri.user}{s.toupper})\r\n\
             X-Source: $si:$sp over $pr\r\n\
             X-From-Tag: $(hdr(From){tobody.tag})\r\n\
             X-Via-Count: $hdrc(Via)\r\n\
             X-Served: $var(served)\r\n",
        )?;
        sl::append_to_reply(headers)?;
        if let Some(echo) = hdr::get("X-Echo") {
            sl::append_to_reply(format!("X-Echo: {echo}\r\n"))?;
        }
        // Header lumps on the request: recorded now, applied when the request is sent on.
        // The received message is unchanged, as in Kamailio.
        hdr::append("X-Demo: appended\r\n")?;
        let removed = hdr::remove("X-Remove-Me")?;
        let still_present = hdr::is_present("X-Remove-Me");
        sl::append_to_reply(format!(
            "X-Lumps: removed={removed} still-present-until-sent={still_present}\r\n"
        ))?;
        log::xlog(log::Level::Info, "headers-demo: $rm from $fU ($si:$sp)")?;
        sl::send_reply(200, "OK")?;
        core::exit()
    }
}

export_plugin!(HeadersDemo);
