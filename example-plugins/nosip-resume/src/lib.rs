//! The nosip module's use case (`../shared/seeds/kamailio-nosip-module.txt`): a SIP worker
//! takes a suspended transaction back when an outside application says so, over plain UDP.
//!
//! - An INVITE is suspended (`t_suspend`, 100 Trying goes out) and the application is told
//!   with the datagram `SUSPENDED:<tindex>:<tlabel>:<call-id>` sent to `app_addr` (default
//!   `127.0.0.1:9999`; the router config must grant it in `plugin.udp_allow`).
//! - The application answers with the non-SIP packet
//!   `:KREQUEST-RESUME-TRANSACTION:<tindex>:<tlabel>:<route>:` on the SIP port. It is
//!   accepted only from `trusted` (default `127.0.0.1`; others are ignored) and resumes the
//!   transaction in `route[<route>]` (`t_continue`). Bad or stale ids are answered with
//!   `ERROR:<tindex>:<tlabel>:<why>` to the sender; the transaction then ends with 408 when
//!   its fr timer fires.
//! - `route[RESUME]` answers the INVITE 200 OK, or relays it to `next_hop` when that is set.
//!
//! The seed's config, for comparison:
//!
//! ```text
//! event_route[nosip:msg] {
//!     xlog("non-sip packet received - content [[$mb]] from [$si:$sp]\n");
//!     if($si!="127.0.0.1") { exit; }
//!     if($mb=~":KREQUEST-RESUME-TRANSACTION:[0-9]+:[0-9]+:[a-zA-Z0-9]+:$") {
//!         $var(tindex) = $(mb{s.select,1,:});
//!         $var(tlabel) = $(mb{s.select,2,:});
//!         $var(rname) = $(mb{s.select,3,:});
//!         t_continue("$var(tindex)", "$var(tlabel)", "$var(rname)");
//!     }
//!     exit;
//! }
//! ```
//!
//! The packet starts with the separator, so with Kamailio's `s.select` (and ours) field 0
//! is empty, field 1 is `KREQUEST-RESUME-TRANSACTION` and the ids are fields 2 and 3: the
//! seed's indices are off by one, and this port uses 2, 3 and 4.

use sipwasm_sdk::{
    Plugin, Route, config, core, export_plugin, info, log, maxfwd, net, nosip, pv, rr, sl, tm,
    unknown_route, warn,
};

struct NosipResume {
    app_addr: String,
    trusted: String,
    next_hop: Option<String>,
}

impl Default for NosipResume {
    fn default() -> Self {
        NosipResume {
            app_addr: config::get("app_addr").unwrap_or_else(|| "127.0.0.1:9999".into()),
            trusted: config::get("trusted").unwrap_or_else(|| "127.0.0.1".into()),
            next_hop: config::get("next_hop").filter(|h| !h.is_empty()),
        }
    }
}

/// True for `:KREQUEST-RESUME-TRANSACTION:<digits>:<digits>:<alnum>:` and nothing else
/// (the seed's regular expression, anchored at the end).
fn is_resume_request(mb: &str) -> bool {
    let Some(rest) = mb
        .find(":KREQUEST-RESUME-TRANSACTION:")
        .map(|at| &mb[at + ":KREQUEST-RESUME-TRANSACTION:".len()..])
    else {
        return false;
    };
    let Some(fields) = rest.strip_suffix(':') else {
        return false;
    };
    let parts: Vec<&str> = fields.split(':').collect();
    parts.len() == 3
        && parts[..2]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        && !parts[2].is_empty()
        && parts[2].bytes().all(|c| c.is_ascii_alphanumeric())
}

impl NosipResume {
    fn relay_mode(&self) -> bool {
        self.next_hop.is_some()
    }
}

impl Plugin for NosipResume {
    fn request_route(&mut self) -> Route {
        if maxfwd::process_maxfwd(10).is_err() {
            sl::send_reply(483, "Too Many Hops")?;
            return core::exit();
        }
        if !pv::is_null("$tt")? {
            // within a dialog
            if rr::loose_route()?.is_routed() {
                if tm::t_relay().is_err() {
                    sl::send_reply(500, "Server error")?;
                }
                return core::exit();
            }
            if let Some(hop) = &self.next_hop {
                // a caller that ignores Record-Route (SIPp's built-in uac does): the
                // dialog's other end is behind the next hop
                pv::sets("$du", hop)?;
                if tm::t_relay().is_err() {
                    sl::send_reply(500, "Server error")?;
                }
                return core::exit();
            }
            if core::is_method("ACK") {
                // the ACK of our own 200 OK ends here
                return core::exit();
            }
            if core::is_method("BYE") {
                // we answered the call, we end it
                sl::send_reply(200, "OK")?;
                return core::exit();
            }
            sl::send_reply(404, "Not here")?;
            return core::exit();
        }
        if core::is_method("CANCEL") {
            // cancels the suspended INVITE: it gets 487, the CANCEL 200
            if tm::t_check_trans() {
                tm::t_relay()?;
            } else {
                sl::send_reply(481, "Call/Transaction Does Not Exist")?;
            }
            return core::exit();
        }
        if core::is_method("ACK") {
            return core::exit();
        }
        if !core::is_method("INVITE") {
            sl::send_reply(405, "Method Not Allowed")?;
            return core::exit();
        }
        if self.relay_mode() {
            rr::record_route()?;
        }
        let (index, label) = tm::t_suspend()?;
        let call_id = pv::gete("$ci")?;
        net::send_udp(
            &self.app_addr,
            format!("SUSPENDED:{index}:{label}:{call_id}"),
        )?;
        info!("INVITE {call_id} suspended as {index}:{label}");
        core::exit()
    }

    fn route(&mut self, name: &str) -> Route {
        match name {
            "RESUME" => {
                info!(
                    "resumed {}:{} ({})",
                    pv::gete("$T(id_index)")?,
                    pv::gete("$T(id_label)")?,
                    pv::gete("$ci")?
                );
                match &self.next_hop {
                    Some(hop) => {
                        pv::sets("$du", hop)?;
                        if let Err(e) = tm::t_relay() {
                            warn!("relay to {hop} failed: {e:?}");
                            tm::t_reply(500, "Server error")?;
                        }
                    }
                    None => {
                        let contact = pv::format("Contact: <sip:$Ri:$Rp>\r\n")?;
                        sl::append_to_reply(contact)?;
                        tm::t_reply(200, "OK")?;
                    }
                }
                core::exit()
            }
            other => unknown_route(other),
        }
    }

    fn nosip_msg(&mut self) -> Route {
        log::xlog(
            log::Level::Info,
            "non-sip packet received - content [[$mb]] from [$si:$sp]",
        )?;
        // must be a trusted IP
        if pv::gete("$si")? != self.trusted {
            return core::exit();
        }
        // validation of the format and resume transaction
        let mb = pv::gete("$mb")?;
        if !is_resume_request(mb.trim_end_matches(['\r', '\n'])) {
            return core::exit();
        }
        let tindex = pv::gete("$(mb{s.select,2,:})")?;
        let tlabel = pv::gete("$(mb{s.select,3,:})")?;
        let rname = pv::gete("$(mb{s.select,4,:})")?;
        let (Ok(index), Ok(label)) = (tindex.parse::<u32>(), tlabel.parse::<u32>()) else {
            nosip::reply(format!("ERROR:{tindex}:{tlabel}:ids out of range\n"))?;
            return core::exit();
        };
        if let Err(e) = tm::t_continue(index, label, &rname) {
            warn!("t_continue({index}, {label}, {rname}) failed: {e:?}");
            nosip::reply(format!("ERROR:{index}:{label}:{e:?}\n"))?;
        }
        core::exit()
    }
}

export_plugin!(NosipResume);

#[cfg(test)]
mod tests {
    use super::is_resume_request;

    #[test]
    fn resume_request_format() {
        assert!(is_resume_request(
            ":KREQUEST-RESUME-TRANSACTION:4242:8686:RESUME:"
        ));
        assert!(!is_resume_request(
            ":KREQUEST-RESUME-TRANSACTION:4242:8686:RESUME"
        ));
        assert!(!is_resume_request(
            ":KREQUEST-RESUME-TRANSACTION:42x:8686:RESUME:"
        ));
        assert!(!is_resume_request(
            ":KREQUEST-RESUME-TRANSACTION:1:2:RE SUME:"
        ));
        assert!(!is_resume_request(":KREQUEST-RESUME-TRANSACTION:1:2:3:4:"));
        assert!(!is_resume_request("GET / HTTP/1.0"));
    }
}
