//! The state of one routing event: the message, where it came from, and everything the
//! plugin reads or changes while its route runs. What the plugin can do with it is in the
//! modules named after the WIT interfaces (`sl`, `hdr`, `core`, `pv`, `rr`, `tm` ...).

use crate::env::{ConnId, Listener, LocalConfig, Source, split_host_port};
use crate::lumps::Lumps;
use crate::value::Value;
use sipwasm_proto::SipMessage;
pub use sipwasm_proto::Transmit;
use std::sync::Arc;

/// The state of one routing event.
///
/// Cloning is cheap enough to keep a request route's state with its transaction, for the
/// failure and onreply routes that run later (the message bytes are shared).
#[derive(Debug, Clone)]
pub struct RouteContext {
    pub(crate) config: Arc<LocalConfig>,
    pub(crate) msg: SipMessage,
    pub(crate) source: Source,
    pub(crate) now_unix: u64,
    pub(crate) flags: u32,
    pub(crate) vars: Vec<(String, Value)>,
    pub(crate) avps: Vec<(String, Value)>,
    pub(crate) new_ruri: Option<String>,
    pub(crate) dst_uri: Option<String>,
    /// The branch set besides the main branch (`append_branch`, registrar lookup).
    pub(crate) branches: Vec<crate::branch::target::Branch>,
    /// Path of the main branch: a Route set put in front of the request when it goes out
    /// (a binding's Path, RFC 3327).
    pub(crate) path: Vec<String>,
    /// `$fs`: the socket the main branch leaves from.
    pub(crate) force_socket: Option<Listener>,
    /// The connection the main branch goes out on while it is open (a registered flow).
    pub(crate) conn: Option<ConnId>,
    /// The main branch must not open a new connection (a UA behind NAT on a stream).
    pub(crate) no_connect: bool,
    /// q value of the main branch (set by `lookup`).
    pub(crate) ruri_q: Option<crate::branch::target::Q>,
    /// The main branch was not relayed yet, or got a new Request-URI or `$du` since
    /// (Kamailio's `ruri_is_new`).
    pub(crate) ruri_new: bool,
    /// Contacts loaded for serial forking (`t_load_contacts`), highest q first.
    pub(crate) contacts: Vec<crate::branch::target::Branch>,
    pub(crate) lumps: Lumps,
    pub(crate) reply_lumps: Vec<Vec<u8>>,
    /// What `uac` replaced, the Record-Route seals and `uac_auth`'s credentials.
    pub(crate) uac: crate::uac::UacState,
    /// `set_reply_body`: the body (and its Content-Type) of the replies this event sends.
    pub(crate) reply_body: Option<(String, Vec<u8>)>,
    pub(crate) outbound: Vec<Transmit>,
    pub(crate) last_error: Option<(u16, &'static str)>,
    pub(crate) drop: bool,
    pub(crate) final_replied: bool,
    pub(crate) record_route: Option<crate::rr::uri::RecordRoute>,
    /// `loose_route` refused the request (403 sent): it is not relayed or forwarded.
    pub(crate) refused: bool,
    /// `force_rport`: the sender's Via gets `rport` and replies go to its source port.
    pub(crate) force_rport: bool,
    /// `set_advertised_address` / `set_advertised_port`: what goes into our Via and the
    /// outgoing side's Record-Route instead of the socket's address.
    pub(crate) advertised: (Option<String>, Option<u16>),
    /// Connections that must stay open at least this many seconds (a registration over
    /// them), for the router to apply when the event ends.
    pub(crate) keep_flows: Vec<(ConnId, u64)>,
    /// A nathelper function changed the Contact (a second change is refused).
    pub(crate) contact_changed: bool,
    /// The Contact URI as it goes out after such a change.
    pub(crate) contact_out: Option<String>,
    /// What `loose_route` learnt checking this in-dialog request against its dialog: who
    /// sent it (for target refreshes) and where it may go (see [`RouteContext::may_reach`]).
    pub(crate) dialog: Option<crate::dialog::table::Checked>,
    /// `loose_route` sent the request to the next Route, a proxy: its replies come from
    /// that proxy (kept for the onreply route, which sees the reply).
    pub(crate) to_route_proxy: bool,
    /// `fix_nated_register`: the registrar keeps the source address as `received`.
    pub(crate) nated_register: bool,
    /// `add_path`: a Path entry for this router goes into the forwarded REGISTER.
    pub(crate) add_path: Option<crate::rr::uri::AddPath>,
    pub(crate) maxfwd_done: bool,
    pub(crate) tm: crate::tm::state::TmState,
    pub(crate) tx: Option<crate::tm::state::TxInfo>,
    pub(crate) intents: Vec<crate::tm::state::TmIntent>,
    /// Username and realm of the credentials checked by `auth` (`$au`, `$ar`).
    pub(crate) auth_user: Option<(String, String)>,
    /// This request's credentials went through the guard (checked, or counted when
    /// challenged unchecked): once per event.
    pub(crate) auth_noted: bool,
    /// The calls this request counts (`limit-calls`), settled by its transaction.
    pub(crate) calls: Vec<Arc<crate::dialog::CallTicket>>,
    /// The plugin changed header lines (`hdr`): what goes out must be checked again.
    pub(crate) header_edits: bool,
    /// Who the event runs for (see [`crate::Caller`]).
    pub(crate) caller: Option<crate::Caller>,
}

impl RouteContext {
    /// The context for `msg` received as described by `source`, at `now_unix` seconds.
    pub fn new(config: Arc<LocalConfig>, msg: SipMessage, source: Source, now_unix: u64) -> Self {
        RouteContext {
            config,
            msg,
            source,
            now_unix,
            flags: 0,
            vars: Vec::new(),
            avps: Vec::new(),
            new_ruri: None,
            dst_uri: None,
            branches: Vec::new(),
            path: Vec::new(),
            force_socket: None,
            conn: None,
            no_connect: false,
            ruri_q: None,
            ruri_new: true,
            contacts: Vec::new(),
            lumps: Lumps::default(),
            reply_lumps: Vec::new(),
            reply_body: None,
            uac: crate::uac::UacState::default(),
            outbound: Vec::new(),
            last_error: None,
            drop: false,
            final_replied: false,
            record_route: None,
            refused: false,
            force_rport: false,
            advertised: (None, None),
            keep_flows: Vec::new(),
            contact_changed: false,
            contact_out: None,
            dialog: None,
            to_route_proxy: false,
            nated_register: false,
            add_path: None,
            maxfwd_done: false,
            tm: crate::tm::state::TmState::default(),
            tx: None,
            intents: Vec::new(),
            auth_user: None,
            auth_noted: false,
            calls: Vec::new(),
            header_edits: false,
            caller: None,
        }
    }

    /// Run the event for `caller` (the router sets it before each route).
    pub fn set_caller(&mut self, caller: crate::Caller) {
        self.caller = Some(caller);
    }

    /// Who the event runs for.
    pub fn caller(&self) -> Option<&crate::Caller> {
        self.caller.as_ref()
    }

    /// `host:port` of `listener` in what this request sends out (our Via, the outgoing
    /// Record-Route): `set_advertised_address` / `set_advertised_port` when the route
    /// called them, else the listener's advertised or bound address.
    pub fn sent_by(&self, listener: &Listener) -> std::borrow::Cow<'_, str> {
        match &self.advertised {
            (None, None) => self.config.sent_by(listener),
            (host, port) => {
                let base = self.config.sent_by(listener);
                let (base_host, base_port) = split_host_port(&base);
                let host = host.as_deref().unwrap_or(base_host);
                let port = port.map_or_else(|| base_port.to_string(), |p| p.to_string());
                format!("{host}:{port}").into()
            }
        }
    }

    /// Keep connection `conn` open at least `secs` seconds (it carries a registration).
    pub fn keep_flow(&mut self, conn: ConnId, secs: u64) {
        match self.keep_flows.iter_mut().find(|(c, _)| *c == conn) {
            Some(entry) => entry.1 = entry.1.max(secs),
            None => self.keep_flows.push((conn, secs)),
        }
    }

    /// Take the connections to keep open ([`Self::keep_flow`]).
    pub fn take_keep_flows(&mut self) -> Vec<(ConnId, u64)> {
        std::mem::take(&mut self.keep_flows)
    }

    /// The message as received.
    pub fn msg(&self) -> &SipMessage {
        &self.msg
    }

    /// Where it came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Router-wide configuration.
    pub fn config(&self) -> &Arc<LocalConfig> {
        &self.config
    }

    /// Header lumps recorded so far.
    pub fn lumps(&self) -> &Lumps {
        &self.lumps
    }

    /// True when the plugin changed header lines with `hdr`: the host's own changes
    /// (Via, Max-Forwards, Record-Route, a validated Request-URI) always keep a request
    /// well-formed, the plugin's may not (a second CSeq, say).
    pub fn has_header_edits(&self) -> bool {
        self.header_edits
    }

    /// The message with its lumps applied: what would be sent on.
    pub fn rendered(&self) -> Vec<u8> {
        self.lumps.apply(self.msg.as_bytes())
    }

    /// True when `set-drop` was called.
    pub fn is_dropped(&self) -> bool {
        self.drop
    }

    /// True when a final (>= 200) reply was sent for this request.
    pub fn final_replied(&self) -> bool {
        self.final_replied
    }

    /// The Request-URI after changes (`$ru`), or `None` for a reply.
    pub fn current_ruri(&self) -> Option<String> {
        match &self.new_ruri {
            Some(u) => Some(u.clone()),
            None => self
                .msg
                .request_uri()
                .map(|u| String::from_utf8_lossy(u.as_bytes(self.msg.as_bytes())).into_owned()),
        }
    }

    /// `$du`, when set.
    pub fn dst_uri(&self) -> Option<&str> {
        self.dst_uri.as_deref()
    }

    /// Messages queued for sending after the event (`net.send-udp` adds to them).
    pub fn outbound_mut(&mut self) -> &mut Vec<Transmit> {
        &mut self.outbound
    }

    /// Take what the event wants sent.
    pub fn take_outbound(&mut self) -> Vec<Transmit> {
        std::mem::take(&mut self.outbound)
    }

    /// Messages queued for sending so far.
    pub fn outbound(&self) -> &[Transmit] {
        &self.outbound
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A request, an identity and a context over them, for the tests of the modules
    //! that work on a [`RouteContext`].
    pub(crate) use super::*;
    pub(crate) use crate::env::{Alias, Listener, LocalConfig, Source};
    pub(crate) use crate::pv::PvSpec;
    pub(crate) use crate::value::Value;
    pub(crate) use bytes::Bytes;
    pub(crate) use sipwasm_proto::{SipMessage, Transport};
    pub(crate) use std::sync::Arc;

    pub(crate) const REQ: &str = "INVITE sip:bob@example.com:5080;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\n\
From: \"Alice A\" <sip:alice@atlanta.example.com>;tag=f1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: cid-123@h\r\n\
CSeq: 7 INVITE\r\n\
User-Agent: test-ua\r\n\
X-Multi: a\r\n\
X-Multi: b\r\n\
Content-Type: text/plain\r\n\
Content-Length: 11\r\n\r\n\
one:two:six";

    pub(crate) fn cfg() -> Arc<LocalConfig> {
        Arc::new(LocalConfig::new(
            vec![Listener {
                transport: Transport::Udp,
                addr: "127.0.0.1:5060".parse().unwrap(),
            }],
            vec![Alias {
                host: "example.com".into(),
                port: None,
            }],
            Some("sipwasm-test".into()),
        ))
    }

    pub(crate) fn ctx() -> RouteContext {
        let msg = SipMessage::parse(Bytes::from_static(REQ.as_bytes())).unwrap();
        RouteContext::new(
            cfg(),
            msg,
            Source {
                transport: Transport::Udp,
                src: "10.0.0.1:5070".parse().unwrap(),
                local: "127.0.0.1:5060".parse().unwrap(),
                conn: None,
            },
            1_700_000_000,
        )
    }

    pub(crate) fn get(c: &RouteContext, name: &str) -> Value {
        c.pv_get(&PvSpec::parse(name).unwrap()).unwrap()
    }

    pub(crate) fn s(x: &str) -> Value {
        Value::from(x)
    }
}
