//! The state of one routing event: the message, where it came from, and everything the
//! plugin reads or changes while its route runs.

use crate::lumps::{HdrError, Lumps, check_header_lines};
use crate::pv::{PvError, PvIndex, PvName, PvSpec, TemplatePart};
use crate::services::{NextHop, Services, StaticServices};
use crate::value::Value;
use bytes::Bytes;
pub use sipwasm_proto::Transmit;
use sipwasm_proto::reply::{
    ReplyBuilder, ReplyInfo, parse_host_ip, response_target, response_target_rport,
};
use sipwasm_proto::uri::{Scheme, Uri};
use sipwasm_proto::{HeaderName, Method, SipMessage, Transport};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;

/// Identifies a TCP/TLS connection of the transport layer.
pub type ConnId = u64;

/// A local listening address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Transport.
    pub transport: Transport,
    /// Bound address.
    pub addr: SocketAddr,
}

/// A domain (and optional port) the router answers for besides its addresses
/// (Kamailio's `alias`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// Lower-case host name or IP.
    pub host: String,
    /// Port, or any port when `None`.
    pub port: Option<u16>,
}

/// Router-wide facts and services a route needs: its own addresses and aliases, how it
/// signs replies, name resolution, the location table and digest-auth state.
pub struct LocalConfig {
    listeners: Vec<Listener>,
    /// The `host:port` each listener puts in Via and Record-Route: its `advertise`d
    /// address (NAT, `0.0.0.0`), else the bound one; written once, not per message.
    sent_by: Vec<(Listener, String)>,
    aliases: Vec<Alias>,
    server_header: Option<String>,
    tag_prefix: String,
    tag_keys: RandomState,
    services: Arc<dyn Services>,
    /// The registrar's location tables.
    pub location: crate::registrar::Location,
    /// Nonces of the digest authentication.
    pub auth: crate::auth::AuthState,
    /// Shared tables (`htable`).
    pub htables: crate::htable::Htables,
    /// The dialogs this router record-routed.
    pub dialogs: crate::dialog::Dialogs,
    /// MSRP frames are seen as SIP-like requests (the msrp module's `sipmsg`).
    msrp_sipmsg: bool,
    /// Key of the signatures on the Record-Route and Path URIs this router issues.
    secret: [u8; 32],
    /// Sources whose REGISTERs may carry a Path of another make (`[registrar] path_from`).
    path_from: Vec<std::net::IpAddr>,
    /// Proxies whose Contacts and Record-Routes make a dialog's next hop
    /// (`[router] trusted_peers`).
    trusted_peers: Vec<ipnet::IpNet>,
    /// Call-ID prefix of this router's NAT pings, whose answers are absorbed.
    pub(crate) ping_prefix: String,
}

impl std::fmt::Debug for LocalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConfig")
            .field("listeners", &self.listeners)
            .field("aliases", &self.aliases)
            .field("server_header", &self.server_header)
            .finish_non_exhaustive()
    }
}

impl LocalConfig {
    /// A new identity. The to-tag prefix is random per process, so ACKs for this process's
    /// stateless replies are recognised (and absorbed) without keeping state.
    pub fn new(
        listeners: Vec<Listener>,
        aliases: Vec<Alias>,
        server_header: Option<String>,
    ) -> Self {
        let tag_keys = RandomState::new();
        let tag_prefix = format!("{:08x}", tag_keys.hash_one("sipwasm-tag-prefix") as u32);
        let sent_by = listeners
            .iter()
            .map(|l| (*l, crate::forward::host_text(l.addr)))
            .collect();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the OS random source works");
        LocalConfig {
            listeners,
            sent_by,
            aliases,
            server_header,
            tag_prefix,
            tag_keys,
            services: Arc::new(StaticServices),
            location: crate::registrar::Location::default(),
            auth: crate::auth::AuthState::new(),
            htables: crate::htable::Htables::default(),
            dialogs: crate::dialog::Dialogs::default(),
            msrp_sipmsg: true,
            secret,
            path_from: Vec::new(),
            trusted_peers: Vec::new(),
            ping_prefix: String::new(),
        }
        .with_ping_prefix()
    }

    /// Sign what this router issues (Record-Route and Path URIs) with a key derived from
    /// `secret` (`[router] secret`), so that dialogs survive a restart and several routers
    /// of one deployment accept each other's. Without it the key is random per process.
    pub fn with_secret(mut self, secret: &[u8]) -> Self {
        self.secret = derive_key(b"sipwasm-router", secret);
        self
    }

    fn with_ping_prefix(mut self) -> Self {
        self.ping_prefix = format!("natping.{}.", self.to_tag_from("natping"));
        self
    }

    /// Keep the Path of REGISTERs from these addresses too (edge proxies of another make).
    pub fn with_path_from(mut self, sources: Vec<std::net::IpAddr>) -> Self {
        self.path_from = sources;
        self
    }

    /// See [`Self::with_path_from`].
    pub fn path_from(&self) -> &[std::net::IpAddr] {
        &self.path_from
    }

    /// Proxies next to this router that may not record-route (`[router] trusted_peers`):
    /// see [`crate::dialog`].
    pub fn with_trusted_peers(mut self, peers: Vec<ipnet::IpNet>) -> Self {
        self.trusted_peers = peers;
        self
    }

    /// True when `ip` is one of [`Self::with_trusted_peers`].
    pub fn is_trusted_peer(&self, ip: std::net::IpAddr) -> bool {
        self.trusted_peers.iter().any(|n| n.contains(&ip))
    }

    /// [`Self::with_secret`] when a secret is given.
    pub fn with_secret_opt(self, secret: Option<&str>) -> Self {
        match secret {
            Some(s) => self.with_secret(s.as_bytes()),
            None => self,
        }
    }

    /// The signature of `parts` with this router's (or tenant's) key: 16 hex digits of an
    /// HMAC-SHA256 over the parts, each prefixed by its length.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret)
            .expect("HMAC takes any key length");
        for p in parts {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        let tag = mac.finalize().into_bytes();
        let mut s = String::with_capacity(16);
        for b in &tag[..8] {
            use std::fmt::Write as _;
            write!(s, "{b:02x}").expect("writing to a String");
        }
        s
    }

    /// `[msrp] sipmsg`: whether `msrp:frame-in` sees the frame as a SIP-like request
    /// (`$hdr(To-Path)`, `$rm`...) or only through `$msrp(key)`.
    pub fn with_msrp_sipmsg(mut self, on: bool) -> Self {
        self.msrp_sipmsg = on;
        self
    }

    /// See [`Self::with_msrp_sipmsg`].
    pub fn msrp_sipmsg(&self) -> bool {
        self.msrp_sipmsg
    }

    /// The same router identity (listeners, aliases, tags, services) for a tenant: its own
    /// location table and nonces, and only the shared `htables` it was granted (`None`:
    /// all of them).
    pub fn tenant_view(&self, name: &str, htables: Option<&[String]>) -> LocalConfig {
        LocalConfig {
            listeners: self.listeners.clone(),
            sent_by: self.sent_by.clone(),
            aliases: self.aliases.clone(),
            server_header: self.server_header.clone(),
            tag_prefix: self.tag_prefix.clone(),
            tag_keys: self.tag_keys.clone(),
            services: self.services.clone(),
            location: crate::registrar::Location::default(),
            auth: crate::auth::AuthState::new(),
            htables: match htables {
                Some(names) => self.htables.subset(names),
                None => self.htables.subset(
                    &self
                        .htables
                        .specs()
                        .map(|s| s.name.clone())
                        .collect::<Vec<_>>(),
                ),
            },
            dialogs: crate::dialog::Dialogs::default(),
            msrp_sipmsg: self.msrp_sipmsg,
            // a tenant's Record-Routes are not another tenant's
            secret: derive_key(&self.secret, name.as_bytes()),
            path_from: self.path_from.clone(),
            trusted_peers: self.trusted_peers.clone(),
            ping_prefix: self.ping_prefix.clone(),
        }
    }

    /// Put `sent_by` (`host:port`) instead of `listener`'s bound address in the Via and
    /// Record-Route of what leaves from it (`advertise`); that address is also "myself".
    pub fn with_advertised(mut self, listener: Listener, sent_by: String) -> Self {
        if let Some((host, port)) = sent_by.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
        {
            self.aliases.push(Alias {
                host: host.to_ascii_lowercase(),
                port: Some(port),
            });
        }
        match self.sent_by.iter_mut().find(|(l, _)| *l == listener) {
            Some(entry) => entry.1 = sent_by,
            None => self.sent_by.push((listener, sent_by)),
        }
        self
    }

    /// `host:port` of `listener` as others must address it: its advertised address, else
    /// the bound one.
    pub fn sent_by(&self, listener: &Listener) -> std::borrow::Cow<'_, str> {
        self.sent_by
            .iter()
            .find(|(l, _)| l == listener)
            .map_or_else(
                || crate::forward::host_text(listener.addr).into(),
                |(_, a)| a.as_str().into(),
            )
    }

    /// Declare the shared tables.
    pub fn with_htables(mut self, specs: &[crate::htable::HtableSpec]) -> Self {
        self.htables = crate::htable::Htables::new(specs);
        self
    }

    /// Use `services` for name resolution and transaction lookups.
    pub fn with_services(mut self, services: Arc<dyn Services>) -> Self {
        self.services = services;
        self
    }

    /// The router's services.
    pub fn services(&self) -> &Arc<dyn Services> {
        &self.services
    }

    /// Keys for hashing stable identifiers (stateless branches, to-tags).
    pub fn hash_keys(&self) -> &RandomState {
        &self.tag_keys
    }

    /// The listener to send from towards `hop`: the one the request came in on when it
    /// fits, else the first of the same transport and address family.
    pub fn pick_listener(&self, hop: &NextHop, preferred: Option<Listener>) -> Option<Listener> {
        let fits =
            |l: &Listener| l.transport == hop.transport && l.addr.is_ipv4() == hop.addr.is_ipv4();
        if let Some(p) = preferred
            && fits(&p)
            && self.listeners.contains(&p)
        {
            return Some(p);
        }
        self.listeners.iter().copied().find(fits)
    }

    /// The listening addresses.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// The configured `Server` header value.
    pub fn server_header(&self) -> Option<&str> {
        self.server_header.as_deref()
    }

    /// The To tag of stateless replies to `msg`: the same for retransmissions of a request.
    pub fn to_tag_for(&self, msg: &SipMessage) -> String {
        let base = msg.as_bytes();
        self.to_tag_from((
            msg.call_id(),
            msg.from().tag(base),
            msg.top_via().branch(base),
        ))
    }

    /// A To tag of this process derived from `key`.
    pub fn to_tag_from(&self, key: impl std::hash::Hash) -> String {
        use std::fmt::Write as _;
        // one allocation of the final size (a transaction makes one of these)
        let mut tag = String::with_capacity(self.tag_prefix.len() + 17);
        write!(
            tag,
            "{}.{:016x}",
            self.tag_prefix,
            self.tag_keys.hash_one(key)
        )
        .expect("writing to a String");
        tag
    }

    /// True when `tag` was made by [`Self::to_tag_for`] in this process.
    pub fn is_local_to_tag(&self, tag: &[u8]) -> bool {
        tag.len() == 8 + 1 + 16 && tag.starts_with(self.tag_prefix.as_bytes()) && tag[8] == b'.'
    }

    /// True when `host:port` names this router: a listening address, or an alias.
    pub fn is_myself(&self, host: &[u8], port: Option<u16>, default_port: u16) -> bool {
        let port = port.unwrap_or(default_port);
        if let Some(ip) = parse_host_ip(host)
            && self
                .listeners
                .iter()
                .any(|l| l.addr.ip() == ip && l.addr.port() == port)
        {
            return true;
        }
        let h = String::from_utf8_lossy(host).to_ascii_lowercase();
        let h = h.trim_end_matches('.');
        self.aliases
            .iter()
            .any(|a| a.host == h && a.port.is_none_or(|p| p == port))
    }
}

/// `host` and `port` of a `host:port` text (IPv6 in brackets).
fn split_host_port(s: &str) -> (&str, &str) {
    match s.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p),
        _ => (s, "5060"),
    }
}

/// An HMAC-SHA256 of `data` under `key`: one key from another.
fn derive_key(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Where and how a message was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// Transport.
    pub transport: Transport,
    /// Sender.
    pub src: SocketAddr,
    /// Local address it arrived on.
    pub local: SocketAddr,
    /// Connection, for TCP/TLS.
    pub conn: Option<ConnId>,
}

/// Why a stateless reply was not sent; mirrors the WIT `sl.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlError {
    /// There is no request to answer.
    #[error("no request to reply to")]
    NoRequest,
    /// Bad code or reason.
    #[error("invalid reply: {0}")]
    InvalidReply(String),
    /// Bad header text.
    #[error("invalid header: {0}")]
    InvalidHeader(String),
}

/// Why a core function failed; mirrors the WIT `core.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// Flags are numbered 0..31.
    #[error("flag {0} out of range 0..31")]
    FlagOutOfRange(u32),
    /// Not a SIP URI.
    #[error("invalid URI: {0}")]
    InvalidUri(String),
}

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
    pub(crate) branches: Vec<crate::branch::Branch>,
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
    pub(crate) ruri_q: Option<crate::branch::Q>,
    /// The main branch was not relayed yet, or got a new Request-URI or `$du` since
    /// (Kamailio's `ruri_is_new`).
    pub(crate) ruri_new: bool,
    /// Contacts loaded for serial forking (`t_load_contacts`), highest q first.
    pub(crate) contacts: Vec<crate::branch::Branch>,
    pub(crate) lumps: Lumps,
    pub(crate) reply_lumps: Vec<Vec<u8>>,
    pub(crate) outbound: Vec<Transmit>,
    pub(crate) last_error: Option<(u16, &'static str)>,
    pub(crate) drop: bool,
    pub(crate) final_replied: bool,
    pub(crate) record_route: Option<crate::rr::RecordRoute>,
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
    /// `loose_route` checked this in-dialog request against its dialog: true when the
    /// caller sent it (for target refreshes).
    pub(crate) dialog_side: Option<bool>,
    /// See [`RouteContext::dialog_reach`].
    pub(crate) dialog_reach: Option<std::net::IpAddr>,
    /// `loose_route` sent the request to the next Route, a proxy: its replies come from
    /// that proxy (kept for the onreply route, which sees the reply).
    pub(crate) to_route_proxy: bool,
    /// `fix_nated_register`: the registrar keeps the source address as `received`.
    pub(crate) nated_register: bool,
    /// `add_path`: a Path entry for this router goes into the forwarded REGISTER.
    pub(crate) add_path: Option<crate::path::AddPath>,
    pub(crate) maxfwd_done: bool,
    pub(crate) tm: crate::tm::TmState,
    pub(crate) tx: Option<crate::tm::TxInfo>,
    pub(crate) intents: Vec<crate::tm::TmIntent>,
    /// Username and realm of the credentials checked by `auth` (`$au`, `$ar`).
    pub(crate) auth_user: Option<(String, String)>,
    /// The plugin changed header lines (`hdr`): what goes out must be checked again.
    pub(crate) header_edits: bool,
}

const METHOD_LETTERS: &[(u8, &str)] = &[
    (b'I', "INVITE"),
    (b'A', "ACK"),
    (b'B', "BYE"),
    (b'C', "CANCEL"),
    (b'R', "REGISTER"),
    (b'M', "MESSAGE"),
    (b'O', "OPTIONS"),
    (b'S', "SUBSCRIBE"),
    (b'P', "PUBLISH"),
    (b'N', "NOTIFY"),
    (b'U', "UPDATE"),
    (b'K', "KDMQ"),
    (b'G', "GET"),
    (b'T', "POST"),
    (b'V', "PUT"),
    (b'D', "DELETE"),
    (b'E', "PRACK"),
    (b'F', "REFER"),
];

fn text(b: &[u8]) -> Value {
    Value::bytes(b)
}

fn opt_text(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, text)
}

/// Rebuild a sip/sips URI with a new user or host.
fn rebuild_uri(base: &[u8], u: &Uri, user: Option<&str>, host: Option<&str>) -> String {
    let mut s = String::with_capacity(base.len() + 16);
    s.push_str(&String::from_utf8_lossy(u.scheme_span.of(base)));
    s.push(':');
    let user_text = match user {
        Some(new) => (!new.is_empty()).then(|| new.to_string()),
        None => u
            .user(base)
            .map(|x| String::from_utf8_lossy(x).into_owned()),
    };
    if let Some(user_text) = user_text {
        s.push_str(&user_text);
        if let Some(pw) = u.password(base) {
            s.push(':');
            s.push_str(&String::from_utf8_lossy(pw));
        }
        s.push('@');
    }
    match host {
        Some(h) => s.push_str(h),
        None => s.push_str(&String::from_utf8_lossy(u.host(base))),
    }
    if let Some(p) = u.port {
        s.push(':');
        s.push_str(&p.to_string());
    }
    s.push_str(&String::from_utf8_lossy(u.params(base)));
    if let Some(h) = u.headers(base) {
        s.push('?');
        s.push_str(&String::from_utf8_lossy(h));
    }
    s
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
            dialog_side: None,
            dialog_reach: None,
            to_route_proxy: false,
            nated_register: false,
            add_path: None,
            maxfwd_done: false,
            tm: crate::tm::TmState::default(),
            tx: None,
            intents: Vec::new(),
            auth_user: None,
            header_edits: false,
        }
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

    /// True when `force_rport` was called.
    pub fn forces_rport(&self) -> bool {
        self.force_rport
    }

    /// `force_rport` / `add_rport` (core): handle the request as if its top Via asked for
    /// `rport` (RFC 3581): it gets `rport=` and `received=` when forwarded, and replies go
    /// to its source port — what a UA behind NAT needs and does not always ask for.
    pub fn force_rport(&mut self) {
        self.force_rport = true;
    }

    /// `set_advertised_address(host)`: the address this request names as ours in our Via
    /// and the outgoing side's Record-Route (a router behind 1:1 NAT). Empty resets it.
    pub fn set_advertised_address(&mut self, host: &str) -> Result<(), CoreError> {
        let host = host.trim();
        if host.is_empty() {
            self.advertised.0 = None;
            return Ok(());
        }
        let ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.len() <= 253
                && host
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        };
        if !ok {
            return Err(CoreError::InvalidUri(format!(
                "{host:?} is not a host name, IPv4 address or [IPv6] address"
            )));
        }
        self.advertised.0 = Some(host.to_ascii_lowercase());
        Ok(())
    }

    /// `set_advertised_port(port)`: the port to name with it; 0 resets it.
    pub fn set_advertised_port(&mut self, port: u16) {
        self.advertised.1 = (port != 0).then_some(port);
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

    // ---- pseudo-variables ----

    /// The value of a pseudo-variable, transformations applied.
    pub fn pv_get(&self, spec: &PvSpec) -> Result<Value, PvError> {
        let mut v = self.pv_base(spec)?;
        for t in &spec.transforms {
            v = t.apply(v).map_err(PvError::Transformation)?;
        }
        Ok(v)
    }

    fn ruri_part(&self, f: impl Fn(&Uri, &[u8]) -> Value) -> Value {
        match self.current_ruri() {
            Some(s) => match Uri::parse_standalone(s.as_bytes()) {
                Ok(u) => f(&u, s.as_bytes()),
                Err(_) => Value::Null,
            },
            None => Value::Null,
        }
    }

    fn pv_base(&self, spec: &PvSpec) -> Result<Value, PvError> {
        let m = &self.msg;
        let b = m.as_bytes();
        Ok(match &spec.name {
            PvName::Method => text(m.method_text()),
            PvName::RUri => self.current_ruri().map_or(Value::Null, Value::Str),
            PvName::RUser => self.ruri_part(|u, b| opt_text(u.user(b))),
            PvName::RDomain => self.ruri_part(|u, b| text(u.host(b))),
            PvName::RPort => self.ruri_part(|u, b| Value::Int(i64::from(u.port_or_default(b)))),
            PvName::RScheme => self.ruri_part(|u, b| text(u.scheme_span.of(b))),
            PvName::Version => Value::Str("SIP/2.0".into()),
            PvName::DstUri => self.dst_uri.clone().map_or(Value::Null, Value::Str),
            PvName::SrcIp => Value::Str(self.source.src.ip().to_string()),
            PvName::SrcPort => Value::Int(i64::from(self.source.src.port())),
            PvName::RcvIp => Value::Str(self.source.local.ip().to_string()),
            PvName::RcvPort => Value::Int(i64::from(self.source.local.port())),
            PvName::Proto => Value::Str(self.source.transport.as_str().into()),
            PvName::FromUri => text(m.from().uri.as_bytes(b)),
            PvName::FromUser => opt_text(m.from().uri.user(b)),
            PvName::FromDomain => text(m.from().uri.host(b)),
            PvName::FromTag => opt_text(m.from().tag(b)),
            PvName::FromName => m.from().display_name(b).map_or(Value::Null, |d| text(&d)),
            PvName::ToUri => text(m.to().uri.as_bytes(b)),
            PvName::ToUser => opt_text(m.to().uri.user(b)),
            PvName::ToDomain => text(m.to().uri.host(b)),
            PvName::ToTag => opt_text(m.to().tag(b)),
            PvName::ToName => m.to().display_name(b).map_or(Value::Null, |d| text(&d)),
            PvName::CallId => text(m.call_id()),
            PvName::CSeq => Value::Int(i64::from(m.cseq().number)),
            PvName::UserAgent => opt_text(m.header_of(HeaderName::UserAgent)),
            PvName::MsgLen => Value::Int(m.len() as i64),
            PvName::MsgBuf => text(b),
            PvName::Body => text(m.body()),
            PvName::Status => m.status().map_or(Value::Null, |c| Value::Int(i64::from(c))),
            PvName::Reason => opt_text(m.reason()),
            PvName::Contact => opt_text(m.header_of(HeaderName::Contact)),
            PvName::ContentLength => Value::Int(i64::from(
                m.content_length().unwrap_or(m.body().len() as u32),
            )),
            PvName::ContentType => opt_text(m.header_of(HeaderName::ContentType)),
            PvName::Flags => Value::Int(i64::from(self.flags)),
            PvName::Time => Value::Int(self.now_unix as i64),
            PvName::HdrCount(name) => Value::Int(m.headers_named(name.as_bytes()).count() as i64),
            PvName::Hdr(name) => {
                let values = || m.headers_named(name.as_bytes());
                match spec.index {
                    None => opt_text(values().next()),
                    Some(PvIndex::All) => {
                        let all: Vec<&[u8]> = values().collect();
                        if all.is_empty() {
                            Value::Null
                        } else {
                            text(&all.join(&b","[..]))
                        }
                    }
                    Some(PvIndex::At(i)) => {
                        let all: Vec<&[u8]> = values().collect();
                        let n = all.len() as i64;
                        let i = if i < 0 {
                            n + i64::from(i)
                        } else {
                            i64::from(i)
                        };
                        if i < 0 || i >= n {
                            Value::Null
                        } else {
                            text(all[i as usize])
                        }
                    }
                }
            }
            PvName::Var(name) => self
                .vars
                .iter()
                .find(|(n, _)| n == name)
                .map_or(Value::Null, |(_, v)| v.clone()),
            PvName::Avp(name) => {
                let values: Vec<&Value> = self
                    .avps
                    .iter()
                    .rev()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .collect();
                match spec.index {
                    None => values.first().map_or(Value::Null, |v| (*v).clone()),
                    Some(PvIndex::All) => {
                        if values.is_empty() {
                            Value::Null
                        } else {
                            Value::Str(
                                values
                                    .iter()
                                    .rev()
                                    .map(|v| v.to_string())
                                    .collect::<Vec<_>>()
                                    .join(","),
                            )
                        }
                    }
                    Some(PvIndex::At(i)) => {
                        let n = values.len() as i64;
                        let i = if i < 0 {
                            n + i64::from(i)
                        } else {
                            i64::from(i)
                        };
                        if i < 0 || i >= n {
                            Value::Null
                        } else {
                            values[i as usize].clone()
                        }
                    }
                }
            }
            PvName::T(field) => match &self.tx {
                None => Value::Null,
                Some(tx) => tx.field(*field),
            },
            PvName::Sht { table, key } => {
                let key = self.format(key)?;
                crate::htable::sht_get(&self.config.htables, table, &key, self.now_unix)?
            }
            // only an MSRP event has a frame
            PvName::Msrp(_) => Value::Null,
            PvName::AuthUser => self
                .auth_user
                .as_ref()
                .map_or(Value::Null, |(u, _)| Value::Str(u.clone())),
            PvName::AuthRealm => self
                .auth_user
                .as_ref()
                .map_or(Value::Null, |(_, r)| Value::Str(r.clone())),
        })
    }

    /// Assign a pseudo-variable. Only `$ru $rU $rd $du $var(x)` are writable.
    pub fn pv_set(&mut self, spec: &PvSpec, value: Value) -> Result<(), PvError> {
        if !spec.transforms.is_empty() || spec.index.is_some() {
            return Err(PvError::ReadOnly(
                "a name with transformations or an index".into(),
            ));
        }
        let as_text = |v: &Value| match v {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Null => Err(PvError::InvalidValue("$null; use unset".into())),
        };
        match &spec.name {
            PvName::Var(name) => {
                crate::pv::set_var(&mut self.vars, name, value);
                Ok(())
            }
            PvName::Avp(name) => {
                // as in Kamailio, assigning an AVP adds a value on top of the others
                if self.avps.len() >= 1024 {
                    return Err(PvError::InvalidValue("too many AVPs".into()));
                }
                self.avps.push((name.clone(), value));
                Ok(())
            }
            PvName::RUri => {
                if !self.msg.is_request() {
                    return Err(PvError::InvalidValue("$ru is only for requests".into()));
                }
                let s = as_text(&value)?;
                let u = Uri::parse_standalone(s.as_bytes())
                    .map_err(|e| PvError::InvalidValue(format!("{s:?} is not a URI: {e}")))?;
                if u.scheme == Scheme::Other {
                    return Err(PvError::InvalidValue(format!(
                        "{s:?} is not a sip, sips or tel URI"
                    )));
                }
                self.new_ruri = Some(s);
                self.ruri_new = true;
                Ok(())
            }
            PvName::RUser | PvName::RDomain => {
                let current = self
                    .current_ruri()
                    .ok_or_else(|| PvError::InvalidValue("no Request-URI in a reply".into()))?;
                let u = Uri::parse_standalone(current.as_bytes())
                    .map_err(|e| PvError::InvalidValue(e.to_string()))?;
                if !u.scheme.is_sip() {
                    return Err(PvError::InvalidValue(
                        "the Request-URI is not a SIP URI".into(),
                    ));
                }
                let v = as_text(&value)?;
                let new = if spec.name == PvName::RUser {
                    rebuild_uri(current.as_bytes(), &u, Some(&v), None)
                } else {
                    if v.is_empty() {
                        return Err(PvError::InvalidValue("empty host".into()));
                    }
                    rebuild_uri(current.as_bytes(), &u, None, Some(&v))
                };
                Uri::parse_standalone(new.as_bytes())
                    .map_err(|e| PvError::InvalidValue(format!("{new:?}: {e}")))?;
                self.new_ruri = Some(new);
                self.ruri_new = true;
                Ok(())
            }
            PvName::Sht { table, key } => {
                let key = self.format(key)?;
                crate::htable::sht_set(&self.config.htables, table, &key, value, self.now_unix)
            }
            PvName::DstUri => {
                let s = as_text(&value)?;
                if s.is_empty() {
                    self.dst_uri = None;
                    return Ok(());
                }
                let u = Uri::parse_standalone(s.as_bytes())
                    .map_err(|e| PvError::InvalidValue(format!("{s:?} is not a URI: {e}")))?;
                if !u.scheme.is_sip() {
                    return Err(PvError::InvalidValue(format!(
                        "{s:?} is not a sip or sips URI"
                    )));
                }
                self.dst_uri = Some(s);
                // a new destination makes the main branch worth sending again, as in
                // Kamailio ("dst_uri changed, re-use the current uri for forking")
                self.ruri_new = true;
                Ok(())
            }
            _ => Err(PvError::ReadOnly(format!("{:?}", spec.name))),
        }
    }

    /// Reset a pseudo-variable to `$null`.
    pub fn pv_unset(&mut self, spec: &PvSpec) -> Result<(), PvError> {
        match &spec.name {
            PvName::Var(name) => {
                self.vars.retain(|(n, _)| n != name);
                Ok(())
            }
            PvName::Avp(name) => {
                self.avps.retain(|(n, _)| n != name);
                Ok(())
            }
            PvName::DstUri => {
                self.dst_uri = None;
                Ok(())
            }
            PvName::Sht { table, key } => {
                let key = self.format(key)?;
                crate::htable::sht_set(
                    &self.config.htables,
                    table,
                    &key,
                    Value::Null,
                    self.now_unix,
                )
            }
            _ => Err(PvError::ReadOnly(format!(
                "{:?} cannot be unset",
                spec.name
            ))),
        }
    }

    /// Expand an xlog template.
    pub fn format(&self, parts: &[TemplatePart]) -> Result<String, PvError> {
        crate::pv::expand(parts, |spec| self.pv_get(spec))
    }

    // ---- sl ----

    /// Header lines added with `append_to_reply`.
    pub fn reply_lumps(&self) -> Vec<&[u8]> {
        self.reply_lumps.iter().map(Vec::as_slice).collect()
    }

    /// Send a stateless reply (`sl_send_reply`). In a failure route the transaction exists
    /// and the reply goes through it (as `t_reply`), so it is retransmitted and final.
    pub fn send_reply(&mut self, code: u16, reason: &str) -> Result<(), SlError> {
        if !self.msg.is_request() {
            return Err(SlError::NoRequest);
        }
        if self.refused && self.final_replied {
            // loose_route answered it 403: that was the final word
            return Ok(());
        }
        if self.tx.is_some() {
            return self
                .t_reply(code, reason)
                .map_err(|e| SlError::InvalidReply(e.to_string()));
        }
        if !(100..=699).contains(&code) {
            return Err(SlError::InvalidReply(format!(
                "status code {code} out of 100..=699"
            )));
        }
        if reason.bytes().any(|c| c == b'\r' || c == b'\n') {
            return Err(SlError::InvalidReply("CR or LF in reason phrase".into()));
        }
        if self.msg.method() == Method::Ack {
            // ACK is never answered (RFC 3261 §17.2.1); Kamailio's sl skips it too.
            return Ok(());
        }
        let tag = self.config.to_tag_for(&self.msg);
        let extra: Vec<&[u8]> = self.reply_lumps.iter().map(Vec::as_slice).collect();
        let info = ReplyInfo::from_request(&self.msg);
        let data = ReplyBuilder {
            code,
            reason,
            to_tag: Some(&tag),
            src: self.source.src,
            extra_headers: &extra,
            server: self.config.server_header(),
            body: None,
            force_rport: self.force_rport,
        }
        .build(&info);
        let dest = response_target_rport(
            self.msg.top_via(),
            self.msg.as_bytes(),
            self.source.src,
            self.force_rport,
        );
        self.outbound.push(Transmit {
            transport: self.source.transport,
            dest,
            local: self.source.local,
            conn: self.source.conn,
            data: Bytes::from(data),
            // over a stream, a reply goes back on the request's connection or not at all
            // (Kamailio's set_reply_no_connect): a UA behind NAT cannot be connected to
            flags: sipwasm_proto::transport::StreamFlags {
                no_connect: self.source.transport.is_stream(),
                ..Default::default()
            },
        });
        if code >= 200 {
            self.final_replied = true;
        }
        Ok(())
    }

    /// Reply describing the last internal error (`sl_reply_error`).
    pub fn send_reply_error(&mut self) -> Result<(), SlError> {
        let (code, reason) = self.last_error.unwrap_or((500, "Server Internal Error"));
        self.send_reply(code, reason)
    }

    /// Record the last internal error for `send_reply_error`.
    pub fn set_last_error(&mut self, code: u16, reason: &'static str) {
        self.last_error = Some((code, reason));
    }

    /// Add headers to replies sent by this event (a reply lump).
    pub fn append_to_reply(&mut self, headers: &str) -> Result<(), SlError> {
        let t = check_header_lines(headers).map_err(|e| SlError::InvalidHeader(e.to_string()))?;
        let mut added = self.reply_lumps.iter().map(Vec::len).sum();
        crate::lumps::check_added(&mut added, &t)
            .map_err(|e| SlError::InvalidHeader(e.to_string()))?;
        self.reply_lumps.push(t);
        Ok(())
    }

    // ---- hdr ----

    /// `hdr.append`
    pub fn hdr_append(&mut self, text: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.append(&self.msg, text)
    }

    /// `hdr.append-after`
    pub fn hdr_append_after(&mut self, text: &str, name: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.append_after(&self.msg, text, name)
    }

    /// `hdr.insert`
    pub fn hdr_insert(&mut self, text: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.insert(&self.msg, text)
    }

    /// `hdr.insert-before`
    pub fn hdr_insert_before(&mut self, text: &str, name: &str) -> Result<(), HdrError> {
        self.header_edits = true;
        self.lumps.insert_before(&self.msg, text, name)
    }

    /// `hdr.remove`
    pub fn hdr_remove(&mut self, name: &str) -> u32 {
        self.header_edits = true;
        self.lumps.remove(&self.msg, name)
    }

    /// `hdr.is-present` (the received message, lumps not applied)
    pub fn hdr_is_present(&self, name: &str) -> bool {
        self.msg.header(name.as_bytes()).is_some()
    }

    /// `hdr.get` (the received message)
    pub fn hdr_get(&self, name: &str) -> Option<String> {
        self.msg
            .header(name.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    // ---- core ----

    fn flag_bit(flag: u32) -> Result<u32, CoreError> {
        if flag > 31 {
            return Err(CoreError::FlagOutOfRange(flag));
        }
        Ok(1 << flag)
    }

    /// `setflag`
    pub fn set_flag(&mut self, flag: u32) -> Result<(), CoreError> {
        self.flags |= Self::flag_bit(flag)?;
        Ok(())
    }

    /// `resetflag`
    pub fn reset_flag(&mut self, flag: u32) -> Result<(), CoreError> {
        self.flags &= !Self::flag_bit(flag)?;
        Ok(())
    }

    /// `isflagset`
    pub fn is_flag_set(&self, flag: u32) -> Result<bool, CoreError> {
        Ok(self.flags & Self::flag_bit(flag)? != 0)
    }

    /// The flags as a bit set.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// `is_method`
    pub fn is_method(&self, method: &str) -> bool {
        self.msg
            .method_text()
            .eq_ignore_ascii_case(method.as_bytes())
    }

    /// `is_method_in`
    pub fn is_method_in(&self, letters: &str) -> bool {
        let m = self.msg.method_text();
        letters.bytes().any(|l| {
            METHOD_LETTERS.iter().any(|(c, name)| {
                l.eq_ignore_ascii_case(c) && m.eq_ignore_ascii_case(name.as_bytes())
            })
        })
    }

    fn uri_is_myself(&self, text: &[u8]) -> Result<bool, CoreError> {
        let u = Uri::parse_standalone(text).map_err(|e| {
            CoreError::InvalidUri(format!("{}: {e}", String::from_utf8_lossy(text)))
        })?;
        if !u.scheme.is_sip() {
            return Ok(false);
        }
        Ok(self
            .config
            .is_myself(u.host(text), u.port, u.port_or_default(text)))
    }

    /// `is_myself(uri)`
    pub fn is_myself(&self, uri: &str) -> Result<bool, CoreError> {
        self.uri_is_myself(uri.as_bytes())
    }

    /// `is_myself_ruri`
    pub fn is_myself_ruri(&self) -> bool {
        self.current_ruri()
            .is_some_and(|u| self.uri_is_myself(u.as_bytes()).unwrap_or(false))
    }

    /// `is_myself_furi`
    pub fn is_myself_furi(&self) -> bool {
        let b = self.msg.as_bytes();
        self.uri_is_myself(self.msg.from().uri.as_bytes(b))
            .unwrap_or(false)
    }

    /// `is_myself_turi`
    pub fn is_myself_turi(&self) -> bool {
        let b = self.msg.as_bytes();
        self.uri_is_myself(self.msg.to().uri.as_bytes(b))
            .unwrap_or(false)
    }

    /// `is_myself_srcip`
    pub fn is_myself_srcip(&self) -> bool {
        let ip = self.source.src.ip();
        self.config.listeners().iter().any(|l| l.addr.ip() == ip)
    }

    /// `set_drop`
    pub fn set_drop(&mut self) {
        self.drop = true;
    }
}

/// The reply to a request the parser rejected (400, or 505 for a bad version), when one
/// can be built: see [`ReplyInfo::salvage`].
pub fn reply_to_malformed(
    config: &LocalConfig,
    buf: &[u8],
    source: &Source,
    error: &sipwasm_proto::ParseError,
) -> Option<Transmit> {
    let info = ReplyInfo::salvage(buf)?;
    let warning = format!(
        "Warning: 399 sipwasm \"{}\"\r\n",
        error.to_string().replace(['"', '\\'], "'")
    );
    let extra: [&[u8]; 1] = [warning.as_bytes()];
    let tag = config.to_tag_from(buf);
    let data = ReplyBuilder {
        code: error.reply_code(),
        reason: error.reply_reason(),
        to_tag: Some(&tag),
        src: source.src,
        extra_headers: &extra,
        server: config.server_header(),
        body: None,
        force_rport: false,
    }
    .build(&info);
    Some(Transmit {
        transport: source.transport,
        dest: response_target(info.top_via(), info.base(), source.src),
        local: source.local,
        conn: source.conn,
        data: Bytes::from(data),
        flags: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = "INVITE sip:bob@example.com:5080;transport=udp SIP/2.0\r\n\
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

    fn cfg() -> Arc<LocalConfig> {
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

    fn ctx() -> RouteContext {
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

    fn get(c: &RouteContext, name: &str) -> Value {
        c.pv_get(&PvSpec::parse(name).unwrap()).unwrap()
    }

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    #[test]
    fn read_pseudo_variables() {
        let c = ctx();
        assert_eq!(get(&c, "$rm"), s("INVITE"));
        assert_eq!(get(&c, "$ru"), s("sip:bob@example.com:5080;transport=udp"));
        assert_eq!(get(&c, "$rU"), s("bob"));
        assert_eq!(get(&c, "$rd"), s("example.com"));
        assert_eq!(get(&c, "$rp"), Value::Int(5080));
        assert_eq!(get(&c, "$rz"), s("sip"));
        assert_eq!(get(&c, "$du"), Value::Null);
        assert_eq!(get(&c, "$si"), s("10.0.0.1"));
        assert_eq!(get(&c, "$sp"), Value::Int(5070));
        assert_eq!(get(&c, "$Ri"), s("127.0.0.1"));
        assert_eq!(get(&c, "$Rp"), Value::Int(5060));
        assert_eq!(get(&c, "$pr"), s("udp"));
        assert_eq!(get(&c, "$fu"), s("sip:alice@atlanta.example.com"));
        assert_eq!(get(&c, "$fU"), s("alice"));
        assert_eq!(get(&c, "$fd"), s("atlanta.example.com"));
        assert_eq!(get(&c, "$ft"), s("f1"));
        assert_eq!(get(&c, "$fn"), s("Alice A"));
        assert_eq!(get(&c, "$tu"), s("sip:bob@example.com"));
        assert_eq!(get(&c, "$tU"), s("bob"));
        assert_eq!(get(&c, "$td"), s("example.com"));
        assert_eq!(get(&c, "$tt"), Value::Null);
        assert_eq!(get(&c, "$ci"), s("cid-123@h"));
        assert_eq!(get(&c, "$cs"), Value::Int(7));
        assert_eq!(get(&c, "$ua"), s("test-ua"));
        assert_eq!(get(&c, "$ml"), Value::Int(REQ.len() as i64));
        assert_eq!(get(&c, "$mb"), s(REQ));
        assert_eq!(get(&c, "$rb"), s("one:two:six"));
        assert_eq!(get(&c, "$rs"), Value::Null);
        assert_eq!(get(&c, "$hdr(X-Multi)"), s("a"));
        assert_eq!(get(&c, "$(hdr(X-Multi)[1])"), s("b"));
        assert_eq!(get(&c, "$(hdr(X-Multi)[-1])"), s("b"));
        assert_eq!(get(&c, "$(hdr(X-Multi)[5])"), Value::Null);
        assert_eq!(get(&c, "$(hdr(x-multi)[*])"), s("a,b"));
        assert_eq!(get(&c, "$hdr(X-None)"), Value::Null);
        assert_eq!(get(&c, "$hdrc(X-Multi)"), Value::Int(2));
        assert_eq!(get(&c, "$hdr(i)"), s("cid-123@h"));
        assert_eq!(get(&c, "$Ts"), Value::Int(1_700_000_000));
        assert_eq!(get(&c, "$cl"), Value::Int(11));
        assert_eq!(get(&c, "$cT"), s("text/plain"));
    }

    #[test]
    fn transformations_on_message_values() {
        let c = ctx();
        assert_eq!(get(&c, "$(rb{s.select,1,:})"), s("two"));
        assert_eq!(get(&c, "$(ci{s.len})"), Value::Int(9));
        assert_eq!(get(&c, "$(ci{s.substr,0,3})"), s("cid"));
        assert_eq!(get(&c, "$(fu{uri.user}{s.toupper})"), s("ALICE"));
        assert_eq!(get(&c, "$(ru{uri.param,transport})"), s("udp"));
        assert_eq!(get(&c, "$(hdr(From){tobody.tag})"), s("f1"));
        assert_eq!(
            get(&c, "$(hdr(From){nameaddr.uri})"),
            s("sip:alice@atlanta.example.com")
        );
        assert_eq!(get(&c, "$(hdr(From){param.value,tag})"), s("f1"));
        assert!(matches!(
            c.pv_get(&PvSpec::parse("$(ua{uri.user})").unwrap()),
            Err(PvError::Transformation(_))
        ));
    }

    #[test]
    fn write_pseudo_variables() {
        let mut c = ctx();
        let set = |c: &mut RouteContext, n: &str, v: Value| c.pv_set(&PvSpec::parse(n).unwrap(), v);
        set(&mut c, "$var(x)", Value::Int(3)).unwrap();
        assert_eq!(get(&c, "$var(x)"), Value::Int(3));
        set(&mut c, "$var(x)", s("str")).unwrap();
        assert_eq!(get(&c, "$var(x)"), s("str"));
        c.pv_unset(&PvSpec::parse("$var(x)").unwrap()).unwrap();
        assert_eq!(get(&c, "$var(x)"), Value::Null);
        set(&mut c, "$rU", s("carol")).unwrap();
        assert_eq!(
            get(&c, "$ru"),
            s("sip:carol@example.com:5080;transport=udp")
        );
        set(&mut c, "$rd", s("biloxi.example.com")).unwrap();
        assert_eq!(
            get(&c, "$ru"),
            s("sip:carol@biloxi.example.com:5080;transport=udp")
        );
        set(&mut c, "$rU", s("")).unwrap();
        assert_eq!(
            get(&c, "$ru"),
            s("sip:biloxi.example.com:5080;transport=udp")
        );
        set(&mut c, "$ru", s("sip:dave@10.0.0.9")).unwrap();
        assert_eq!(get(&c, "$rU"), s("dave"));
        assert!(matches!(
            set(&mut c, "$ru", s("not a uri")),
            Err(PvError::InvalidValue(_))
        ));
        set(&mut c, "$du", s("sip:127.0.0.1:5080")).unwrap();
        assert_eq!(get(&c, "$du"), s("sip:127.0.0.1:5080"));
        c.pv_unset(&PvSpec::parse("$du").unwrap()).unwrap();
        assert_eq!(get(&c, "$du"), Value::Null);
        assert!(matches!(
            set(&mut c, "$du", s("http://x")),
            Err(PvError::InvalidValue(_))
        ));
        assert!(matches!(
            set(&mut c, "$si", s("1.2.3.4")),
            Err(PvError::ReadOnly(_))
        ));
        assert!(matches!(
            set(&mut c, "$(var(x){s.len})", s("1")),
            Err(PvError::ReadOnly(_))
        ));
    }

    #[test]
    fn format_templates() {
        let c = ctx();
        let parts = crate::pv::parse_template("$rm from $fU ($si:$sp) tag=$tt").unwrap();
        assert_eq!(
            c.format(&parts).unwrap(),
            "INVITE from alice (10.0.0.1:5070) tag=<null>"
        );
    }

    #[test]
    fn replies_and_reply_lumps() {
        let mut c = ctx();
        c.append_to_reply("X-Reason: test").unwrap();
        assert!(c.append_to_reply("bad header").is_err());
        c.send_reply(480, "Temporarily Unavailable").unwrap();
        assert!(c.final_replied());
        let out = c.take_outbound();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dest, "10.0.0.1:5070".parse().unwrap());
        let r = SipMessage::parse(out[0].data.clone()).unwrap();
        assert_eq!(r.status(), Some(480));
        assert_eq!(r.header(b"X-Reason"), Some(&b"test"[..]));
        assert_eq!(r.header(b"Server"), Some(&b"sipwasm-test"[..]));
        let tag = r.to().tag(r.as_bytes()).unwrap();
        assert!(c.config().is_local_to_tag(tag));
        assert_eq!(tag, c.config().to_tag_for(c.msg()).as_bytes());
        assert!(matches!(
            c.send_reply(99, "x"),
            Err(SlError::InvalidReply(_))
        ));
        assert!(matches!(
            c.send_reply(200, "a\r\nb"),
            Err(SlError::InvalidReply(_))
        ));
        c.send_reply_error().unwrap();
        let r = SipMessage::parse(c.take_outbound()[0].data.clone()).unwrap();
        assert_eq!(r.status(), Some(500));
    }

    #[test]
    fn ack_is_never_answered_and_replies_have_no_request() {
        let ack = REQ.replace("INVITE", "ACK");
        let msg = SipMessage::parse(Bytes::from(ack)).unwrap();
        let mut c = RouteContext::new(cfg(), msg, *ctx().source(), 0);
        c.send_reply(200, "OK").unwrap();
        assert!(c.take_outbound().is_empty());
        let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let msg = SipMessage::parse(Bytes::from_static(resp.as_bytes())).unwrap();
        let mut c = RouteContext::new(cfg(), msg, *ctx().source(), 0);
        assert_eq!(c.send_reply(200, "OK"), Err(SlError::NoRequest));
        assert_eq!(get(&c, "$rs"), Value::Int(200));
        assert_eq!(get(&c, "$rm"), s("INVITE"));
        assert_eq!(get(&c, "$ru"), Value::Null);
        assert!(c.is_method("invite"));
    }

    #[test]
    fn flags_methods_myself() {
        let mut c = ctx();
        c.set_flag(3).unwrap();
        assert!(c.is_flag_set(3).unwrap());
        c.reset_flag(3).unwrap();
        assert!(!c.is_flag_set(3).unwrap());
        assert_eq!(c.set_flag(32), Err(CoreError::FlagOutOfRange(32)));
        assert!(c.is_method("INVITE"));
        assert!(!c.is_method("OPTIONS"));
        assert!(c.is_method_in("OI"));
        assert!(c.is_method_in("oi"));
        assert!(!c.is_method_in("RBO"));
        assert!(c.is_myself("sip:127.0.0.1").unwrap());
        assert!(c.is_myself("sip:127.0.0.1:5060").unwrap());
        assert!(!c.is_myself("sip:127.0.0.1:5070").unwrap());
        assert!(c.is_myself("sip:x@EXAMPLE.com:9999").unwrap());
        assert!(!c.is_myself("sip:x@other.com").unwrap());
        assert!(c.is_myself("nope").is_err());
        assert!(c.is_myself_ruri());
        assert!(!c.is_myself_furi());
        assert!(c.is_myself_turi());
        assert!(!c.is_myself_srcip());
        c.set_drop();
        assert!(c.is_dropped());
    }

    #[test]
    fn header_lumps_render_on_send() {
        let mut c = ctx();
        c.hdr_append("X-Added: 1").unwrap();
        assert_eq!(c.hdr_remove("X-Multi"), 2);
        assert!(
            c.hdr_is_present("X-Multi"),
            "lumps do not change the received message"
        );
        assert_eq!(c.hdr_get("x-multi").as_deref(), Some("a"));
        let out = SipMessage::parse(Bytes::from(c.rendered())).unwrap();
        assert_eq!(out.header(b"X-Multi"), None);
        assert_eq!(out.header(b"X-Added"), Some(&b"1"[..]));
        assert_eq!(out.body(), b"one:two:six");
    }

    #[test]
    fn malformed_request_gets_400_with_warning() {
        let bad = REQ.replace("CSeq: 7 INVITE", "CSeq: 7 OPTIONS");
        let err = SipMessage::parse(Bytes::from(bad.clone())).unwrap_err();
        let out = reply_to_malformed(&cfg(), bad.as_bytes(), ctx().source(), &err).unwrap();
        let r = SipMessage::parse(out.data).unwrap();
        assert_eq!(r.status(), Some(400));
        assert!(
            r.header(b"Warning")
                .unwrap()
                .starts_with(b"399 sipwasm \"CSeq method")
        );
    }
}
