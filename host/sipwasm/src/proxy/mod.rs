//! The stateful proxy around the sans-IO transaction cells, in parts:
//!
//! - [`table`]: every live transaction, by key and by id, and their deadlines;
//! - [`services`]: what routes ask of the proxy (`t_check_trans`, `t_suspend`,
//!   `t_continue`, name resolution);
//! - [`requests`]: a request route's intents applied to its transaction, resumes, CANCEL;
//! - [`routes`]: branches (branch routes, DNS failover) and failure routes;
//! - [`replies`]: replies matched to their branch, onreply routes, the dialog table;
//! - [`timers`]: the timer thread;
//! - [`housekeeping`]: NAT pings, purging expired bindings and dialogs, freeing cells on
//!   the workers that made them.
//!
//! Routes (branch, onreply, failure) run on the calling worker's plugin instance.
//!
//! A cell is locked by the worker (or the timer thread) handling an event for it, for the
//! whole event including the plugin routes it runs; other events for the same transaction
//! wait for it, as Kamailio's reply lock does. Different transactions never share a lock
//! beyond the brief table lookups.

use crate::config::Fallback;
use crate::dns::Resolver;
use crate::tenants::{Serving, Tenant, Tenants, Workers};
use bytes::Bytes;
use sipwasm_proto::Transmit;
use sipwasm_proto::reply::response_target_rport;
use sipwasm_proto::{Destination, Method, SipMessage};
use sipwasm_routing::dialog::StartError;
use sipwasm_routing::forward::{ForwardSpec, build_request, stateless_reply_hop};
use sipwasm_routing::{
    Branch, LocalConfig, NextHop, ResolveError, Resume, RouteContext, Services, Source, TmError,
    TmIntent, TxInfo,
};
use sipwasm_runtime::{Route, Verdict};
use sipwasm_tm::{
    BranchRequest, Cell, CellId, FinalReply, KeyFor, LocalReplies, Relay, ResponseStep, ServerKey,
    ServerState, Target, TimerConfig, branch_param, parse_branch,
};
use sipwasm_transport::Outlet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

mod housekeeping;
mod replies;
mod requests;
mod routes;
mod services;
mod table;
mod timers;

use services::{ProxyServices, SignedAsLocal};
pub use table::{TmStats, TxTable};

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
    /// The Request-URI of each branch, by its number (the cell lets a branch's request go
    /// once answered; `uac_auth` in a failure route signs the failed branch's URI).
    branch_uris: Vec<String>,
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

type CellRef = table::CellRef<Cell<Saved>>;
type CellGrave = table::Grave<Cell<Saved>>;

thread_local! {
    /// This thread's graveyard, when it is a worker ([`Proxy::settle_worker`]).
    static HOME: std::cell::OnceCell<CellGrave> = const { std::cell::OnceCell::new() };
}

/// The proxy's transaction table.
pub type Transactions = TxTable<Cell<Saved>, Tenant>;

/// A reply matched to its transaction.
pub struct MatchedReply {
    id: CellId,
    branch: u16,
    cell: CellRef,
    /// Who runs the transaction's routes.
    pub serving: Serving,
}

/// The stateful proxy.
pub struct Proxy {
    local: Arc<LocalConfig>,
    /// `local` as the transactions use it.
    replies: Arc<dyn LocalReplies>,
    tenants: Arc<Tenants>,
    table: Arc<Transactions>,
    resolver: Arc<Resolver>,
    outlet: Outlet,
    timers: TimerConfig,
    /// NAT pinging of registered contacts, run by the timer thread.
    natping: sipwasm_routing::NatPing,
    stop: AtomicBool,
}

/// What the proxy is built from, made in this order: the transaction `table` and the
/// `resolver` first (the routes' [`services`] need them, and the router identity `local`
/// holds those), then `local`, the `outlet` and the bound `tenants`.
pub struct ProxyParts {
    /// Every live transaction.
    pub table: Arc<Transactions>,
    /// DNS (failover to a destination's next address).
    pub resolver: Arc<Resolver>,
    /// The router's identity.
    pub local: Arc<LocalConfig>,
    /// Where everything is sent.
    pub outlet: Outlet,
    /// The tenants, bound to `local`.
    pub tenants: Arc<Tenants>,
    /// Transaction timers.
    pub timers: TimerConfig,
    /// NAT pinging of registered contacts.
    pub natping: sipwasm_routing::NatPing,
}

/// The services routes use (name resolution, `t_check_trans`, `t_suspend`,
/// `t_continue`, TLS peers), over the transaction table the proxy is then built with and
/// the router's stream connections.
pub fn services(
    resolver: Arc<Resolver>,
    table: &Arc<Transactions>,
    connections: Option<sipwasm_transport::ConnectionTable>,
    rtimers: Arc<crate::rtimer::Rtimers>,
    uac_requests: Arc<sipwasm_routing::uac::Outstanding>,
) -> Arc<dyn Services> {
    Arc::new(ProxyServices {
        resolver,
        table: Arc::downgrade(table),
        connections,
        rtimers,
        uac_requests,
    })
}

use crate::now_unix;

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
        challenges: Vec::new(),
        branch_uri: None,
    }
}

impl Proxy {
    /// The proxy over `parts`.
    pub fn new(parts: ProxyParts) -> Arc<Proxy> {
        let ProxyParts {
            table,
            resolver,
            local,
            outlet,
            tenants,
            timers,
            natping,
        } = parts;
        Arc::new(Proxy {
            replies: Arc::new(SignedAsLocal(local.clone())),
            local,
            tenants,
            table,
            resolver,
            outlet,
            timers,
            natping,
            stop: AtomicBool::new(false),
        })
    }

    /// The live transactions, at most `limit` (`ctl tm.list`): one JSON object each.
    /// A transaction whose route runs now is listed as busy, not waited for.
    pub fn transactions(&self, limit: usize) -> Vec<serde_json::Value> {
        self.table
            .live(limit)
            .into_iter()
            .map(|(id, tenant, cell)| {
                let head = serde_json::json!({
                    "id": format!("{}:{}", id.index, id.label),
                    "tenant": tenant.name(),
                });
                let Ok(c) = cell.try_lock() else {
                    let mut busy = head;
                    busy["busy"] = true.into();
                    return busy;
                };
                let mut v = head;
                v["request"] = String::from_utf8_lossy(c.request.first_line()).into();
                v["call_id"] = String::from_utf8_lossy(c.request.call_id()).into();
                v["source"] = c.src.to_string().into();
                v["state"] = format!("{:?}", c.server_state()).into();
                v["last_code"] = c.last_reply_code().into();
                v["branches"] = c
                    .branches()
                    .iter()
                    .map(|b| {
                        serde_json::json!({"state": format!("{:?}", b.state()),
                                           "last_code": b.last_code()})
                    })
                    .collect();
                v
            })
            .collect()
    }

    /// The caching resolver of next hops.
    pub fn resolver(&self) -> &Arc<Resolver> {
        &self.resolver
    }

    /// The transaction table (counters, size).
    pub fn table(&self) -> &Arc<Transactions> {
        &self.table
    }

    pub(super) fn send_all(&self, out: Vec<Transmit>) {
        self.outlet.send_all(out);
    }

    pub(super) fn finish(&self, id: CellId, cell: &Cell<Saved>) {
        if cell.final_sent() {
            // the calls the request counts (`limit-calls`): freed by a failure, kept by
            // a 2xx until the BYE (idempotent: finish runs after every step)
            cell.user.ctx.settle_calls(cell.last_reply_code());
        }
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
