//! An edge proxy in front of a registrar, after the edge configuration of Kamailio's
//! `outbound` module (RFC 5626 §5, RFC 3327): phones talk to the edge, the edge keeps
//! their flows (UDP NAT bindings, TCP and TLS connections), and everything else is the
//! registrar's business.
//!
//! - a REGISTER gets a Path entry for the edge (`add_path_received`: the phone's flow
//!   token when it uses outbound, and where it registered from) and goes to the
//!   registrar, which answers it (digest authentication included);
//! - other initial requests from phones are record-routed and go to the registrar;
//! - initial requests from the registrar come back through the Path it stored: their
//!   Route is the edge's own signed Path entry, and `loose_route` sends them over the
//!   phone's flow;
//! - a phone's Contact (in its requests and its answers) gets the alias of where its
//!   packets come from, so requests of a dialog reach a phone without outbound too;
//! - requests inside a dialog follow their route set.
//!
//! Config key: `registrar` (`sip:IP:PORT[;transport=T]`), where the registrar listens.

use sipwasm_sdk::{
    Plugin, Route, config, core, export_plugin, hdr, maxfwd, nathelper, path, pv, rr, siputils, sl,
    tm, unknown_route,
};

struct OutboundEdge {
    registrar: String,
    /// `IP:PORT` of the registrar, to tell its requests from the phones'.
    registrar_addr: String,
}

impl Default for OutboundEdge {
    fn default() -> Self {
        let registrar = config::get("registrar").unwrap_or_else(|| "sip:127.0.0.1:5060".into());
        let registrar_addr = registrar
            .trim_start_matches("sip:")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        OutboundEdge {
            registrar,
            registrar_addr,
        }
    }
}

impl OutboundEdge {
    fn relay(&mut self) -> Route {
        if !core::is_method("CANCEL") {
            tm::t_on_reply("PHONE_REPLY");
        }
        if tm::t_relay().is_err() {
            sl::send_reply_error()?;
        }
        core::exit()
    }

    fn sent_by_registrar(&self) -> Result<bool, sipwasm_sdk::Stop> {
        Ok(format!("{}:{}", pv::gete("$si")?, pv::gete("$sp")?) == self.registrar_addr)
    }
}

impl Plugin for OutboundEdge {
    fn request_route(&mut self) -> Route {
        core::force_rport();
        if maxfwd::process_maxfwd(10).is_err() {
            sl::send_reply(483, "Too Many Hops")?;
            return core::exit();
        }
        let from_phone = !self.sent_by_registrar()?;
        if from_phone && !core::is_method("REGISTER") && !pv::is_null("$hdr(Contact)")? {
            // requests of the dialog towards a phone find it where its packets come from
            // (the alias, handled below when they come back), outbound or not
            let _ = nathelper::add_contact_alias();
        }
        if core::is_method("CANCEL") {
            if tm::t_check_trans() {
                return self.relay();
            }
            return core::exit();
        }
        if siputils::has_totag() {
            // a forged route set is answered 403 and `?` ends the route
            if rr::loose_route()?.is_routed() {
                if pv::is_null("$du")? {
                    // towards a phone without a flow token: where its packets come from
                    nathelper::handle_ruri_alias()?;
                }
                return self.relay();
            }
            if core::is_method("ACK") {
                // outside the route set: nobody's to relay
                return core::exit();
            }
            sl::send_reply(404, "Not here")?;
            return core::exit();
        }
        if core::is_method("ACK") {
            return core::exit();
        }
        if !from_phone {
            // towards a phone: the Route is our own Path entry, which names its flow
            rr::record_route()?;
            // only the edge's own signed Path entry may send a request to a phone: a
            // foreign or unsigned Route (or a datagram that only claims to come from the
            // registrar) goes nowhere
            if rr::loose_route()? == rr::Routed::Flow {
                return self.relay();
            }
            sl::send_reply(404, "No Flow Here")?;
            return core::exit();
        }
        // from a phone: to the registrar, with the phone's flow kept in Path or
        // Record-Route (a phone adds no Record-Route of its own: one it brings is dropped)
        hdr::remove("Route")?;
        hdr::remove("Record-Route")?;
        if core::is_method("REGISTER") {
            path::add_path_received()?;
        } else if core::is_method_in("ISF") {
            rr::record_route()?;
        }
        pv::sets("$du", &self.registrar)?;
        self.relay()
    }

    fn onreply_route(&mut self, name: &str) -> Route {
        match name {
            "PHONE_REPLY" => {
                // a phone's answer (not the registrar's): its Contact gets the alias too
                if !self.sent_by_registrar()? && !pv::is_null("$hdr(Contact)")? {
                    let _ = nathelper::add_contact_alias();
                }
                Ok(())
            }
            other => unknown_route(other),
        }
    }
}

export_plugin!(OutboundEdge);
