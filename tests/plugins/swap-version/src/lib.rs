//! Test plugin for hot swap: its version lives in a marker the tests patch in the
//! `.wasm` file (same length, so the component stays valid), which gives as many distinct
//! versions as needed from one build.
//!
//! - OPTIONS: answered 200 with `X-Version: <version>`.
//! - Every other request: `$avp(v)` = version, then relayed statefully to config
//!   `next_hop` (default `sip:127.0.0.1:5080`) with onreply route `MARK`, which adds
//!   `X-Version: <version running the onreply route>` and
//!   `X-Req-Version: <version that ran the request route>` to each reply. With version
//!   pinning the two are always equal.
//! - Version `v0009` alone answers MESSAGE itself, 488 Not Acceptable Here (a version
//!   that differs from the others on one method, for shadow roll-outs).
//! - Self-test: fails when the marker says `st=no`.

use sipwasm_sdk::{Plugin, Route, config, export_plugin, hdr, pv, sl, tm, unknown_route};

/// Patched by the tests. Layout: `version=vNNNN;st=ok;` or `st=no`.
#[used]
static MARKER: [u8; 40] = *b"sipwasm-swap-marker:version=v0001;st=ok;";

fn marker() -> &'static str {
    // opaque to the optimiser: the bytes are read from the data segment at run time
    let bytes: &'static [u8; 40] = std::hint::black_box(&MARKER);
    std::str::from_utf8(bytes).unwrap_or("")
}

fn version() -> &'static str {
    let m = marker();
    m.split("version=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or("unknown")
}

struct SwapVersion {
    next_hop: String,
}

impl Default for SwapVersion {
    fn default() -> Self {
        SwapVersion {
            next_hop: config::get("next_hop").unwrap_or_else(|| "sip:127.0.0.1:5080".into()),
        }
    }
}

impl Plugin for SwapVersion {
    fn request_route(&mut self) -> Route {
        if sipwasm_sdk::core::is_method("OPTIONS") {
            sl::append_to_reply(format!("X-Version: {}\r\n", version()))?;
            sl::send_reply(200, "OK")?;
            return Ok(());
        }
        if version() == "v0009" && sipwasm_sdk::core::is_method("MESSAGE") {
            sl::send_reply(488, "Not Acceptable Here")?;
            return Ok(());
        }
        pv::sets("$avp(v)", version())?;
        pv::sets("$du", &self.next_hop)?;
        tm::t_on_reply("MARK");
        if tm::t_relay().is_err() {
            sl::send_reply(500, "Server error")?;
        }
        Ok(())
    }

    fn onreply_route(&mut self, name: &str) -> Route {
        match name {
            "MARK" => {
                let requested = pv::gete("$avp(v)")?;
                hdr::append(format!(
                    "X-Version: {}\r\nX-Req-Version: {requested}\r\n",
                    version()
                ))?;
                Ok(())
            }
            other => unknown_route(other),
        }
    }

    fn self_test(&mut self) -> Result<(), String> {
        if marker().contains("st=no") {
            return Err(format!("version {} refuses to serve (st=no)", version()));
        }
        Ok(())
    }
}

export_plugin!(SwapVersion);
