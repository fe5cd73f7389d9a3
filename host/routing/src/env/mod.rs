//! The router's identity as a route sees it (`env`): its listeners, aliases, the keys it
//! signs with, the peers it trusts, its shared tables, and where a message came from.

use crate::services::{NextHop, Services, StaticServices};
use sipwasm_proto::SipMessage;
use sipwasm_proto::reply::parse_host_ip;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

pub(crate) mod addr;
pub use addr::*;

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
    pub location: crate::registrar::location::Location,
    /// Nonces of the digest authentication.
    pub auth: crate::auth::digest::AuthState,
    /// The plugin's own counters (`statistics`).
    pub statistics: Arc<crate::statistics::Statistics>,
    /// Failed-authentication accounting, bans and scanners: one for the whole router.
    pub guard: Arc<crate::auth::guard::Guard>,
    /// Shared tables (`htable`).
    pub htables: crate::htable::Htables,
    /// The destination sets (`dispatcher`) this view may use.
    pub dispatcher: crate::dispatcher::DsView,
    /// The address groups (`permissions`) this view may use.
    pub address_groups: crate::permissions::AddressGroups,
    /// Flood detection per source address (`pike`), this view's own.
    pub pike: Arc<crate::pike::Pike>,
    /// Rate limit pipes (`ratelimit`), this view's own counts.
    pub ratelimit: Arc<crate::ratelimit::RateLimits>,
    /// The dialogs this router record-routed.
    pub dialogs: crate::dialog::table::Dialogs,
    /// Calls per user (`limit-calls`).
    pub calls: Arc<crate::dialog::Calls>,
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
    /// Extensions a Proxy-Require may name (`[sanity] proxy_require`).
    proxy_require: Arc<[String]>,
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

/// What a view of the router ([`LocalConfig::tenant_view`], [`LocalConfig::dry_view`])
/// holds apart from the router's identity.
struct ViewState {
    services: Arc<dyn Services>,
    location: crate::registrar::location::Location,
    auth: crate::auth::digest::AuthState,
    guard: Arc<crate::auth::guard::Guard>,
    htables: crate::htable::Htables,
    dispatcher: crate::dispatcher::DsView,
    address_groups: crate::permissions::AddressGroups,
    secret: [u8; 32],
}

/// What a tenant may use of the router's shared resources (`[[tenant]]`'s grants).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// The `[[htable]]`s, by name.
    pub htables: Vec<String>,
    /// The dispatcher sets, by id.
    pub dispatcher_sets: Vec<u32>,
    /// The `permissions` address groups, by id.
    pub address_groups: Vec<u32>,
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
        let sent_by = listeners.iter().map(|l| (*l, host_text(l.addr))).collect();
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
            location: crate::registrar::location::Location::default(),
            auth: crate::auth::digest::AuthState::new(),
            statistics: Arc::default(),
            guard: Arc::new(crate::auth::guard::Guard::default()),
            htables: crate::htable::Htables::default(),
            dispatcher: crate::dispatcher::DsView::default(),
            address_groups: crate::permissions::AddressGroups::default(),
            pike: Arc::default(),
            ratelimit: Arc::default(),
            dialogs: crate::dialog::table::Dialogs::default(),
            calls: Arc::default(),
            msrp_sipmsg: true,
            secret,
            path_from: Vec::new(),
            trusted_peers: Vec::new(),
            ping_prefix: String::new(),
            proxy_require: Arc::from([]),
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

    /// Sign nonces with a key derived from this router's (or tenant's) secret, so every
    /// router sharing it accepts them, and record their uses in `ledger`, which those
    /// routers share: a replay to any of them is refused. Without a shared ledger the
    /// nonce key stays random per process (a shared key with a record per process would
    /// let a nonce used on one router, or before a restart, be used again).
    pub fn with_nonce_ledger(mut self, ledger: Arc<dyn crate::auth::digest::NonceLedger>) -> Self {
        self.auth = crate::auth::digest::AuthState::with_key(derive_key(&self.secret, b"nonce"))
            .with_ledger(ledger);
        self
    }

    /// Balance over the destination sets of `dispatcher` (`[dispatcher]`).
    pub fn with_dispatcher(mut self, dispatcher: Arc<crate::dispatcher::Dispatcher>) -> Self {
        self.dispatcher = crate::dispatcher::DsView::new(dispatcher);
        self
    }

    /// Check sources against the address groups of `[[permissions.address]]`.
    pub fn with_address_groups(mut self, groups: crate::permissions::AddressGroups) -> Self {
        self.address_groups = groups;
        self
    }

    /// Limit rates as `[ratelimit]` says.
    pub fn with_ratelimit(mut self, settings: crate::ratelimit::RateLimitSettings) -> Self {
        self.ratelimit = Arc::new(crate::ratelimit::RateLimits::new(settings));
        self
    }

    /// Let requests name these extensions in Proxy-Require (`sanity_check`).
    pub fn with_proxy_require(mut self, extensions: Vec<String>) -> Self {
        self.proxy_require = extensions.into();
        self
    }

    /// The extensions a Proxy-Require may name.
    pub fn proxy_require(&self) -> &[String] {
        &self.proxy_require
    }

    /// Detect floods as `[pike]` says.
    pub fn with_pike(mut self, settings: crate::pike::PikeSettings) -> Self {
        self.pike = Arc::new(crate::pike::Pike::new(settings));
        self
    }

    /// Count failed authentications, ban and drop scanners as `guard` says (`[security]`).
    pub fn with_guard(mut self, guard: crate::auth::guard::Guard) -> Self {
        self.guard = Arc::new(guard);
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

    /// `len` bytes of a key stream of this router's secret for `label` (HMAC-SHA256 of
    /// the label and a counter): what routers sharing the secret derive alike.
    pub fn keystream(&self, label: &[u8], len: usize) -> Vec<u8> {
        use hmac::Mac as _;
        let mut out = Vec::with_capacity(len + 32);
        let mut block = 0u32;
        while out.len() < len {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret)
                .expect("HMAC takes any key length");
            mac.update(label);
            mac.update(&block.to_be_bytes());
            out.extend_from_slice(&mac.finalize().into_bytes());
            block += 1;
        }
        out.truncate(len);
        out
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
    /// location table and nonces, and only the shared htables and dispatcher sets it was
    /// granted.
    pub fn tenant_view(&self, name: &str, grants: &Grants) -> LocalConfig {
        self.view(ViewState {
            services: self.services.clone(),
            location: crate::registrar::location::Location::default(),
            // a tenant's nonces are not another tenant's; routers sharing the secret
            // still accept each other's
            auth: crate::auth::digest::AuthState::with_key(derive_key(
                self.auth.key(),
                name.as_bytes(),
            )),
            guard: self.guard.clone(),
            htables: self.htables.subset(&grants.htables),
            dispatcher: self.dispatcher.granted(&grants.dispatcher_sets),
            address_groups: self.address_groups.granted(&grants.address_groups),
            // a tenant's Record-Routes are not another tenant's
            secret: derive_key(&self.secret, name.as_bytes()),
        })
    }

    /// The same identity for a shadow plugin version (a shadow roll-out): every read sees
    /// the live state (registrations, htables, nonce key, the Record-Route key), no
    /// write reaches it (`save`, htable writes, nonce uses, failed-authentication counts,
    /// call limits and statistics go to throwaway copies; no suspend), so the shadow
    /// decides as the live version would and changes nothing.
    pub fn dry_view(&self) -> LocalConfig {
        self.view(ViewState {
            services: Arc::new(crate::services::DryServices(self.services.clone())),
            location: self.location.dry(),
            auth: crate::auth::digest::AuthState::with_key(*self.auth.key()),
            guard: Arc::new(crate::auth::guard::Guard::default()),
            htables: self.htables.dry(),
            dispatcher: self.dispatcher.dry(),
            address_groups: self.address_groups.clone(),
            secret: self.secret,
        })
    }

    /// This identity (listeners, advertised addresses, aliases, tags, peers) over `state`;
    /// dialogs, call counters and statistics start empty (a view's own).
    fn view(&self, state: ViewState) -> LocalConfig {
        LocalConfig {
            listeners: self.listeners.clone(),
            sent_by: self.sent_by.clone(),
            aliases: self.aliases.clone(),
            server_header: self.server_header.clone(),
            tag_prefix: self.tag_prefix.clone(),
            tag_keys: self.tag_keys.clone(),
            services: state.services,
            location: state.location,
            auth: state.auth,
            statistics: Arc::default(),
            guard: state.guard,
            htables: state.htables,
            dispatcher: state.dispatcher,
            address_groups: state.address_groups,
            // the same limits, counts of its own
            pike: Arc::new(self.pike.fresh()),
            ratelimit: Arc::new(self.ratelimit.fresh()),
            dialogs: crate::dialog::table::Dialogs::default(),
            calls: Arc::default(),
            msrp_sipmsg: self.msrp_sipmsg,
            secret: state.secret,
            path_from: self.path_from.clone(),
            trusted_peers: self.trusted_peers.clone(),
            ping_prefix: self.ping_prefix.clone(),
            proxy_require: self.proxy_require.clone(),
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
                || host_text(listener.addr).into(),
                |(_, a)| a.as_str().into(),
            )
    }

    /// Declare the shared tables.
    pub fn with_htables(mut self, specs: &[crate::htable::HtableSpec]) -> Self {
        self.htables = crate::htable::Htables::new(specs);
        self
    }

    /// Keep registrations in `location` (a shared store) instead of memory.
    pub fn with_location(mut self, location: crate::registrar::location::Location) -> Self {
        self.location = location;
        self
    }

    /// Use `services` for name resolution and transaction lookups.
    pub fn with_services(mut self, services: Arc<dyn Services>) -> Self {
        self.services = services;
        self
    }

    /// Who is at the other end of `source`'s TLS connection, by its certificate.
    pub(crate) fn tls_peer(&self, source: &Source) -> Option<Arc<sipwasm_proto::TlsPeer>> {
        match (source.transport, source.conn) {
            (sipwasm_proto::Transport::Tls, Some(conn)) => self.services.tls_peer(conn),
            _ => None,
        }
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

/// An HMAC-SHA256 of `data` under `key`: one key from another.
fn derive_key(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}
