//! The server: bound listeners in, routing plugin in the middle, replies out.
//!
//! Threads: each UDP socket is read by `workers` blocking threads, each owning its plugin
//! instance (Kamailio's UDP children); TCP connections run on tokio and hand complete
//! messages to `workers` TCP worker threads, which own their instances too; each
//! connection always hands to the same worker, so its messages are handled in order. Plugin code
//! never runs on a tokio thread, so a slow route cannot stall the network tasks.

use crate::config::Fallback;
use crate::dns::{DnsSettings, Resolver};
use crate::proxy::{MatchedReply, Proxy, ProxyParts};
use crate::rtimer::{Due, Rtimers};
use crate::shares::{Admission, LaneStats, ShareLimits, Shares, Slot};
use crate::tenants::{Serving, Tenants, Workers};
use bytes::Bytes;
use sipwasm_proto::framing::FrameError;
use sipwasm_proto::sniff::{Sniff, sniff};
use sipwasm_proto::{Method, SipMessage, Transport};
use sipwasm_routing::{
    LocalConfig, MsrpEvent, NosipFilter, RawEvent, RouteContext, Source, TimerEvent, TimerKind,
    Transmit, reply_to_malformed,
};
use sipwasm_runtime::{Route, Standing, Verdict};
use sipwasm_transport::{BoundListener, ConnectionTable, Incoming, Outlet, TcpLimits};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// How the server runs, apart from its listeners and plugin.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Worker threads per UDP socket, and for TCP.
    pub workers: usize,
    /// Router identity (addresses, aliases, Server header).
    pub aliases: Vec<sipwasm_routing::Alias>,
    /// `Server` header of generated replies.
    pub server_header: Option<String>,
    /// The listeners as configured, in the order they were bound (tenants name them).
    pub listen: Vec<sipwasm_transport::ListenSpec>,
    /// TCP limits.
    pub tcp: TcpLimits,
    /// Transaction timers.
    pub timers: sipwasm_tm::TimerConfig,
    /// Name resolution.
    pub dns: DnsSettings,
    /// Which non-SIP packets reach the plugin.
    pub nosip: NosipFilter,
    /// Shared tables.
    pub htables: Vec<sipwasm_routing::HtableSpec>,
    /// `[msrp] sipmsg`: MSRP frames seen as SIP-like requests.
    pub msrp_sipmsg: bool,
    /// TLS certificate, key and trusted CAs (needed by `tls:` listeners and outbound TLS).
    pub tls: Option<sipwasm_transport::TlsSettings>,
    /// `[router] secret`: key of the Record-Route and Path signatures (random without).
    pub secret: Option<String>,
    /// NAT pinging of registered contacts.
    pub natping: sipwasm_routing::NatPing,
    /// Sources whose REGISTERs may carry a Path of another make.
    pub path_from: Vec<std::net::IpAddr>,
    /// `[router] trusted_peers`.
    pub trusted_peers: Vec<ipnet::IpNet>,
    /// `[security]`: failed authentications, bans, scanners.
    pub guard: sipwasm_routing::auth::guard::GuardPolicy,
    /// Where registrations live (`[state]`).
    pub state: sipwasm_config::StateBackend,
    /// Destination sets and their probing (`[dispatcher]`).
    pub dispatcher: sipwasm_config::Dispatcher,
    /// The config file it was read from, if any (`dispatcher.reload` reads it again).
    pub config_source: Option<std::path::PathBuf>,
    /// Extensions a Proxy-Require may name (`[sanity]`).
    pub proxy_require: Vec<String>,
    /// Flood detection (`[pike]`).
    pub pike: sipwasm_routing::pike::PikeSettings,
    /// Address groups (`[[permissions.address]]`).
    pub address_groups: Vec<sipwasm_routing::permissions::AddressEntry>,
    /// Rate limit pipes (`[ratelimit]`).
    pub ratelimit: sipwasm_routing::ratelimit::RateLimitSettings,
    /// `advertise` addresses of listeners: transport, the listen address as configured
    /// (port 0 matches the port bound), and what to advertise.
    pub advertise: Vec<(Transport, SocketAddr, sipwasm_transport::Advertise)>,
}

/// The router's identity as routes see it (listeners, aliases, tables, keys, trusted
/// peers, advertised addresses), from `settings` and the addresses bound, over
/// `services`.
pub fn router_identity(
    settings: &ServerSettings,
    addrs: &[(Transport, SocketAddr)],
    services: Arc<dyn sipwasm_routing::Services>,
) -> LocalConfig {
    let mut local_config = LocalConfig::new(
        addrs
            .iter()
            .map(|(t, a)| sipwasm_routing::Listener {
                transport: *t,
                addr: *a,
            })
            .collect(),
        settings.aliases.clone(),
        settings.server_header.clone(),
    )
    .with_htables(&settings.htables)
    .with_services(services)
    .with_secret_opt(settings.secret.as_deref())
    .with_path_from(settings.path_from.clone())
    .with_trusted_peers(settings.trusted_peers.clone())
    .with_guard(
        sipwasm_routing::auth::guard::Guard::new(settings.guard.clone())
            .expect("[security] scanners are checked with the configuration"),
    )
    .with_msrp_sipmsg(settings.msrp_sipmsg)
    .with_proxy_require(settings.proxy_require.clone())
    .with_pike(settings.pike)
    .with_ratelimit(settings.ratelimit.clone())
    .with_address_groups(sipwasm_routing::permissions::AddressGroups::new(
        settings.address_groups.clone(),
    ));
    for (t, a) in addrs {
        let advertised = settings.advertise.iter().find(|(at, aa, _)| {
            at == t && aa.ip() == a.ip() && (aa.port() == a.port() || aa.port() == 0)
        });
        match advertised {
            Some((_, _, adv)) => {
                local_config = local_config.with_advertised(
                    sipwasm_routing::Listener {
                        transport: *t,
                        addr: *a,
                    },
                    adv.sent_by(a.port()),
                );
            }
            None if a.ip().is_unspecified() => tracing::warn!(
                "listener {t}:{a} has no advertise address: Via and Record-Route would \
                 carry {}; add `advertise HOST[:PORT]` to it",
                a.ip()
            ),
            None => {}
        }
    }
    local_config
}

/// Counters of the router core.
#[derive(Debug, Default)]
pub struct RouterStats {
    /// Datagrams and framed stream messages received.
    pub received: AtomicU64,
    /// Messages the parser rejected.
    pub malformed: AtomicU64,
    /// Keep-alives and empty datagrams ignored.
    pub keepalives: AtomicU64,
    /// ACKs to our own stateless replies, absorbed.
    pub acks_absorbed: AtomicU64,
    /// Fallback replies sent after a plugin failure.
    pub fallbacks: AtomicU64,
    /// Non-SIP packets handed to the plugin (`nosip:msg`).
    pub nosip_events: AtomicU64,
    /// Non-SIP packets ignored: too short, filtered, or no `nosip-events` export.
    pub nosip_ignored: AtomicU64,
    /// Timer and htable-expiry events handed to plugins.
    pub timer_events: AtomicU64,
    /// Timer events not run: the tenant was refused (quarantine, budget) or its queue full.
    pub timer_events_refused: AtomicU64,
    /// MSRP frames handed to the plugin (`msrp:frame-in`).
    pub msrp_frames: AtomicU64,
    /// Their bytes.
    pub msrp_bytes: AtomicU64,
    /// MSRP frames the plugins relayed or answered with (`msrp:frame-in` sends).
    pub msrp_frames_sent: AtomicU64,
    /// Their bytes.
    pub msrp_bytes_sent: AtomicU64,
    /// Events for a tenant not granted their kind (`events` of its config).
    pub denied_events: AtomicU64,
    /// SIP requests received, by method ([`Method`] order: INVITE ... PUBLISH, other).
    pub requests: [AtomicU64; METHODS.len()],
    /// SIP replies received, by class (`[0]`: 1xx ... `[5]`: 6xx).
    pub replies: [AtomicU64; 6],
}

/// Probe the dispatcher's destinations as `[dispatcher]` says, until the router stops
/// (the task is dropped), and log each change of a destination's state.
async fn probe_destinations(router: Arc<Router>) {
    let mut every = tokio::time::interval(std::time::Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge = std::time::Instant::now();
    loop {
        every.tick().await;
        let local = &router.local;
        let ds = local.dispatcher.dispatcher();
        for out in ds.tick(std::time::Instant::now(), &**local) {
            router.outlet.send(out);
        }
        // uac_req_send's requests: sent again over UDP until answered
        let (again, ended) = router.uac_requests.due(std::time::Instant::now());
        for out in again {
            router.outlet.send(out);
        }
        for (sent, _) in ended {
            tracing::info!(dest = %sent.dest, "uac_req_send: no final reply within 32 s");
        }
        for (set, uri, state) in ds.take_changes() {
            if state.starts_with('A') {
                tracing::info!(set, %uri, %state, "dispatcher destination active");
            } else {
                tracing::warn!(set, %uri, %state, "dispatcher destination out of service");
            }
        }
        if last_purge.elapsed() > std::time::Duration::from_secs(60) {
            last_purge = std::time::Instant::now();
            ds.purge();
        }
    }
}

/// The methods counted apart, in [`Method`]'s order (`Method as usize` indexes them).
pub const METHODS: [Method; 15] = [
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Register,
    Method::Options,
    Method::Info,
    Method::Prack,
    Method::Update,
    Method::Subscribe,
    Method::Notify,
    Method::Refer,
    Method::Message,
    Method::Publish,
    Method::Other,
];

// `Method as usize` indexes METHODS
const _: () = {
    let mut i = 0;
    while i < METHODS.len() {
        assert!(METHODS[i] as usize == i);
        i += 1;
    }
};

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// An MSRP request the router relayed could not be delivered: send back the answer the
/// RFCs prescribe on the connection it came from (never opening one for it).
fn answer_undelivered_msrp(table: &ConnectionTable, tag: u64, data: Bytes) {
    let Some((conn, answer)) = sipwasm_routing::msrp::undelivered_answer(tag, &data) else {
        return;
    };
    let sent = table.send_on(conn, answer);
    tracing::debug!(conn, answered = sent, "relayed MSRP request not delivered");
}

/// An event for a tenant's plugin from the network: it runs at once, or waits for its
/// tenant's share (see [`crate::shares`]). The routes of transactions a tenant already
/// started (failure, branch, onreply on timeouts, `t_continue`) run where they are
/// triggered, under its CPU budget and quarantine.
// moved a couple of times per event: boxing the request would put an allocation on the
// hot path for nothing
#[allow(clippy::large_enum_variant)]
enum Work {
    Request(RouteContext),
    /// A reply, and the transaction it belongs to.
    Reply(RouteContext, Option<MatchedReply>),
    Nosip(RawEvent),
    Msrp(MsrpEvent),
    Timer(TimerEvent),
}

/// An event and who serves it.
struct Job {
    serving: Serving,
    work: Work,
}

/// How long an idle queue worker sleeps before looking again (it is woken when an event
/// is queued or a slot is released; this only bounds a missed wake-up).
const QUEUE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The tenants' shares and queues, and the queue workers' wake-up.
struct EventQueue {
    shares: Mutex<Shares<Job>>,
    ready: Condvar,
    closed: AtomicBool,
}

impl EventQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shares<Job>> {
        self.shares.lock().expect("not poisoned")
    }

    /// Give back `slot`; with its tenant's `standing`, when the tenant may run its next
    /// waiting event, that event and its slot, for this thread; else a queue worker is
    /// woken if anything waits. One lock for all of it.
    fn hand_off(&self, slot: Slot, standing: Option<Standing>) -> Option<(Slot, Job)> {
        let mut shares = self.lock();
        let next = match standing {
            Some(standing) => shares.hand_off(slot, standing),
            None => {
                shares.release(slot);
                None
            }
        };
        let wake = next.is_none() && shares.has_waiting();
        drop(shares);
        if wake {
            self.ready.notify_one();
        }
        next
    }

    /// Stop the queue workers (they answer what waits as refused).
    fn close(&self) {
        let _shares = self.lock();
        self.closed.store(true, Ordering::Relaxed);
        self.ready.notify_all();
    }
}

/// A slot held by a running event: given back when dropped, a panic included, so a
/// tenant's share is never lost.
struct Held<'a> {
    queue: &'a EventQueue,
    slot: Option<Slot>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.queue.hand_off(slot, None);
        }
    }
}

/// The routing core shared by every worker.
pub struct Router {
    local: Arc<LocalConfig>,
    tenants: Arc<Tenants>,
    nosip: NosipFilter,
    outlet: Outlet,
    stats: RouterStats,
    proxy: Arc<Proxy>,
    /// The plugins' timers, run by their own thread.
    rtimers: Arc<Rtimers>,
    /// The requests `uac_req_send` sent and waits on.
    uac_requests: Arc<sipwasm_routing::uac::Outstanding>,
    /// Shares and queues; `None` for a lone tenant without a worker share.
    queue: Option<EventQueue>,
    /// Registrations and bans shared with other routers (`[state] backend = "redis"`).
    state: Option<Arc<crate::state::RedisState>>,
    /// When it started serving.
    started: std::time::SystemTime,
    /// The config file it was started from.
    config_source: Option<std::path::PathBuf>,
}

use crate::now_unix;
use sipwasm_routing::auth::guard::DoorVerdict;
use sipwasm_routing::shadow::Decision;

/// How a route ended, as a [`Decision`] records it.
fn ending<E>(result: &Result<sipwasm_runtime::Verdict, E>) -> &'static str {
    match result {
        Ok(sipwasm_runtime::Verdict::Continue) => "continue",
        Ok(sipwasm_runtime::Verdict::Exit) => "exit",
        Ok(sipwasm_runtime::Verdict::Drop) => "drop",
        Err(_) => "error",
    }
}

/// Run the shadow version on `copy` of a request the live version decided as `live`, and
/// count how they compare. Nothing it asked for is done: its state is dropped here.
fn run_shadow(
    workers: &mut Workers,
    serving: &Serving,
    shadow: &Arc<crate::tenants::Shadow>,
    copy: RouteContext,
    live: &Decision,
) {
    let request = String::from_utf8_lossy(copy.msg().first_line()).into_owned();
    let call_id = String::from_utf8_lossy(copy.msg().call_id()).into_owned();
    let on = Serving {
        tenant: serving.tenant.clone(),
        version: shadow.version.clone(),
    };
    let outcome = workers.run(&on, Route::Request, copy);
    let decided = Decision::of(&outcome.event, ending(&outcome.result));
    shadow.record((&request, &call_id), live, &decided);
}

/// How long a connection carrying a registration stays open past the registration's
/// expiry: the UA re-registers shortly before it.
pub(crate) const FLOW_GRACE_SECS: u64 = 60;

/// True for datagrams that only keep a NAT binding open (CR, LF, spaces, NUL).
fn is_keepalive(data: &[u8]) -> bool {
    data.iter()
        .all(|&c| matches!(c, b'\r' | b'\n' | b' ' | b'\t' | 0))
}

impl Router {
    /// The shared state backend, when there is one.
    pub fn state(&self) -> Option<&Arc<crate::state::RedisState>> {
        self.state.as_ref()
    }

    /// When it started serving.
    pub fn started(&self) -> std::time::SystemTime {
        self.started
    }

    /// The config file it was started from, if any.
    pub fn config_source(&self) -> Option<&std::path::Path> {
        self.config_source.as_deref()
    }

    /// The router's identity (listeners, aliases) and its state.
    pub fn local(&self) -> &Arc<LocalConfig> {
        &self.local
    }

    /// The router's counters.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// `[security]`: failed authentications, bans, scanners.
    pub fn guard(&self) -> &sipwasm_routing::auth::guard::Guard {
        &self.local.guard
    }

    /// The stateful proxy (transaction counters).
    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// The tenants.
    pub fn tenants(&self) -> &Arc<Tenants> {
        &self.tenants
    }

    /// A tenant's worker share and queue, with its counters (`None` when nothing is
    /// scheduled: a lone tenant without a share).
    pub fn share_of(&self, tenant: usize) -> Option<(ShareLimits, LaneStats)> {
        let shares = self.queue.as_ref()?.lock();
        Some((shares.limits(tenant), shares.stats(tenant)))
    }

    fn deny(&self, serving: &Serving, what: &str, source: &Source) {
        bump(&self.stats.denied_events);
        serving.tenant.denied_events.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(tenant = %serving.tenant.name(), src = %source.src, "{what} not delivered: the tenant does not receive these events");
    }

    /// Send the tenant's fallback reply for a request its plugin did not handle.
    fn fallback_reply(&self, serving: &Serving, ctx: &mut RouteContext) {
        if let Fallback::Reply(code, reason) = serving.tenant.fallback() {
            bump(&self.stats.fallbacks);
            serving.tenant.fallbacks.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = ctx.send_reply(*code, reason) {
                tracing::warn!("fallback reply failed: {e}");
            }
        }
    }

    fn send(&self, out: Transmit) {
        self.outlet.send(out);
    }

    /// Where every message the router sends goes out, with the counters.
    pub fn outlet(&self) -> &Outlet {
        &self.outlet
    }

    /// Handle one received message on `worker`.
    pub fn handle(
        &self,
        workers: &mut Workers,
        data: Bytes,
        source: Source,
        framing_error: Option<&FrameError>,
    ) {
        bump(&self.stats.received);
        if let Some(err) = framing_error {
            bump(&self.stats.malformed);
            tracing::info!(src = %source.src, "unframeable stream data: {err}");
            let parse_err = match err {
                FrameError::TooLarge { limit } => sipwasm_proto::ParseError::TooLarge {
                    size: data.len(),
                    limit: *limit,
                },
                _ => sipwasm_proto::ParseError::header(
                    sipwasm_proto::HeaderName::ContentLength,
                    "cannot frame the message",
                ),
            };
            if let Some(out) = reply_to_malformed(&self.local, &data, &source, &parse_err) {
                self.send(out);
            }
            // framing is lost: the connection ends once the answer is written
            if let Some(conn) = source.conn {
                self.outlet.close(source.transport, conn);
            }
            return;
        }
        if is_keepalive(&data) {
            bump(&self.stats.keepalives);
            return;
        }
        let msg = match SipMessage::parse_or_return(data) {
            Ok(m) => {
                tracing::debug!(src = %source.src, proto = %source.transport, "recv {}", String::from_utf8_lossy(m.first_line()));
                m
            }
            Err((_, data)) if matches!(sniff(&data, true), Sniff::NotSip | Sniff::Msrp) => {
                // (MSRP runs over streams only: a datagram of it is just not SIP)
                // not a broken SIP message but no SIP at all: the nosip event's
                self.handle_nosip(workers, data, source);
                return;
            }
            Err((e, data)) => {
                bump(&self.stats.malformed);
                tracing::info!(src = %source.src, proto = %source.transport, "malformed SIP message: {e}");
                if let Some(out) = reply_to_malformed(&self.local, &data, &source, &e) {
                    self.send(out);
                }
                return;
            }
        };
        let is_request = msg.is_request();
        let method = msg.method();
        if is_request {
            bump(&self.stats.requests[method as usize]);
        } else if let Some(class) = msg.status().and_then(|s| (s / 100).checked_sub(1)) {
            bump(&self.stats.replies[usize::from(class).min(5)]);
        }
        // a transaction's ACK (of a local failure reply too: its To tag looks like a
        // stateless reply's) and retransmissions first: the transaction must see them
        if is_request && self.proxy.absorb_request(&msg) {
            return;
        }
        if method == Method::Ack
            && is_request
            && msg
                .to()
                .tag(msg.as_bytes())
                .is_some_and(|t| self.local.is_local_to_tag(t))
        {
            // the ACK for one of our stateless non-2xx replies: hop-by-hop, ends here
            bump(&self.stats.acks_absorbed);
            return;
        }
        if !is_request {
            match self
                .uac_requests
                .reply(&msg, source.src, std::time::Instant::now())
            {
                None => {}
                // an answer to the router's own request (uac_req_send): it ends here
                Some(ended) => {
                    if let Some(end) = ended {
                        tracing::debug!(src = %source.src, ?end, "uac_req_send answered");
                    }
                    return;
                }
            }
            if self
                .local
                .dispatcher
                .dispatcher()
                .probe_reply(&msg, source.src)
            {
                // a destination answering the dispatcher's probe: its state is updated
                bump(&self.stats.keepalives);
                return;
            }
            if self.local.is_nat_ping_reply(&msg) {
                // a UA answering our NAT ping: it is alive, nothing else to do
                bump(&self.stats.keepalives);
                return;
            }
            self.handle_reply(workers, msg, source);
            return;
        }
        // one clock read for the door and the route
        let now = now_unix();
        if !self.at_the_door(&msg, &source, now) {
            return;
        }
        if let Some(conn) = source.conn {
            self.accept_alias(&msg, &source, conn);
        }
        let serving = self.tenants.for_message(&msg, &source);
        let mut ctx = RouteContext::new(serving.tenant.local().clone(), msg, source, now);
        if !serving.tenant.events().sip {
            self.deny(&serving, "SIP request", &source);
            if method != Method::Ack {
                self.fallback_reply(&serving, &mut ctx);
            }
            for out in ctx.take_outbound() {
                self.send(out);
            }
            return;
        }
        let flow = ctx.source().conn;
        self.dispatch(workers, serving, flow, Work::Request(ctx));
    }

    /// `[security]` before any plugin: a banned source's requests are dropped (or
    /// answered 403), a scanner's dropped. False when the request goes no further.
    fn at_the_door(&self, msg: &SipMessage, source: &Source, now: u64) -> bool {
        let guard = &self.local.guard;
        match guard.admit(source.src.ip(), now) {
            DoorVerdict::Pass => {}
            DoorVerdict::Drop => return false,
            DoorVerdict::Forbid => {
                if msg.method() != Method::Ack {
                    let mut ctx = RouteContext::new(self.local.clone(), msg.clone(), *source, now);
                    if let Err(e) = ctx.send_reply(403, "Forbidden") {
                        tracing::debug!(src = %source.src, "403 to a banned source not sent: {e}");
                    }
                    for out in ctx.take_outbound() {
                        self.send(out);
                    }
                }
                return false;
            }
        }
        if let Some(ua) = msg.header_of(sipwasm_proto::HeaderName::UserAgent)
            && guard.is_scanner(ua)
        {
            tracing::debug!(src = %source.src, "scanner dropped: {}", String::from_utf8_lossy(ua));
            return false;
        }
        true
    }

    /// `request_route` for a request, then what it asked for.
    fn run_request(&self, workers: &mut Workers, serving: &Serving, ctx: RouteContext) {
        let method = ctx.msg().method();
        // a version in shadow sees a copy of each new request (in-dialog requests follow
        // their route set, not the plugin's choices; ACK and CANCEL have none to make)
        let shadow = serving
            .tenant
            .shadow()
            .filter(|_| !ctx.has_totag() && !matches!(method, Method::Ack | Method::Cancel))
            .map(|s| {
                let copy = ctx.for_shadow(s.local.clone());
                (s, copy)
            });
        let mut outcome = workers.run(serving, Route::Request, ctx);
        let live = shadow
            .as_ref()
            .map(|_| Decision::of(&outcome.event, ending(&outcome.result)));
        let failed = outcome.result.is_err();
        if failed {
            // a crashed route's half-done transaction work is discarded
            outcome.event.take_intents();
            self.proxy.abandon(&mut outcome.event);
            if method != Method::Ack && !outcome.event.final_replied() {
                self.fallback_reply(serving, &mut outcome.event);
            }
        }
        for out in outcome.event.take_outbound() {
            self.send(out);
        }
        for (conn, secs) in outcome.event.take_keep_flows() {
            // a registration lives on this connection: it stays open as long (and a
            // little longer, for the re-registration to arrive on it)
            self.outlet
                .keep_open(conn, secs.saturating_add(FLOW_GRACE_SECS));
        }
        self.proxy
            .apply_request_intents(workers, serving, outcome.event);
        self.proxy.run_resumes(workers);
        if let (Some((shadow, copy)), Some(live)) = (shadow, live) {
            run_shadow(workers, serving, &shadow, copy, &live);
        }
    }

    /// Run `work` now on this thread, queue it past its tenant's share, or refuse it.
    /// `flow` is the stream connection it came on (its events keep their order).
    fn dispatch(&self, workers: &mut Workers, serving: Serving, flow: Option<u64>, work: Work) {
        self.admit(workers, serving, flow, work, true);
    }

    /// [`Self::dispatch`]; with `drain`, a thread that ran the event goes on with the
    /// tenant's waiting ones (a reader's), else it gives its slot back at once (the timer
    /// thread: every tenant's timers wait on it).
    fn admit(
        &self,
        workers: &mut Workers,
        serving: Serving,
        flow: Option<u64>,
        work: Work,
        drain: bool,
    ) {
        let Some(queue) = &self.queue else {
            return self.execute(workers, &serving, work);
        };
        let tenant = serving.tenant.index();
        let standing = serving.tenant.standing();
        let job = Job { serving, work };
        let admitted = {
            let mut shares = queue.lock();
            if queue.closed.load(Ordering::Relaxed) {
                Admission::Overflow(job)
            } else {
                shares.admit(tenant, standing, flow, job)
            }
        };
        match admitted {
            Admission::Run(slot, job) => {
                let mut held = Held {
                    queue,
                    slot: Some(slot),
                };
                self.execute(workers, &job.serving, job.work);
                if !drain {
                    return;
                }
                // the tenant's own waiting events next, on this thread, while it stays
                // in good standing
                while let Some(slot) = held.slot.take() {
                    let standing = self.tenants.list()[slot.tenant()].standing();
                    let Some((slot, job)) = queue.hand_off(slot, Some(standing)) else {
                        break;
                    };
                    held.slot = Some(slot);
                    self.execute(workers, &job.serving, job.work);
                }
            }
            Admission::Refuse(job) => {
                if let Standing::Refused(why) = standing {
                    job.serving.tenant.account().refuse(why);
                }
                self.refuse(workers, job);
            }
            Admission::Queued => queue.ready.notify_one(),
            Admission::Overflow(job) => {
                tracing::debug!(tenant = %job.serving.tenant.name(), "event refused: the tenant's queue is full");
                self.refuse(workers, job);
            }
        }
    }

    /// Run one event on `serving`'s plugin and act on its outcome.
    fn execute(&self, workers: &mut Workers, serving: &Serving, work: Work) {
        match work {
            Work::Request(ctx) => self.run_request(workers, serving, ctx),
            Work::Reply(ctx, matched) => self.run_reply(workers, serving, ctx, matched),
            Work::Nosip(event) => self.run_nosip(workers, serving, event),
            Work::Msrp(event) => self.run_msrp(workers, serving, event),
            Work::Timer(event) => self.run_timer(workers, serving, event),
        }
    }

    /// An event not run (its tenant refused, its queue full, the server stopping): a
    /// request gets the tenant's fallback, a reply goes on to its transaction as if the
    /// plugin had no reply route, a non-SIP packet or an MSRP frame is dropped.
    fn refuse(&self, workers: &mut Workers, job: Job) {
        match job.work {
            Work::Request(mut ctx) => {
                if ctx.msg().method() != Method::Ack {
                    self.fallback_reply(&job.serving, &mut ctx);
                }
                for out in ctx.take_outbound() {
                    self.send(out);
                }
            }
            Work::Reply(ctx, matched) => {
                let source = *ctx.source();
                self.proxy
                    .on_reply(workers, matched, ctx.msg().clone(), source);
            }
            Work::Nosip(_) | Work::Msrp(_) => {}
            Work::Timer(event) => {
                bump(&self.stats.timer_events_refused);
                tracing::debug!(tenant = %job.serving.tenant.name(), route = %event.kind().route_name(), "timer event not run: its tenant is refused or its queue is full");
            }
        }
    }

    /// A queue worker: runs the events queued past their tenants' shares or held back
    /// from the readers, until the server stops.
    fn serve_queue(&self, workers: &mut Workers) {
        let queue = self.queue.as_ref().expect("queue workers run with a queue");
        let tenants = self.tenants.list();
        let mut shares = queue.lock();
        loop {
            if queue.closed.load(Ordering::Relaxed) {
                let left = shares.drain();
                drop(shares);
                // stopping: what waited is answered as refused, not dropped unanswered
                for job in left {
                    self.refuse(workers, job);
                }
                return;
            }
            let Some((slot, job)) = shares.next(|i| tenants[i].standing()) else {
                shares = queue
                    .ready
                    .wait_timeout(shares, QUEUE_POLL)
                    .expect("not poisoned")
                    .0;
                continue;
            };
            drop(shares);
            match slot {
                Ok(slot) => {
                    let _held = Held {
                        queue,
                        slot: Some(slot),
                    };
                    self.execute(workers, &job.serving, job.work);
                }
                Err(why) => {
                    job.serving.tenant.account().refuse(why);
                    self.refuse(workers, job);
                }
            }
            self.proxy.reap_worker();
            shares = queue.lock();
        }
    }

    /// RFC 5923 connection reuse: a request over TLS whose top Via says `alias` lets the
    /// connection carry requests to the Via's port too (the sender's listening port) —
    /// for the sender's own IP only, and never in place of a connection that really is
    /// from that address. (Plain TCP is not trusted with it, as the RFC says.)
    fn accept_alias(&self, msg: &SipMessage, source: &Source, conn: u64) {
        if source.transport != Transport::Tls {
            return;
        }
        let via = msg.top_via();
        let b = msg.as_bytes();
        if via.param(b, b"alias").is_none() {
            return;
        }
        let same_host = sipwasm_proto::reply::parse_host_ip(via.host(b)) == Some(source.src.ip());
        if let (true, Some(port)) = (same_host, via.port) {
            self.outlet.add_alias(conn, port);
        }
    }

    /// One message a TCP or TLS connection's reader handed to this worker's lane.
    fn handle_job(&self, workers: &mut Workers, job: Incoming) {
        let source = Source {
            transport: job.transport,
            src: job.src,
            local: job.local,
            conn: Some(job.conn),
        };
        if let Some(frame) = job.msrp {
            bump(&self.stats.received);
            self.handle_msrp(workers, frame, source);
        } else if job.nosip {
            bump(&self.stats.received);
            self.handle_nosip(workers, job.data, source);
        } else {
            self.handle(workers, job.data, source, job.framing_error.as_ref());
        }
    }

    /// An MSRP frame: `event_route[msrp:frame-in]`. Dropped when the plugin has no
    /// `msrp-events` export.
    pub fn handle_msrp(
        &self,
        workers: &mut Workers,
        frame: sipwasm_proto::msrp::MsrpFrame,
        source: Source,
    ) {
        let serving = self.tenants.for_source(&source);
        if !serving.tenant.events().msrp {
            self.deny(&serving, "MSRP frame", &source);
            return;
        }
        if !serving.plugin().has_msrp_events() {
            tracing::debug!(src = %source.src, "MSRP frame dropped: the plugin does not export msrp-events");
            return;
        }
        bump(&self.stats.msrp_frames);
        self.stats
            .msrp_bytes
            .fetch_add(frame.as_bytes().len() as u64, Ordering::Relaxed);
        let flow = source.conn;
        let event = MsrpEvent::new(serving.tenant.local().clone(), frame, source, now_unix());
        self.dispatch(workers, serving, flow, Work::Msrp(event));
    }

    fn run_msrp(&self, workers: &mut Workers, serving: &Serving, event: MsrpEvent) {
        let mut outcome = workers.run_msrp(serving, event);
        for out in outcome.event.take_outbound() {
            bump(&self.stats.msrp_frames_sent);
            self.stats
                .msrp_bytes_sent
                .fetch_add(out.data.len() as u64, Ordering::Relaxed);
            self.send(out);
        }
        self.proxy.run_resumes(workers);
    }

    /// A packet that is not SIP (a UDP datagram, or a line of a TCP connection that does
    /// not speak SIP): `event_route[nosip:msg]` when it passes the filter. Nothing about
    /// these is logged above debug level: keep-alives and scanners would flood the log.
    pub fn handle_nosip(&self, workers: &mut Workers, data: Bytes, source: Source) {
        if let Err(why) = self.nosip.check(&data) {
            bump(&self.stats.nosip_ignored);
            tracing::debug!(src = %source.src, proto = %source.transport, len = data.len(), "non-SIP packet ignored: {why:?}");
            return;
        }
        let serving = self.tenants.for_source(&source);
        if !serving.tenant.events().nosip {
            bump(&self.stats.nosip_ignored);
            self.deny(&serving, "non-SIP packet", &source);
            return;
        }
        if !serving.plugin().has_nosip_events() {
            bump(&self.stats.nosip_ignored);
            tracing::debug!(src = %source.src, "non-SIP packet ignored: the plugin does not export nosip-events");
            return;
        }
        bump(&self.stats.nosip_events);
        let flow = source.conn;
        let event = RawEvent::new(serving.tenant.local().clone(), data, source, now_unix());
        self.dispatch(workers, serving, flow, Work::Nosip(event));
    }

    /// The timer thread: runs the plugins' timers, one-shots and expiry events as they
    /// come due, until the server stops.
    fn run_timers(&self, workers: &mut Workers) {
        while let Some((_, due)) = self.rtimers.next_due() {
            match due {
                Due::Tick { tenant, timer } => {
                    self.timer_event(workers, tenant, TimerKind::Tick { name: timer.name });
                }
                Due::Once { tenant, shot } => {
                    let kind = TimerKind::Once {
                        name: shot.name,
                        data: shot.data,
                    };
                    self.timer_event(workers, tenant, kind);
                }
                Due::Sweep => {
                    let expired = self
                        .local
                        .htables
                        .take_expired(now_unix(), crate::rtimer::SWEEP_LIMIT);
                    for (table, key, value) in expired {
                        for tenant in self.tenants.list() {
                            if tenant.config.grants.htables.contains(&table) {
                                let kind = TimerKind::Expired {
                                    table: table.clone(),
                                    key: key.clone(),
                                    value: value.clone(),
                                };
                                self.timer_event(workers, tenant.index(), kind);
                            }
                        }
                    }
                }
            }
            self.proxy.reap_worker();
        }
    }

    /// Run `kind` on the tenant at `tenant`, through its share like any event.
    fn timer_event(&self, workers: &mut Workers, tenant: usize, kind: TimerKind) {
        let serving = self.tenants.serving(tenant);
        if !serving.plugin().has_event_routes() {
            tracing::debug!(tenant = %serving.tenant.name(), route = %kind.route_name(), "timer event dropped: the plugin does not export event-routes");
            return;
        }
        bump(&self.stats.timer_events);
        let event = TimerEvent::new(serving.tenant.local().clone(), kind, now_unix());
        self.admit(workers, serving, None, Work::Timer(event), false);
    }

    fn run_timer(&self, workers: &mut Workers, serving: &Serving, event: TimerEvent) {
        let mut outcome = workers.run_timer(serving, event);
        for out in outcome.event.take_outbound() {
            self.send(out);
        }
        self.proxy.run_resumes(workers);
    }

    fn run_nosip(&self, workers: &mut Workers, serving: &Serving, event: RawEvent) {
        let mut outcome = workers.run_nosip(serving, event);
        // replies queued before a failure still go: they were complete when queued
        for out in outcome.event.take_outbound() {
            self.send(out);
        }
        self.proxy.run_resumes(workers);
    }

    /// A reply: `reply_route` first (it may change or drop it), then the transaction layer.
    /// Both run on the tenant and version of the reply's transaction; a reply without one
    /// goes to the tenant chosen as for a request.
    fn handle_reply(&self, workers: &mut Workers, msg: SipMessage, source: Source) {
        let matched = self.proxy.match_reply(&msg);
        let serving = match &matched {
            Some(m) => m.serving.clone(),
            None => self.tenants.for_message(&msg, &source),
        };
        let ctx = RouteContext::new(serving.tenant.local().clone(), msg, source, now_unix());
        if !serving.tenant.events().sip {
            // not delivered to the plugin, but a reply of a transaction still goes on
            self.deny(&serving, "SIP reply", &source);
            self.proxy
                .on_reply(workers, matched, ctx.msg().clone(), source);
            return;
        }
        let flow = source.conn;
        self.dispatch(workers, serving, flow, Work::Reply(ctx, matched));
    }

    /// `reply_route` for a reply, then the transaction layer.
    fn run_reply(
        &self,
        workers: &mut Workers,
        serving: &Serving,
        ctx: RouteContext,
        matched: Option<MatchedReply>,
    ) {
        let source = *ctx.source();
        let outcome = workers.run(serving, Route::Reply, ctx);
        let mut ctx = outcome.event;
        for out in ctx.take_outbound() {
            self.send(out);
        }
        if outcome.result == Ok(Verdict::Drop) || ctx.is_dropped() {
            return;
        }
        let msg = if ctx.lumps().is_empty() {
            ctx.msg().clone()
        } else {
            match SipMessage::parse(Bytes::from(ctx.rendered())) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(
                        "reply_route changes broke the reply, forwarding it unchanged: {e}"
                    );
                    ctx.msg().clone()
                }
            }
        };
        self.proxy.on_reply(workers, matched, msg, source);
        self.proxy.run_resumes(workers);
    }
}

/// A running server: its addresses, and the way to stop it.
pub struct Server {
    router: Arc<Router>,
    addrs: Vec<(Transport, SocketAddr)>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    timer_thread: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    tcp_jobs: Vec<async_channel::Receiver<Incoming>>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener's address could not be read.
    #[error("listener: {0}")]
    Listener(std::io::Error),
    /// A plugin instance could not be created.
    #[error("plugin {name}")]
    Plugin {
        /// Plugin name.
        name: String,
        /// What failed.
        #[source]
        error: sipwasm_runtime::RuntimeError,
    },
    /// A worker thread could not be started.
    #[error("starting a worker thread: {0}")]
    Thread(std::io::Error),
    /// The TLS certificate or key could not be used.
    #[error("{0}")]
    Tls(sipwasm_transport::TlsError),
    /// The state backend's settings were refused.
    #[error("{0}")]
    State(crate::state::StateError),
    /// A dispatcher set was refused.
    #[error("{0}")]
    Dispatcher(sipwasm_routing::dispatcher::SetError),
    /// An htable asks for expiry events its store cannot give.
    #[error(
        "htable {0:?}: expired_event needs the tables in this router's memory, not in Redis ([state] backend = \"memory\")"
    )]
    ExpiredEventShared(String),
}

impl Server {
    /// Start serving `listeners` with `tenants`. Must be called within a tokio runtime
    /// (TCP runs on it). Plugin instances are created before this returns, so a plugin
    /// that cannot be instantiated fails the start, not the first message.
    pub fn start(
        settings: ServerSettings,
        tenants: Arc<Tenants>,
        listeners: Vec<BoundListener>,
    ) -> Result<Server, StartError> {
        let mut addrs = Vec::new();
        for l in &listeners {
            addrs.push((l.transport(), l.local_addr().map_err(StartError::Listener)?));
        }
        let tls = match &settings.tls {
            Some(t) => Some(sipwasm_transport::TlsContext::load(t).map_err(StartError::Tls)?),
            None if addrs.iter().any(|(t, _)| *t == Transport::Tls) => {
                return Err(StartError::Tls(sipwasm_transport::TlsError::Pem {
                    path: Default::default(),
                    message: "a tls: listener needs [tls] certificate and private_key".into(),
                }));
            }
            None => None,
        };
        let asks_for_certificates = settings.listen.iter().any(|l| l.client_cert.is_some());
        if asks_for_certificates && settings.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
            return Err(StartError::Tls(sipwasm_transport::TlsError::NoClientCa));
        }
        let runtime = tokio::runtime::Handle::current();
        let resolver = Arc::new(Resolver::new(&settings.dns, runtime.clone()));
        let table = Arc::new(crate::proxy::Transactions::default());
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            // a stream listener's own idle timeout and client certificates, from its spec
            let spec = settings.listen.get(i);
            let idle = spec.and_then(|s| s.idle_timeout);
            let client_cert = spec.and_then(|s| s.client_cert);
            match l {
                BoundListener::Udp(s) => udp.push(Arc::new(s)),
                BoundListener::Tcp(s) => tcp.push((s, Transport::Tcp, idle, None)),
                BoundListener::Tls(s) => tcp.push((s, Transport::Tls, idle, client_cert)),
            }
        }
        // one lane per TCP worker: a connection's messages stay in order on one worker
        let (lane_tx, lane_rx): (Vec<_>, Vec<_>) = (0..settings.workers)
            .map(|_| async_channel::bounded::<Incoming>(1024))
            .unzip();
        let connections = (!tcp.is_empty()).then(|| {
            let connections =
                ConnectionTable::with_tls(settings.tcp, lane_tx, runtime.clone(), tls.clone());
            connections.set_undelivered_hook(Arc::new(answer_undelivered_msrp));
            connections
        });
        let state = match &settings.state {
            sipwasm_config::StateBackend::Memory => None,
            sipwasm_config::StateBackend::Redis {
                url,
                key_prefix,
                timeout,
                tls,
            } => Some(
                crate::state::RedisState::start(url, key_prefix, *timeout, tls.as_ref(), &runtime)
                    .map_err(StartError::State)?,
            ),
        };
        let dispatcher = Arc::new(
            sipwasm_routing::dispatcher::Dispatcher::new(
                settings.dispatcher.sets.clone(),
                settings.dispatcher.probing.clone(),
            )
            .map_err(StartError::Dispatcher)?,
        );
        let uac_requests = Arc::new(sipwasm_routing::uac::Outstanding::default());
        let rtimers = Arc::new(Rtimers::new(
            tenants.list().iter().map(|t| t.config.timers.as_slice()),
            settings.htables.iter().any(|h| h.expired_event),
        ));
        let mut local_config = router_identity(
            &settings,
            &addrs,
            crate::proxy::services(
                resolver.clone(),
                &table,
                connections.clone(),
                rtimers.clone(),
                uac_requests.clone(),
            ),
        )
        .with_dispatcher(dispatcher.clone());
        // routers sharing Redis and no configured secret agree on one there
        let shared_secret = match (&state, &settings.secret) {
            (Some(state), None) => Some(state.shared_secret().map_err(StartError::State)?),
            _ => None,
        };
        if let Some(secret) = &shared_secret {
            local_config = local_config.with_secret(secret.as_bytes());
        }
        if let Some(state) = &state {
            if let Some(t) = settings.htables.iter().find(|t| t.expired_event) {
                return Err(StartError::ExpiredEventShared(t.name.clone()));
            }
            let tenant = tenants.default_tenant().name();
            local_config = local_config
                .with_location(sipwasm_routing::registrar::Location::shared(
                    state.location(tenant),
                ))
                .with_nonce_ledger(state.nonces(tenant));
            local_config.htables =
                sipwasm_routing::Htables::with_stores(&settings.htables, |spec| state.htable(spec));
        }
        let local = Arc::new(local_config);
        if let Some(state) = &state {
            state.share_bans(&local.guard);
        }
        let outlet = Outlet::new(udp.clone(), connections.clone());
        tenants.bind(&local, &settings.listen, &addrs, state.as_ref());
        let proxy = Proxy::new(ProxyParts {
            table,
            resolver,
            local: local.clone(),
            outlet: outlet.clone(),
            tenants: tenants.clone(),
            timers: settings.timers,
            natping: settings.natping.clone(),
        });
        if settings.secret.is_none() && shared_secret.is_none() {
            tracing::info!(
                "no [router] secret: Record-Routes are signed with a key of this process; \
                 dialogs do not outlive a restart"
            );
        }
        let queue_workers = tenants.queue_workers(settings.workers);
        let queue = (queue_workers > 0).then(|| EventQueue {
            shares: Mutex::new(Shares::new(tenants.list().iter().map(|t| ShareLimits {
                workers: match t.config.limits.worker_share {
                    0 => usize::MAX,
                    n => n,
                },
                queue: t.config.limits.queue,
            }))),
            ready: Condvar::new(),
            closed: AtomicBool::new(false),
        });
        let router = Arc::new(Router {
            local,
            tenants: tenants.clone(),
            nosip: settings.nosip.clone(),
            outlet,
            stats: RouterStats::default(),
            proxy: proxy.clone(),
            rtimers,
            uac_requests,
            queue,
            state: state.clone(),
            started: std::time::SystemTime::now(),
            config_source: settings.config_source.clone(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let new_worker = || -> Result<Workers, StartError> {
            let mut w = Workers::new(tenants.clone());
            w.warm_up().map_err(|error| StartError::Plugin {
                name: tenants.default_tenant().name().to_string(),
                error,
            })?;
            Ok(w)
        };
        for sock in &udp {
            let local_addr = sock.local_addr().map_err(StartError::Listener)?;
            for n in 0..settings.workers {
                let mut worker = new_worker()?;
                let (sock, router, stop) = (sock.clone(), router.clone(), stop.clone());
                let t = std::thread::Builder::new()
                    .name(format!("sipwasm-udp-{}-{n}", local_addr.port()))
                    .spawn(move || {
                        router.proxy.settle_worker();
                        sipwasm_transport::udp::serve(&sock, &stop, |data, src| {
                            let source = Source {
                                transport: Transport::Udp,
                                src,
                                local: local_addr,
                                conn: None,
                            };
                            router.handle(&mut worker, data, source, None);
                            router.proxy.reap_worker();
                        });
                    })
                    .map_err(StartError::Thread)?;
                threads.push(t);
            }
        }
        for n in 0..queue_workers {
            let mut worker = new_worker()?;
            let router = router.clone();
            let t = std::thread::Builder::new()
                .name(format!("sipwasm-queue-{n}"))
                .spawn(move || {
                    router.proxy.settle_worker();
                    router.serve_queue(&mut worker);
                })
                .map_err(StartError::Thread)?;
            threads.push(t);
        }
        let timer_worker = new_worker()?;
        let timer_proxy = proxy.clone();
        let timer_thread = std::thread::Builder::new()
            .name("sipwasm-timer".into())
            .spawn(move || timer_proxy.timer_loop(timer_worker))
            .map_err(StartError::Thread)?;
        // (always: any plugin may ask for a one-shot timer)
        let mut rtimer_worker = new_worker()?;
        let rtimer_router = router.clone();
        threads.push(
            std::thread::Builder::new()
                .name("sipwasm-rtimer".into())
                .spawn(move || {
                    rtimer_router.proxy.settle_worker();
                    rtimer_router.run_timers(&mut rtimer_worker);
                })
                .map_err(StartError::Thread)?,
        );
        let mut tasks = Vec::new();
        let tcp_jobs = if let Some(connections) = connections {
            for (n, rx) in lane_rx.iter().enumerate() {
                let mut worker = new_worker()?;
                let (rx, router) = (rx.clone(), router.clone());
                let t = std::thread::Builder::new()
                    .name(format!("sipwasm-tcp-{n}"))
                    .spawn(move || {
                        router.proxy.settle_worker();
                        while let Ok(job) = rx.recv_blocking() {
                            router.handle_job(&mut worker, job);
                            router.proxy.reap_worker();
                        }
                    })
                    .map_err(StartError::Thread)?;
                threads.push(t);
            }
            for (l, transport, idle, client_cert) in tcp {
                let accepting =
                    connections
                        .clone()
                        .accept_loop_with(l, transport, idle, client_cert);
                tasks.push(runtime.spawn(accepting));
            }
            lane_rx
        } else {
            Vec::new()
        };
        // (always: `dispatcher.reload` may add the first sets)
        tasks.push(runtime.spawn(probe_destinations(router.clone())));
        tracing::info!(
            tenants = tenants.list().len(),
            default_tenant = tenants.default_tenant().name(),
            workers = settings.workers,
            queue_workers,
            "sipwasm listening on {}",
            addrs
                .iter()
                .map(|(t, a)| format!("{t}:{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Server {
            router,
            addrs,
            stop,
            threads,
            timer_thread: Some(timer_thread),
            tasks,
            tcp_jobs,
        })
    }

    /// The bound addresses (with real ports when 0 was asked for).
    pub fn addrs(&self) -> &[(Transport, SocketAddr)] {
        &self.addrs
    }

    /// The first bound address of `transport`.
    pub fn addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
    }

    /// The routing core (for its counters).
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// Stop accepting, let workers finish the message in hand, and join them.
    pub async fn shutdown(mut self) {
        let tm = &self.router.proxy.table().stats;
        tracing::info!(
            created = tm.created.load(Ordering::Relaxed),
            removed = tm.removed.load(Ordering::Relaxed),
            live = self.router.proxy.table().len(),
            retransmissions_absorbed = tm.retransmissions_absorbed.load(Ordering::Relaxed),
            failure_routes = tm.failure_routes.load(Ordering::Relaxed),
            suspended = tm.suspended.load(Ordering::Relaxed),
            resumed = tm.resumed.load(Ordering::Relaxed),
            "transactions"
        );
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks.drain(..) {
            t.abort();
        }
        for rx in self.tcp_jobs.drain(..) {
            rx.close();
        }
        self.router.proxy.stop();
        self.router.rtimers.stop();
        if let Some(q) = &self.router.queue {
            q.close();
        }
        let mut threads = std::mem::take(&mut self.threads);
        threads.extend(self.timer_thread.take());
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }

    /// Serve until `signal` resolves, then shut down.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::is_keepalive;

    #[test]
    fn keepalives() {
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(is_keepalive(b"\r\n"));
        assert!(is_keepalive(b""));
        assert!(is_keepalive(b"\0"));
        assert!(!is_keepalive(b"OPTIONS"));
    }
}
