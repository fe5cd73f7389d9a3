//! Housekeeping: NAT pings of registered contacts, purging what expired, and freeing
//! finished cells on the workers that made them.

use super::*;

impl Proxy {
    /// Send the NAT pings due: every contact of every tenant's location table.
    pub(super) fn send_nat_pings(&self, ping: &sipwasm_routing::NatPing, seq: &mut u64) {
        let now = now_unix();
        let mut locals = vec![self.local.clone()];
        for t in self.tenants.list() {
            if !locals.iter().any(|l| Arc::ptr_eq(l, t.local())) {
                locals.push(t.local().clone());
            }
        }
        let mut out = Vec::new();
        for local in &locals {
            for o in local.nat_pings(ping, now, seq) {
                if o.flags.no_connect && !self.outlet.has_flow(o.destination()) {
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

    /// Drop what expired: registrations, htable entries and dialogs, of the router and of
    /// every tenant with its own tables.
    pub(super) fn purge_expired(&self, now: u64) {
        self.local.location.purge(now);
        self.local.htables.purge(now);
        self.local.dialogs.purge(now);
        let instant = Instant::now();
        self.local.pike.purge(instant);
        for t in self.tenants.list() {
            if !Arc::ptr_eq(t.local(), &self.local) {
                t.local().location.purge(now);
                t.local().dialogs.purge(now);
                t.local().pike.purge(instant);
            }
        }
    }
}
