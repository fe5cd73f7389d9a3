//! The stateful proxy around the sans-IO transaction cells: the transaction table, the
//! timer thread, and applying what routes asked for (`t_relay`, `t_reply`, CANCEL) with
//! branch, onreply and failure routes run on the calling worker's plugin instance.
//!
//! A cell is locked by the worker (or the timer thread) handling an event for it, for the
//! whole event including the plugin routes it runs; other events for the same transaction
//! wait for it, as Kamailio's reply lock does. Different transactions never share a lock
//! beyond the brief table lookups.

use crate::config::Fallback;
use crate::dns::Resolver;
use crate::graveyard::Graveyard;
use crate::tenants::{Serving, Tenant, Tenants, Workers};
use bytes::Bytes;
use sipwasm_proto::Transmit;
use sipwasm_proto::reply::response_target_rport;
use sipwasm_proto::{Method, SipMessage};
use sipwasm_routing::dialog::StartError;
use sipwasm_routing::forward::{ForwardSpec, build_request, stateless_reply_hop};
use sipwasm_routing::{
    Branch, LocalConfig, NextHop, ResolveError, Resume, RouteContext, Services, Source, TmError,
    TmIntent, TxInfo,
};
use sipwasm_runtime::{Route, Verdict};
use sipwasm_tm::{
    Cell, CellId, FinalReply, KeyFor, LocalReplies, Relay, ResponseStep, ServerKey, ServerState,
    Target, TimerConfig, TimerWheel, branch_param, parse_branch,
};
use sipwasm_transport::Outlet;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a cell keeps of the request route: its whole state, for later routes.
pub struct Saved {
    /// The request route's context after it returned (flags, `$avp`, `$du`, lumps ...).
    pub ctx: RouteContext,
    key: ServerKey,
    /// The tenant and plugin version the request route ran on: every later route of the
    /// transaction runs on it too, even after a newer version was swapped in.
    pub serving: Serving,
    /// Branches whose destination has further addresses to try (DNS failover).
    failover: Vec<Failover>,
    /// The earliest deadline of this cell in the timer heap, if any. A later deadline is
    /// not pushed while an earlier entry waits: that entry re-pushes when it fires, so
    /// the heap holds about one entry per cell instead of one per message handled.
    heap_at: std::cell::Cell<Option<Instant>>,
}

/// A branch that can be sent again to the next address of its destination.
struct Failover {
    /// Its index in the cell.
    branch: u16,
    /// The context its request is built from (after its branch route).
    ctx: RouteContext,
    /// The branch.
    target: Branch,
    /// The addresses not tried yet.
    hops: Vec<NextHop>,
}

type CellRef = Arc<Mutex<Cell<Saved>>>;

/// Where the cells a worker made are dropped: by that worker, after its next event
/// (see [`crate::graveyard`]).
type CellGrave = Arc<Graveyard<CellRef>>;

thread_local! {
    /// This thread's graveyard, when it is a worker ([`Proxy::settle_worker`]).
    static HOME: std::cell::OnceCell<CellGrave> = const { std::cell::OnceCell::new() };
}

/// How long finished cells may wait for a worker that gets no events before the timer
/// thread drops them itself.
const GRAVE_PATIENCE: Duration = Duration::from_secs(1);

/// The cells of a [`TxTable`], by [`CellId::index`].
#[derive(Default)]
struct Slots {
    entries: Vec<Option<Slot>>,
    /// Indexes of `entries` that hold no cell.
    free: Vec<u32>,
}

struct Slot {
    label: u32,
    cell: CellRef,
    /// Whose transaction it is; kept outside the cell's lock, so that checking it never
    /// waits for (or deadlocks on) a route holding the cell.
    tenant: Arc<Tenant>,
    /// The graveyard of the worker that made it: the cell is dropped there when it ends.
    home: Option<CellGrave>,
}

/// A reply matched to its transaction.
pub struct MatchedReply {
    id: CellId,
    branch: u16,
    cell: CellRef,
    /// Who runs the transaction's routes.
    pub serving: Serving,
}

/// Counters of the transaction layer.
#[derive(Debug, Default)]
pub struct TmStats {
    /// Transactions created.
    pub created: AtomicU64,
    /// Transactions finished and removed.
    pub removed: AtomicU64,
    /// Request retransmissions absorbed.
    pub retransmissions_absorbed: AtomicU64,
    /// ACKs of non-2xx replies absorbed.
    pub acks_absorbed: AtomicU64,
    /// Branches sent.
    pub branches: AtomicU64,
    /// Failure routes run.
    pub failure_routes: AtomicU64,
    /// Transactions suspended (`t_suspend`).
    pub suspended: AtomicU64,
    /// Suspended transactions resumed (`t_continue`).
    pub resumed: AtomicU64,
    /// Replies forwarded without a transaction.
    pub stateless_replies: AtomicU64,
    /// NAT pings sent to registered contacts.
    pub nat_pings: AtomicU64,
    /// Finished transactions freed by the worker that made them (after its next event).
    pub freed_by_worker: AtomicU64,
    /// Finished transactions freed by the timer thread, their worker having had no event
    /// for [`GRAVE_PATIENCE`].
    pub freed_by_sweep: AtomicU64,
}

/// How late a transaction timer may fire: the timer wheel's granule, whose deadlines the
/// timer thread handles in one batch. Kamailio's timer ticks every 62.5 ms; 20 ms keeps
/// retransmissions (T1 = 500 ms) on time while the timer thread wakes at most 50 times a
/// second under load.
const TIMER_GRANULE: Duration = Duration::from_millis(20);

/// Most failure routes of one transaction in a row whose new branches all failed at once.
const MAX_FAILURE_ROUNDS: usize = 8;

/// Granules in the wheel's ring (41 s ahead); later deadlines wait in its small heap.
const TIMER_SLOTS: usize = 2048;

/// The transaction deadlines and when the timer thread means to wake up.
struct Timers {
    wheel: TimerWheel<CellId>,
    /// Set while the timer thread waits: a deadline due before it wakes it up.
    sleeping_until: Option<Instant>,
}

/// Every live transaction.
pub struct TxTable {
    by_key: Mutex<HashMap<ServerKey, CellId>>,
    /// The cells by index, and the free indexes, under one lock: `free` once had its own,
    /// taken inside the slots' lock by `remove` and around it by `insert`, and a worker
    /// and the timer thread deadlocked on the two under load.
    slots: Mutex<Slots>,
    next_label: AtomicU32,
    /// Keys that turn `next_label` into a label nobody can guess from another
    /// transaction's branch (replies are matched by branch alone, from any source).
    label_keys: std::collections::hash_map::RandomState,
    timers: Mutex<Timers>,
    wake: Condvar,
    /// Transactions waiting for `t_continue`. Kept outside the cells: `t_continue` may be
    /// called from a route that holds a cell's lock (even the same cell's).
    suspended: Mutex<HashSet<CellId>>,
    /// Size of `suspended`, so that finishing a transaction takes no lock when nothing is
    /// suspended (the usual case).
    suspended_len: AtomicUsize,
    /// `t_continue`s accepted and not yet run.
    resumes: Mutex<VecDeque<(CellId, String)>>,
    /// The graveyards of this router's workers, swept by the timer thread.
    graveyards: Mutex<Vec<CellGrave>>,
    /// Counters.
    pub stats: TmStats,
}

impl TxTable {
    fn new() -> Self {
        TxTable {
            by_key: Mutex::new(HashMap::new()),
            slots: Mutex::new(Slots::default()),
            next_label: AtomicU32::new(1),
            label_keys: std::collections::hash_map::RandomState::new(),
            timers: Mutex::new(Timers {
                wheel: TimerWheel::new(Instant::now(), TIMER_GRANULE, TIMER_SLOTS),
                sleeping_until: None,
            }),
            wake: Condvar::new(),
            suspended: Mutex::new(HashSet::new()),
            suspended_len: AtomicUsize::new(0),
            resumes: Mutex::new(VecDeque::new()),
            graveyards: Mutex::new(Vec::new()),
            stats: TmStats::default(),
        }
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.by_key.lock().expect("not poisoned").len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: CellId) -> Option<CellRef> {
        let slots = self.slots.lock().expect("not poisoned");
        match slots.entries.get(id.index as usize) {
            Some(Some(s)) if s.label == id.label => Some(s.cell.clone()),
            _ => None,
        }
    }

    /// The cell `id` if it belongs to `tenant`: a plugin never sees another tenant's
    /// transactions.
    fn get_for(&self, id: CellId, tenant: &Arc<Tenant>) -> Option<CellRef> {
        let slots = self.slots.lock().expect("not poisoned");
        match slots.entries.get(id.index as usize) {
            Some(Some(s)) if s.label == id.label && Arc::ptr_eq(&s.tenant, tenant) => {
                Some(s.cell.clone())
            }
            _ => None,
        }
    }

    fn find(&self, key: &ServerKey) -> Option<(CellId, CellRef)> {
        let id = *self.by_key.lock().expect("not poisoned").get(key)?;
        self.get(id).map(|c| (id, c))
    }

    /// Insert a cell built by `make` for `key`, unless one exists (then return it).
    fn insert(
        &self,
        key: ServerKey,
        tenant: &Arc<Tenant>,
        make: impl FnOnce(CellId) -> Cell<Saved>,
    ) -> (CellId, CellRef, bool) {
        let mut by_key = self.by_key.lock().expect("not poisoned");
        if let Some(id) = by_key.get(&key).copied()
            && let Some(c) = self.get(id)
        {
            return (id, c, false);
        }
        let index = {
            let mut slots = self.slots.lock().expect("not poisoned");
            match slots.free.pop() {
                Some(i) => i,
                None => {
                    slots.entries.push(None);
                    (slots.entries.len() - 1) as u32
                }
            }
        };
        let id = CellId {
            index,
            label: {
                use std::hash::BuildHasher as _;
                let n = self.next_label.fetch_add(1, Ordering::Relaxed);
                self.label_keys.hash_one(n) as u32
            },
        };
        let cell = Arc::new(Mutex::new(make(id)));
        self.slots.lock().expect("not poisoned").entries[index as usize] = Some(Slot {
            label: id.label,
            cell: cell.clone(),
            tenant: tenant.clone(),
            home: HOME.with(|h| h.get().cloned()),
        });
        by_key.insert(key, id);
        self.stats.created.fetch_add(1, Ordering::Relaxed);
        (id, cell, true)
    }

    fn remove(&self, id: CellId, key: &ServerKey) {
        self.unsuspend(id);
        {
            let mut by_key = self.by_key.lock().expect("not poisoned");
            if by_key.get(key) == Some(&id) {
                by_key.remove(key);
            }
        }
        let removed = {
            let mut slots = self.slots.lock().expect("not poisoned");
            match slots.entries.get_mut(id.index as usize) {
                Some(slot) if slot.as_ref().is_some_and(|s| s.label == id.label) => {
                    let taken = slot.take();
                    slots.free.push(id.index);
                    taken
                }
                _ => None,
            }
        };
        let Some(slot) = removed else {
            return;
        };
        // buried after the table's locks are released; the cell is freed where the last
        // handle to it goes, normally in the graveyard's reap
        if let Some(home) = slot.home {
            home.bury(slot.cell, Instant::now);
        }
        self.stats.removed.fetch_add(1, Ordering::Relaxed);
    }

    /// Drop the cells that waited too long in the graveyard of a worker without events.
    fn sweep_graveyards(&self, now: Instant) {
        // the registry's lock is only contended when a worker starts
        for g in self.graveyards.lock().expect("not poisoned").iter() {
            let n = g.reap_older_than(GRAVE_PATIENCE, now);
            self.stats
                .freed_by_sweep
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    fn suspend(&self, id: CellId) {
        let mut s = self.suspended.lock().expect("not poisoned");
        if s.insert(id) {
            self.suspended_len.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn unsuspend(&self, id: CellId) -> bool {
        if self.suspended_len.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let mut s = self.suspended.lock().expect("not poisoned");
        let removed = s.remove(&id);
        if removed {
            self.suspended_len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    fn schedule(&self, id: CellId, at: Instant) {
        let mut timers = self.timers.lock().expect("not poisoned");
        let sooner = timers
            .sleeping_until
            .is_some_and(|wake| timers.wheel.fires_at(at) < wake);
        timers.wheel.push(at, id);
        if sooner {
            timers.sleeping_until = None;
            self.wake.notify_one();
        }
    }
}

/// The router's services for routes: DNS, transaction lookups, suspend and resume.
struct ProxyServices {
    resolver: Arc<Resolver>,
    proxy: Weak<Proxy>,
}

impl Services for ProxyServices {
    fn resolve(&self, uri: &str) -> Result<Vec<NextHop>, ResolveError> {
        self.resolver.resolve(uri)
    }

    fn transaction_exists(&self, msg: &SipMessage) -> bool {
        if msg.method() == Method::Ack {
            // the ACK of a failure this router answered is absorbed by its transaction
            // before any route runs; the ACK of a 2xx is a request of the dialog (RFC 3261
            // §17.1.1.3: a new transaction), routed by its route set. An ACK a route
            // still sees belongs to no transaction: relaying it "because it matched"
            // would send it wherever its Request-URI says
            return false;
        }
        let Some(proxy) = self.proxy.upgrade() else {
            return false;
        };
        let what = if msg.method() == Method::Cancel {
            KeyFor::CancelTarget
        } else {
            KeyFor::Own
        };
        let Some(running) = crate::tenants::running() else {
            return false;
        };
        let Some((id, _)) = proxy.table.find(&ServerKey::of(msg, what)) else {
            return false;
        };
        if proxy.table.get_for(id, &running.tenant).is_none() {
            return false;
        }
        true
    }

    fn suspend(&self, ctx: &RouteContext) -> Result<(u32, u32), TmError> {
        let proxy = self.proxy.upgrade().ok_or(TmError::NoTransaction)?;
        // the request route runs before its transaction's lock is taken, so creating
        // the cell here (and sending 100 Trying) cannot deadlock
        let serving = crate::tenants::running().ok_or(TmError::NoTransaction)?;
        let (id, cell, _) = proxy.ensure_cell(ctx, &serving);
        if proxy.table.get_for(id, &serving.tenant).is_none() {
            return Err(TmError::NoTransaction);
        }
        if cell.lock().expect("not poisoned").final_sent() {
            return Err(TmError::Invalid(
                "the transaction was already answered".into(),
            ));
        }
        proxy.table.suspend(id);
        proxy.table.stats.suspended.fetch_add(1, Ordering::Relaxed);
        Ok((id.index, id.label))
    }

    fn resume(&self, resume: Resume) -> Result<(), TmError> {
        let proxy = self.proxy.upgrade().ok_or(TmError::NoTransaction)?;
        let id = CellId {
            index: resume.index,
            label: resume.label,
        };
        let running = crate::tenants::running().ok_or(TmError::NoTransaction)?;
        if proxy.table.get_for(id, &running.tenant).is_none() {
            // (another tenant's transaction is as good as none)
            return Err(TmError::NoTransaction);
        }
        if !proxy.table.unsuspend(id) {
            return Err(TmError::NotSuspended);
        }
        proxy
            .table
            .resumes
            .lock()
            .expect("not poisoned")
            .push_back((id, resume.route));
        Ok(())
    }
}

/// Transactions sign their local replies as stateless replies are signed: the To tag is
/// derived from the request the same way, so `sl` and `tm` replies to one request agree.
#[derive(Debug)]
struct SignedAsLocal(Arc<LocalConfig>);

impl LocalReplies for SignedAsLocal {
    fn to_tag(&self, request: &SipMessage) -> String {
        self.0.to_tag_for(request)
    }

    fn server_header(&self) -> Option<&str> {
        self.0.server_header()
    }
}

/// The stateful proxy.
pub struct Proxy {
    local: OnceLock<Arc<LocalConfig>>,
    /// `local` as the transactions use it.
    replies: OnceLock<Arc<dyn LocalReplies>>,
    tenants: OnceLock<Arc<Tenants>>,
    table: Arc<TxTable>,
    resolver: Arc<Resolver>,
    outlet: OnceLock<Outlet>,
    timers: TimerConfig,
    /// NAT pinging of registered contacts, run by the timer thread.
    natping: OnceLock<sipwasm_routing::NatPing>,
    stop: AtomicBool,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn tx_info(
    id: CellId,
    cell: &Cell<Saved>,
    code: u16,
    reason: String,
    branch: Option<u16>,
    local: bool,
) -> TxInfo {
    TxInfo {
        index: id.index,
        label: id.label,
        reply_code: code,
        reply_reason: reason,
        branch,
        local_reply: local,
        canceled: cell.is_canceled(),
    }
}

impl Proxy {
    /// A proxy resolving names with `resolver`; `fallback` answers a suspended
    /// transaction whose resume route failed.
    pub fn new(resolver: Arc<Resolver>, timers: TimerConfig) -> Arc<Proxy> {
        Arc::new(Proxy {
            local: OnceLock::new(),
            replies: OnceLock::new(),
            tenants: OnceLock::new(),
            table: Arc::new(TxTable::new()),
            resolver,
            outlet: OnceLock::new(),
            timers,
            natping: OnceLock::new(),
            stop: AtomicBool::new(false),
        })
    }

    /// The services routes use (name resolution, `t_check_trans`, `t_suspend`,
    /// `t_continue`).
    pub fn services(self: &Arc<Self>) -> Arc<dyn Services> {
        Arc::new(ProxyServices {
            resolver: self.resolver.clone(),
            proxy: Arc::downgrade(self),
        })
    }

    /// Complete the wiring once the router identity and sockets exist.
    pub fn attach(&self, local: Arc<LocalConfig>, outlet: Outlet, tenants: Arc<Tenants>) {
        let _ = self.replies.set(Arc::new(SignedAsLocal(local.clone())));
        let _ = self.local.set(local);
        let _ = self.outlet.set(outlet);
        let _ = self.tenants.set(tenants);
    }

    /// Ping registered contacts as `natping` says (once; later calls are ignored).
    pub fn set_natping(&self, natping: sipwasm_routing::NatPing) {
        let _ = self.natping.set(natping);
    }

    /// Send the NAT pings due: every contact of every tenant's location table.
    fn send_nat_pings(&self, ping: &sipwasm_routing::NatPing, seq: &mut u64) {
        let now = now_unix();
        let mut locals = vec![self.local().clone()];
        if let Some(tenants) = self.tenants.get() {
            for t in tenants.list() {
                if !locals.iter().any(|l| Arc::ptr_eq(l, t.local())) {
                    locals.push(t.local().clone());
                }
            }
        }
        let mut out = Vec::new();
        for local in &locals {
            for o in local.nat_pings(ping, now, seq) {
                if o.flags.no_connect
                    && !self.outlet().has_flow(o.transport, o.conn, o.local, o.dest)
                {
                    // its connection is gone: nothing to keep alive
                    continue;
                }
                out.push(o);
            }
        }
        self.table
            .stats
            .nat_pings
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        self.send_all(out);
    }

    /// The transaction table (counters, size).
    pub fn table(&self) -> &Arc<TxTable> {
        &self.table
    }

    fn local(&self) -> &Arc<LocalConfig> {
        self.local.get().expect("attached before use")
    }

    fn outlet(&self) -> &Outlet {
        self.outlet.get().expect("attached before use")
    }

    fn send_all(&self, out: Vec<Transmit>) {
        self.outlet().send_all(out);
    }

    /// Make sure the timer heap holds an entry no later than the cell's next deadline.
    fn reschedule(&self, id: CellId, cell: &Cell<Saved>) {
        if let Some(at) = cell.next_deadline() {
            let queued = &cell.user.heap_at;
            if queued.get().is_none_or(|q| at < q) {
                queued.set(Some(at));
                self.table.schedule(id, at);
            }
        }
    }

    fn finish(&self, id: CellId, cell: &Cell<Saved>) {
        if cell.is_terminated() {
            self.table.remove(id, &cell.user.key);
        } else {
            if cell.final_sent() && self.table.unsuspend(id) {
                // answered while suspended (fr timeout, CANCEL): nothing to resume
                tracing::debug!(
                    index = id.index,
                    label = id.label,
                    "suspended transaction answered"
                );
            }
            self.reschedule(id, cell);
        }
    }

    // ---------------------------------------------------------------- requests

    /// Handle a request before routing: retransmissions and ACKs of our non-2xx replies are
    /// absorbed here. Returns true when the request was consumed.
    pub fn absorb_request(&self, msg: &SipMessage) -> bool {
        let now = Instant::now();
        match msg.method() {
            Method::Cancel => false,
            Method::Ack => {
                let key = ServerKey::of(msg, KeyFor::Own);
                let Some((id, cell)) = self.table.find(&key) else {
                    return false;
                };
                let mut c = cell.lock().expect("not poisoned");
                if c.server_state() != ServerState::Completed
                    && c.server_state() != ServerState::Confirmed
                {
                    // an ACK for a 2xx is end to end: it is routed
                    return false;
                }
                if key.is_rfc2543() && msg.to().tag(msg.as_bytes()) != c.final_to_tag() {
                    return false;
                }
                c.on_ack(now);
                self.table
                    .stats
                    .acks_absorbed
                    .fetch_add(1, Ordering::Relaxed);
                self.finish(id, &c);
                true
            }
            _ => {
                let Some((_, cell)) = self.table.find(&ServerKey::of(msg, KeyFor::Own)) else {
                    return false;
                };
                let mut out = Vec::new();
                cell.lock()
                    .expect("not poisoned")
                    .on_request_retransmission(&mut out);
                self.table
                    .stats
                    .retransmissions_absorbed
                    .fetch_add(1, Ordering::Relaxed);
                self.send_all(out);
                true
            }
        }
    }

    fn reply_target(source: &Source, msg: &SipMessage, force_rport: bool) -> Target {
        Target {
            transport: source.transport,
            dest: response_target_rport(msg.top_via(), msg.as_bytes(), source.src, force_rport),
            local: source.local,
            conn: source.conn,
            // replies go back over the connection the request came on, or not at all
            // (Kamailio's set_reply_no_connect): a UA behind NAT cannot be connected to
            no_connect: source.transport.is_stream(),
        }
    }

    /// Create (or find) the transaction of the request in `ctx`.
    fn ensure_cell(&self, ctx: &RouteContext, serving: &Serving) -> (CellId, CellRef, bool) {
        let msg = ctx.msg().clone();
        let key = ServerKey::of(&msg, KeyFor::Own);
        let source = *ctx.source();
        let mut timers = self.timers;
        if let Some(v) = ctx.tm_state().fr {
            timers.fr = v;
        }
        if let Some(v) = ctx.tm_state().fr_inv {
            timers.fr_inv = v;
        }
        // made before the table's lock is taken, so that other workers do not wait on
        // these copies; a retransmission that finds its cell already made wastes them
        let replies = self.replies.get().expect("attached before use").clone();
        let saved_ctx = ctx.rerun();
        let force_rport = ctx.forces_rport();
        let k = key.clone();
        let (id, cell, created) = self.table.insert(key, &serving.tenant, |id| {
            Cell::new(
                id,
                msg.clone(),
                source.src,
                Self::reply_target(&source, &msg, force_rport),
                timers,
                replies,
                Saved {
                    ctx: saved_ctx,
                    key: k,
                    serving: serving.clone(),
                    failover: Vec::new(),
                    heap_at: std::cell::Cell::new(None),
                },
                Instant::now(),
            )
        });
        if created {
            let mut out = Vec::new();
            let mut c = cell.lock().expect("not poisoned");
            c.set_force_rport(force_rport);
            c.send_trying(&mut out);
            self.reschedule(id, &c);
            drop(c);
            self.send_all(out);
        }
        (id, cell, created)
    }

    /// Apply what a request route asked for (after its own stateless output was sent).
    pub fn apply_request_intents(
        &self,
        workers: &mut Workers,
        serving: &Serving,
        mut ctx: RouteContext,
    ) {
        let intents = ctx.take_intents();
        if intents.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut cell: Option<(CellId, CellRef)> = None;
        // true while the cell's saved context is still the copy of `ctx` it was created
        // with: applying the first intent then needs no second copy
        let mut saved_is_ctx = false;
        for intent in intents {
            if intent == TmIntent::CancelInvite {
                self.cancel(&mut ctx, now);
                continue;
            }
            let (id, cref) = cell
                .get_or_insert_with(|| {
                    let (id, c, created) = self.ensure_cell(&ctx, serving);
                    saved_is_ctx = created;
                    (id, c)
                })
                .clone();
            let mut c = cref.lock().expect("not poisoned");
            if matches!(intent, TmIntent::Relay(_)) && (!c.branches().is_empty() || c.final_sent())
            {
                // a retransmission that arrived while the original's route was still
                // running (before its transaction existed) and was routed too: the
                // original already relayed or answered, this copy is absorbed
                self.table
                    .stats
                    .retransmissions_absorbed
                    .fetch_add(1, Ordering::Relaxed);
                let mut out = Vec::new();
                c.on_request_retransmission(&mut out);
                drop(c);
                self.send_all(out);
                continue;
            }
            let mut out = Vec::new();
            let fresh = std::mem::take(&mut saved_is_ctx);
            self.apply_on_cell(workers, id, &mut c, &ctx, fresh, intent, now, &mut out);
            self.finish(id, &c);
            drop(c);
            self.send_all(out);
        }
    }

    /// Apply one intent of a request route (or a resumed route) to its transaction.
    /// `saved_is_ctx`: the cell's saved context already is `ctx` made ready to rerun (the
    /// cell was just created from it), so it is not copied again.
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    fn apply_on_cell(
        &self,
        workers: &mut Workers,
        id: CellId,
        c: &mut Cell<Saved>,
        ctx: &RouteContext,
        saved_is_ctx: bool,
        intent: TmIntent,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) {
        match intent {
            TmIntent::NewTran | TmIntent::CancelInvite => {}
            TmIntent::Suspend => {
                // what the route did after t_suspend is what the resumed route starts from
                if !saved_is_ctx {
                    c.user.ctx = ctx.rerun();
                }
            }
            TmIntent::Reply { code, reason } => {
                let extra = ctx.reply_lumps();
                if let Err(e) = c.reply_local(now, code, &reason, &extra, out) {
                    tracing::info!("t_reply {code}: {e}");
                }
            }
            TmIntent::Relay(plans) => {
                if !saved_is_ctx {
                    c.user.ctx = ctx.rerun();
                }
                c.user.ctx.set_tx_info(None);
                c.set_fr(ctx.tm_state().fr_inv, ctx.tm_state().fr);
                let sent = self.add_branches(workers, id, c, ctx, &plans, now, out);
                if sent == 0 && !c.final_sent() {
                    // nothing waits for an answer: the failure logic decides what goes back
                    self.all_failed(workers, id, c, now, out);
                } else if sent > 0 {
                    not_recorded(&ctx.config().dialogs, ctx.expect_notifies());
                }
            }
        }
    }

    /// Run the `t_continue`s accepted so far, each in its named route on the plugin
    /// version of its transaction. Called after every event, with no cell locked.
    pub fn run_resumes(&self, workers: &mut Workers) {
        loop {
            let next = self.table.resumes.lock().expect("not poisoned").pop_front();
            let Some((id, route)) = next else {
                return;
            };
            self.resume(workers, id, &route);
        }
    }

    fn resume(&self, workers: &mut Workers, id: CellId, route: &str) {
        let Some(cell) = self.table.get(id) else {
            tracing::info!(
                index = id.index,
                label = id.label,
                "t_continue: the transaction ended before it could be resumed"
            );
            return;
        };
        let now = Instant::now();
        let mut c = cell.lock().expect("not poisoned");
        if c.final_sent() {
            tracing::info!(
                index = id.index,
                label = id.label,
                code = c.last_reply_code(),
                "t_continue: the transaction was answered meanwhile"
            );
            return;
        }
        self.table.stats.resumed.fetch_add(1, Ordering::Relaxed);
        let mut ctx = c.user.ctx.rerun();
        ctx.set_tx_info(Some(tx_info(id, &c, 0, String::new(), None, false)));
        let serving = c.user.serving.clone();
        let outcome = workers.run(&serving, Route::Named(route), ctx);
        let failed = outcome.result.is_err();
        let mut ctx = outcome.ctx;
        for (conn, secs) in ctx.take_keep_flows() {
            // a registration saved in the resumed route
            self.outlet()
                .keep_open(conn, secs.saturating_add(crate::server::FLOW_GRACE_SECS));
        }
        let mut out = Vec::new();
        out.extend(ctx.take_outbound());
        let intents = ctx.take_intents();
        if failed {
            // a crashed route's half-done work is discarded; the caller gets the fallback
            if let Fallback::Reply(code, reason) = serving.tenant.fallback()
                && let Err(e) = c.reply_local(now, *code, reason, &[], &mut out)
            {
                tracing::info!("fallback reply after a failed resume route: {e}");
            }
        } else {
            for intent in intents {
                self.apply_on_cell(workers, id, &mut c, &ctx, false, intent, now, &mut out);
            }
        }
        self.finish(id, &c);
        drop(c);
        self.send_all(out);
    }

    fn cancel(&self, ctx: &mut RouteContext, now: Instant) {
        // the CANCEL itself is answered hop by hop (§16.10), and first: sent after the
        // CANCELs downstream, the 200 could lose the race with the callee's 487 (forwarded
        // by another worker), and a caller expecting 200 then 487 gives up on the call
        let _ = ctx.send_reply(200, "Canceling");
        let mut out = Vec::new();
        out.extend(ctx.take_outbound());
        let key = ServerKey::of(ctx.msg(), KeyFor::CancelTarget);
        if let Some((id, cell)) = self.table.find(&key) {
            let mut c = cell.lock().expect("not poisoned");
            c.on_cancel(now, &mut out);
            self.finish(id, &c);
        }
        self.send_all(out);
    }

    /// Build, branch-route and send each plan as a branch of `cell`. Returns how many were
    /// sent and wait for an answer (a branch whose flow is gone is added failed, 430).
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    fn add_branches(
        &self,
        workers: &mut Workers,
        id: CellId,
        cell: &mut Cell<Saved>,
        ctx: &RouteContext,
        plans: &[sipwasm_routing::BranchPlan],
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> usize {
        let mut added = 0;
        for plan in plans {
            let n = cell.branches().len() as u16;
            // a branch route works on its own copy, with the branch as its main branch;
            // what it changes ($ru, $du, headers) is this branch's only
            let Some(route) = ctx.tm_state().on_branch.clone() else {
                if self.send_branch(id, cell, ctx, &plan.branch, &plan.hops, now, out) {
                    added += 1;
                }
                continue;
            };
            let mut copy = ctx.rerun();
            copy.set_main_branch(plan.branch.clone());
            copy.set_tx_info(Some(tx_info(id, cell, 0, String::new(), Some(n), false)));
            let outcome = workers.run(&cell.user.serving, Route::Branch(&route), copy);
            let dropped = outcome.result == Ok(Verdict::Drop) || outcome.ctx.is_dropped();
            let mut bctx = outcome.ctx;
            out.extend(bctx.take_outbound());
            if dropped {
                continue;
            }
            let branch = bctx.main_branch();
            let hops = if branch.uri == plan.branch.uri && branch.dst_uri == plan.branch.dst_uri {
                plan.hops.clone()
            } else {
                // the branch route sent it elsewhere
                let target = branch.dst_uri.as_deref().unwrap_or(&branch.uri);
                match self.resolver.resolve(target) {
                    Ok(h) if !h.is_empty() => h,
                    Ok(_) | Err(_) => {
                        tracing::info!("branch route target {target} does not resolve");
                        continue;
                    }
                }
            };
            if self.send_branch(id, cell, &bctx, &branch, &hops, now, out) {
                added += 1;
            }
        }
        added
    }

    /// Build the request of `branch` (from `bctx`, the route's context or its branch
    /// route's) for the first of `hops` and add it to `cell`; the other hops are kept for
    /// DNS failover. True when a branch was sent and waits for its answer (a branch whose
    /// flow is gone is added already failed, 430).
    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    fn send_branch(
        &self,
        id: CellId,
        cell: &mut Cell<Saved>,
        bctx: &RouteContext,
        branch: &Branch,
        hops: &[NextHop],
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> bool {
        // a request of a dialog goes to the other side only, wherever a branch route, a
        // failure route or DNS sends it (t_relay checked the plan it made; a branch route
        // may have changed $ru or $du since)
        let reachable: Vec<NextHop> = hops
            .iter()
            .copied()
            .filter(|h| bctx.may_reach(h.addr))
            .collect();
        let out_of_reach = reachable.is_empty();
        let Some(&hop) = reachable.first().or(hops.first()) else {
            return false;
        };
        let rest = if out_of_reach {
            &[][..]
        } else {
            &reachable[1..]
        };
        let Some(sock) = bctx.send_socket(&hop, branch.socket) else {
            tracing::info!("no {} socket to reach {}", hop.transport, hop.addr);
            return false;
        };
        let n = cell.branches().len() as u16;
        let param = branch_param(id, n);
        let target = Target {
            transport: hop.transport,
            dest: hop.addr,
            local: sock.addr,
            conn: branch.conn,
            no_connect: branch.no_connect && hop.transport.is_stream(),
        };
        let invite = bctx.msg().method() == Method::Invite;
        if out_of_reach {
            tracing::info!(dest = %hop.addr, "branch not sent: the request leaves its dialog");
            if let Err(e) = cell.add_failed_branch(now, param, invite, target, 403, "Forbidden") {
                tracing::info!("branch not added: {e}");
            }
            return false;
        }
        if target.no_connect
            && !self
                .outlet()
                .has_flow(target.transport, target.conn, target.local, target.dest)
        {
            // the UA's connection is gone, and it cannot be connected to (RFC 5626 §5.3)
            tracing::info!(dest = %hop.addr, "branch not sent: the flow to the UA is gone");
            if let Err(e) = cell.add_failed_branch(now, param, invite, target, 430, "Flow Failed") {
                tracing::info!("branch not added: {e}");
            }
            // failed at once: nothing pending on it
            return false;
        }
        let data = build_request(
            bctx,
            &ForwardSpec {
                ruri: &branch.uri,
                path: &branch.path,
                hop,
                local: sock,
                branch: &param,
            },
        );
        let added = if bctx.has_header_edits() {
            cell.add_branch(now, param, Bytes::from(data), target, out)
        } else {
            cell.add_checked_branch(now, param, Bytes::from(data), invite, target, out)
        };
        match added {
            Ok(n) => {
                self.table.stats.branches.fetch_add(1, Ordering::Relaxed);
                if !rest.is_empty() {
                    cell.user.failover.push(Failover {
                        branch: n,
                        ctx: bctx.rerun(),
                        target: branch.clone(),
                        hops: rest.to_vec(),
                    });
                }
                true
            }
            Err(e) => {
                tracing::info!("branch not added: {e}");
                false
            }
        }
    }

    /// DNS failover (Kamailio's `use_dns_failover`): branch `n` failed with a 503, or timed
    /// out without any answer; when its destination had further addresses, send it to the
    /// next one as a new branch. True when a branch was added.
    fn dns_failover(
        &self,
        id: CellId,
        cell: &mut Cell<Saved>,
        n: u16,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> bool {
        let Some(i) = cell.user.failover.iter().position(|f| f.branch == n) else {
            return false;
        };
        let f = cell.user.failover.swap_remove(i);
        tracing::debug!(branch = n, next = %f.hops[0].addr, "DNS failover");
        self.send_branch(id, cell, &f.ctx, &f.target, &f.hops, now, out)
    }

    /// Failover for the branches that timed out without any answer since the last check.
    fn failover_timeouts(
        &self,
        id: CellId,
        cell: &mut Cell<Saved>,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> bool {
        let timed_out: Vec<u16> = cell
            .user
            .failover
            .iter()
            .map(|f| f.branch)
            .filter(|&n| {
                let b = &cell.branches()[n as usize];
                b.last_code() == 0 && matches!(b.final_reply(), Some(FinalReply::Local(408, _)))
            })
            .collect();
        let mut any = false;
        for n in timed_out {
            any |= self.dns_failover(id, cell, n, now, out);
        }
        any
    }

    /// Every branch failed: run the failure route if one is set; unless it relayed again or
    /// replied, send the best reply upstream.
    fn all_failed(
        &self,
        workers: &mut Workers,
        id: CellId,
        cell: &mut Cell<Saved>,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) {
        // a round whose new branches all fail at once (their flows are gone) is followed
        // by another, when the failure route armed itself again; a bounded number
        for _ in 0..MAX_FAILURE_ROUNDS {
            let route = cell.user.ctx.tm_state().on_failure.clone();
            let Some(route) = route.filter(|_| !cell.final_sent()) else {
                break;
            };
            if self.failure_round(workers, id, cell, &route, now, out) > 0 || cell.final_sent() {
                return;
            }
        }
        cell.forward_best(now, out);
    }

    /// Run failure route `route` once and apply what it asked for; returns how many new
    /// branches wait for an answer.
    fn failure_round(
        &self,
        workers: &mut Workers,
        id: CellId,
        cell: &mut Cell<Saved>,
        route: &str,
        now: Instant,
        out: &mut Vec<Transmit>,
    ) -> usize {
        self.table
            .stats
            .failure_routes
            .fetch_add(1, Ordering::Relaxed);
        let (code, reason, branch, local) = match cell.best() {
            Some((i, FinalReply::Received(m))) => (
                m.status().unwrap_or(500),
                String::from_utf8_lossy(m.reason().unwrap_or_default()).into_owned(),
                Some(i as u16),
                false,
            ),
            Some((i, FinalReply::Local(c, r))) => (*c, (*r).to_string(), Some(i as u16), true),
            // best() chooses among failures only: a 2xx never comes here
            Some((_, FinalReply::Forwarded(_))) | None => {
                (500, "Server Internal Error".into(), None, true)
            }
        };
        let mut ctx = cell.user.ctx.rerun();
        // a failure route runs once per round: it must set itself again to run again
        ctx.t_on_failure("");
        ctx.set_tx_info(Some(tx_info(id, cell, code, reason, branch, local)));
        let outcome = workers.run(&cell.user.serving, Route::Failure(route), ctx);
        let mut ctx = outcome.ctx;
        // stateless output of the failure route (a forward ...) goes out as is
        out.extend(ctx.take_outbound());
        let intents = ctx.take_intents();
        cell.user.ctx = ctx.rerun();
        cell.user.ctx.set_tx_info(None);
        let mut relayed = 0;
        for intent in intents {
            match intent {
                TmIntent::Relay(plans) => {
                    let c = cell.user.ctx.clone();
                    relayed += self.add_branches(workers, id, cell, &c, &plans, now, out);
                }
                TmIntent::Reply { code, reason } => {
                    let extra = ctx.reply_lumps();
                    if let Err(e) = cell.reply_local(now, code, &reason, &extra, out) {
                        tracing::info!("t_reply in failure route: {e}");
                    }
                }
                TmIntent::NewTran | TmIntent::CancelInvite | TmIntent::Suspend => {}
            }
        }
        relayed
    }

    // ---------------------------------------------------------------- replies

    /// Keep the dialog table up to date with reply `msg` (`code`, from `source`) of
    /// `cell`'s request: a dialog-forming request this router record-routed starts an
    /// early dialog with a 1xx, confirms it with a 2xx, drops it with a failure; a 2xx to
    /// a target refresh inside a dialog moves both sides' targets to their new Contacts.
    fn track_dialog(&self, cell: &Cell<Saved>, msg: &SipMessage, code: u16, source: &Source) {
        let ctx = &cell.user.ctx;
        let req = ctx.msg();
        let dialogs = &ctx.config().dialogs;
        let b = msg.as_bytes();
        if ctx.has_totag() {
            if (200..300).contains(&code)
                && sipwasm_routing::dialog::refreshes_target(req.method())
                && let Some(by_caller) = ctx.dialog_side()
            {
                let answerer = msg
                    .contacts()
                    .first()
                    .map(|c| String::from_utf8_lossy(c.uri.as_bytes(b)).into_owned());
                dialogs.refresh_targets(
                    req,
                    by_caller,
                    ctx.contact_out().as_deref(),
                    answerer.as_deref(),
                );
            }
            return;
        }
        if !sipwasm_routing::dialog::forms_dialog(req.method()) || code <= 100 {
            return;
        }
        if code >= 300 {
            if let Some(tag) = msg.to().tag(b) {
                let rb = req.as_bytes();
                dialogs.fail(req.call_id(), req.from().tag(rb).unwrap_or_default(), tag);
            }
            return;
        }
        let Some(start) = ctx.dialog_start(msg, source.src.ip()) else {
            return;
        };
        not_recorded(dialogs, dialogs.start(&start, code >= 200, now_unix()));
    }

    /// The transaction and branch a reply belongs to, with the tenant and version its
    /// routes run on.
    pub fn match_reply(&self, msg: &SipMessage) -> Option<MatchedReply> {
        let (id, branch) = msg
            .top_via()
            .branch(msg.as_bytes())
            .and_then(parse_branch)?;
        let cell = self.table.get(id)?;
        let serving = cell.lock().expect("not poisoned").user.serving.clone();
        Some(MatchedReply {
            id,
            branch,
            cell,
            serving,
        })
    }

    /// A reply that passed `reply_route`: match it to a branch, run the onreply route, and
    /// forward or keep it. A reply that matches no transaction is forwarded statelessly when
    /// its top Via is ours. Returns false when it was not ours at all.
    pub fn on_reply(
        &self,
        workers: &mut Workers,
        matched: Option<MatchedReply>,
        msg: SipMessage,
        source: Source,
    ) -> bool {
        let now = Instant::now();
        let Some(MatchedReply {
            id,
            branch: n,
            cell,
            ..
        }) = matched
        else {
            return self.stateless_reply(msg);
        };
        let mut out = Vec::new();
        let mut c = cell.lock().expect("not poisoned");
        match c.on_response(now, n, &msg, &mut out) {
            ResponseStep::Retransmitted2xx => {
                // also a branch's first 2xx after its timer fired: its dialog is real (a
                // retransmission of a 2xx already recorded changes nothing: it skipped
                // the onreply route that made the first one's Contact)
                let req = c.user.ctx.msg();
                let b = msg.as_bytes();
                if !c.user.ctx.has_totag()
                    && !c.user.ctx.config().dialogs.is_confirmed(
                        msg.call_id(),
                        msg.from().tag(b).unwrap_or_default(),
                        msg.to().tag(b).unwrap_or_default(),
                    )
                    && sipwasm_routing::dialog::forms_dialog(req.method())
                {
                    self.track_dialog(&c, &msg, msg.status().unwrap_or(0), &source);
                }
            }
            ResponseStep::Absorbed => {
                // a callee's failure the caller does not need (its 487 after our CANCEL):
                // its early dialog ends all the same
                let code = msg.status().unwrap_or(0);
                if code >= 300 {
                    self.track_dialog(&c, &msg, code, &source);
                }
            }
            ResponseStep::Deliver => {
                let mut msg = msg;
                let code = msg.status().unwrap_or(0);
                if let Some(route) = c.user.ctx.tm_state().on_reply.clone() {
                    let mut ctx = c.user.ctx.with_message(msg.clone(), source);
                    let reason =
                        String::from_utf8_lossy(msg.reason().unwrap_or_default()).into_owned();
                    ctx.set_tx_info(Some(tx_info(id, &c, code, reason, Some(n), false)));
                    let mut outcome = workers.run(&c.user.serving, Route::OnReply(&route), ctx);
                    out.extend(outcome.ctx.take_outbound());
                    let dropped = outcome.result == Ok(Verdict::Drop) || outcome.ctx.is_dropped();
                    if !outcome.ctx.lumps().is_empty()
                        && let Ok(changed) = SipMessage::parse(Bytes::from(outcome.ctx.rendered()))
                    {
                        msg = changed;
                    }
                    if dropped && code < 200 {
                        self.finish(id, &c);
                        self.send_all(out);
                        drop(c);
                        return true;
                    }
                }
                self.track_dialog(&c, &msg, code, &source);
                if code == 503 {
                    // the next address of the destination gets its chance first (the 503
                    // then is one failed branch among others)
                    self.dns_failover(id, &mut c, n, now, &mut out);
                } else if code >= 200 {
                    // answered: its destination's other addresses are not needed
                    c.user.failover.retain(|f| f.branch != n);
                }
                if c.relay_response(now, n, msg, &mut out) == Relay::AllFailed {
                    self.all_failed(workers, id, &mut c, now, &mut out);
                }
            }
        }
        self.finish(id, &c);
        // sent before the cell is unlocked: a 180 handled by one worker must leave before
        // the 200 another worker handles next (replies of one transaction keep their order)
        self.send_all(out);
        drop(c);
        true
    }

    fn stateless_reply(&self, msg: SipMessage) -> bool {
        let local = self.local();
        let hop = stateless_reply_hop(&msg, |host, port| local.is_myself(host, port, 5060));
        let Some(hop) = hop else {
            return false;
        };
        let Some(sock) = local.pick_listener(&hop, None) else {
            return false;
        };
        let data = Bytes::from(sipwasm_tm::msg::strip_top_via(&msg));
        self.table
            .stats
            .stateless_replies
            .fetch_add(1, Ordering::Relaxed);
        self.outlet().send(Transmit {
            transport: hop.transport,
            dest: hop.addr,
            local: sock.addr,
            conn: None,
            data,
            // a reply never opens a connection (its sender's is the one to use)
            flags: sipwasm_transport::StreamFlags {
                no_connect: hop.transport.is_stream(),
                ..Default::default()
            },
        });
        true
    }

    // ---------------------------------------------------------------- timers

    /// Run timers until [`Self::stop`]; failure routes after timeouts run on `worker`.
    pub fn timer_loop(&self, mut workers: Workers) {
        let mut last_purge = Instant::now();
        let mut last_ping = Instant::now();
        let mut ping_seq = 0u64;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let due: Vec<(Instant, CellId)> = {
                let mut timers = self.table.timers.lock().expect("not poisoned");
                let now = Instant::now();
                // wake when the first granule holding a deadline ends, so that the
                // deadlines within one granule run in one batch: at 1000 calls/s there
                // are several thousand a second, each wake-up a context switch
                let wait = match timers.wheel.next_due() {
                    Some(at) if at <= now => Duration::ZERO,
                    Some(at) => (at - now).min(Duration::from_secs(1)),
                    None => Duration::from_secs(1),
                };
                if !wait.is_zero() {
                    timers.sleeping_until = Some(now + wait);
                    timers = self
                        .table
                        .wake
                        .wait_timeout(timers, wait)
                        .expect("not poisoned")
                        .0;
                    timers.sleeping_until = None;
                }
                let mut due = Vec::new();
                timers.wheel.pop_due(Instant::now(), &mut due);
                due
            };
            for (at, id) in due {
                let Some(cell) = self.table.get(id) else {
                    continue;
                };
                let now = Instant::now();
                let mut c = cell.lock().expect("not poisoned");
                // an entry superseded by an earlier one (already handled) only tidies up
                let current = c.user.heap_at.get() == Some(at);
                if current {
                    c.user.heap_at.set(None);
                }
                if !current || c.next_deadline().is_none_or(|d| d > now) {
                    if c.is_terminated() {
                        self.table.remove(id, &c.user.key);
                    } else if current {
                        // the deadline moved later since this entry was queued
                        self.reschedule(id, &c);
                    }
                    continue;
                }
                let mut out = Vec::new();
                let relay = c.on_timer(now, &mut out);
                // a branch that timed out unanswered tries its destination's next address
                let failed_over = !c.user.failover.is_empty()
                    && self.failover_timeouts(id, &mut c, now, &mut out);
                if relay == Relay::AllFailed && !failed_over {
                    self.all_failed(&mut workers, id, &mut c, now, &mut out);
                }
                self.finish(id, &c);
                drop(c);
                self.send_all(out);
            }
            // failure routes run by timeouts may have called t_continue
            self.run_resumes(&mut workers);
            self.table.sweep_graveyards(Instant::now());
            if let Some(ping) = self.natping.get().filter(|p| p.interval > 0)
                && last_ping.elapsed() >= Duration::from_secs(ping.interval)
            {
                last_ping = Instant::now();
                self.send_nat_pings(ping, &mut ping_seq);
            }
            if last_purge.elapsed() > Duration::from_secs(30) {
                last_purge = Instant::now();
                self.local().location.purge(now_unix());
                self.local().htables.purge(now_unix());
                self.local().dialogs.purge(now_unix());
                if let Some(tenants) = self.tenants.get() {
                    for t in tenants.list() {
                        if !Arc::ptr_eq(t.local(), self.local()) {
                            t.local().location.purge(now_unix());
                            t.local().dialogs.purge(now_unix());
                        }
                    }
                }
            }
        }
    }

    /// Give the calling thread, a worker, a graveyard: the transactions it makes are
    /// dropped by it, in [`Self::reap_worker`], wherever they end. Called once at the
    /// start of every worker thread.
    pub fn settle_worker(&self) {
        let grave = HOME.with(|h| h.get_or_init(CellGrave::default).clone());
        self.table
            .graveyards
            .lock()
            .expect("not poisoned")
            .push(grave);
    }

    /// Drop the finished transactions buried in the calling worker's graveyard. Called
    /// by the worker after each event, holding no lock.
    pub fn reap_worker(&self) {
        let freed = HOME.with(|h| h.get().map_or(0, |g| g.reap()));
        if freed > 0 {
            self.table
                .stats
                .freed_by_worker
                .fetch_add(freed as u64, Ordering::Relaxed);
        }
    }

    /// Stop the timer loop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.table.wake.notify_all();
    }
}

/// Log (once a minute at most) that a dialog was not recorded, when `result` says so.
fn not_recorded(dialogs: &sipwasm_routing::dialog::Dialogs, result: Result<(), StartError>) {
    if let Err(e) = result
        && dialogs.log_now(now_unix())
    {
        tracing::warn!(
            "a dialog was not recorded, its in-dialog requests will be refused: {e} \
             ({} not recorded since start; this line once a minute at most)",
            dialogs.not_recorded()
        );
    }
}
