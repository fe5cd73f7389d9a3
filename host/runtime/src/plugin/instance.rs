//! Running events on an instance.
//!
//! The instance model, chosen by measurement (see BENCHMARKS.md): each worker keeps one
//! instance and reuses it for every event, which costs a plain call (~1-2 µs with a few host
//! calls) instead of ~30 µs for a fresh instance per event. Per-event state lives in the
//! host (`RouteContext`), so nothing of one message leaks into the next through the host; a
//! plugin's own globals persist across events, like a Kamailio worker's Lua state. After a
//! trap, a timeout or a memory-cap hit the instance is discarded and the next event gets a
//! fresh one.

use crate::bindings::exports::sipwasm::router::{
    event_routes, msrp_events, nosip_events, routes, self_test, tm_routes,
};
use crate::error::EventError;
use crate::plugin::Plugin;
use crate::state::HostState;
use crate::stats::PluginStats;
use sipwasm_routing::{Event, MsrpEvent, RawEvent, RouteContext, TimerEvent};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wasmtime::{Store, Trap};

/// Which route of the plugin to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `request_route`
    Request,
    /// `reply_route`
    Reply,
    /// `route[NAME]`
    Named(&'a str),
    /// `failure_route[NAME]`
    Failure(&'a str),
    /// `branch_route[NAME]`
    Branch(&'a str),
    /// `onreply_route[NAME]`
    OnReply(&'a str),
}

impl Route<'_> {
    fn label(&self) -> &'static str {
        match self {
            Route::Request => "request_route",
            Route::Reply => "reply_route",
            Route::Named(_) => "route",
            Route::Failure(_) => "failure_route",
            Route::Branch(_) => "branch_route",
            Route::OnReply(_) => "onreply_route",
        }
    }
}

/// How a route ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Ran to its end.
    Continue,
    /// `exit`
    Exit,
    /// `drop`: do not send the message on.
    Drop,
}

/// The result of running one event: its state, with what the plugin changed and wants
/// sent (and resumed), and how the route ended.
#[derive(Debug)]
pub struct Outcome<E> {
    /// The event state.
    pub event: E,
    /// How the route ended.
    pub result: Result<Verdict, EventError>,
}

/// The result of running a SIP route.
pub type EventOutcome = Outcome<RouteContext>;
/// The result of running `event_route[nosip:msg]`.
pub type RawOutcome = Outcome<RawEvent>;
/// The result of running `event_route[msrp:frame-in]`.
pub type MsrpOutcome = Outcome<MsrpEvent>;
/// The result of running `event_route[timer:NAME]` or `event_route[htable:expired:T]`.
pub type TimerOutcome = Outcome<TimerEvent>;

impl<E> Outcome<E> {
    fn broken(event: E) -> Self {
        Outcome {
            event,
            result: Err(EventError::Instantiate("instance is broken".into())),
        }
    }
}

/// One kind of [`Event`]: what goes into the plugin's store for a call and comes back.
trait EventKind: Sized {
    fn into_event(self) -> Event;
    fn from_event(event: Event) -> Self;
}

macro_rules! event_kind {
    ($ty:ty, $variant:ident) => {
        impl EventKind for $ty {
            fn into_event(self) -> Event {
                Event::$variant(self)
            }
            fn from_event(event: Event) -> Self {
                match event {
                    Event::$variant(e) => e,
                    _ => unreachable!("an event keeps its kind"),
                }
            }
        }
    };
}
event_kind!(RouteContext, Sip);
event_kind!(RawEvent, Raw);
event_kind!(MsrpEvent, Msrp);
event_kind!(TimerEvent, Timer);

/// The exports of one instance.
pub(crate) struct Exports {
    pub(crate) routes: routes::Guest,
    pub(crate) tm_routes: Option<tm_routes::Guest>,
    pub(crate) nosip_events: Option<nosip_events::Guest>,
    pub(crate) msrp_events: Option<msrp_events::Guest>,
    pub(crate) event_routes: Option<event_routes::Guest>,
    pub(crate) self_test: Option<self_test::Guest>,
}

/// One live instance of a plugin in its own store.
pub struct PluginInstance {
    plugin: Arc<Plugin>,
    store: Store<HostState>,
    routes: routes::Guest,
    tm_routes: Option<tm_routes::Guest>,
    nosip_events: Option<nosip_events::Guest>,
    msrp_events: Option<msrp_events::Guest>,
    event_routes: Option<event_routes::Guest>,
    self_test: Option<self_test::Guest>,
    broken: bool,
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        self.plugin.account().release_instance();
    }
}

type GuestCall = wasmtime::Result<Result<routes::Verdict, routes::RouteError>>;

impl PluginInstance {
    pub(crate) fn new(plugin: Arc<Plugin>, store: Store<HostState>, exports: Exports) -> Self {
        PluginInstance {
            plugin,
            store,
            routes: exports.routes,
            tm_routes: exports.tm_routes,
            nosip_events: exports.nosip_events,
            msrp_events: exports.msrp_events,
            event_routes: exports.event_routes,
            self_test: exports.self_test,
            broken: false,
        }
    }

    /// Run the `self-test` export (`Ok` when there is none), within the CPU deadline.
    pub fn run_self_test(&mut self) -> Result<(), crate::RuntimeError> {
        let Some(guest) = self.self_test.clone() else {
            return Ok(());
        };
        let mut verdict: Result<(), String> = Ok(());
        let result = self.call("self-test", |store| {
            guest.call_run(store).map(|r| {
                verdict = r;
                Ok(routes::Verdict::Continue)
            })
        });
        match result {
            Ok(_) => verdict.map_err(crate::RuntimeError::SelfTestFailed),
            Err(e) => Err(crate::RuntimeError::SelfTestCrashed(e)),
        }
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// True after a failure that makes the instance unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Run `route` for the event `ctx`, within the plugin's CPU deadline. A plugin that
    /// said it has no reply_route (see [`Plugin`]'s `no_reply_route`) is not called for
    /// replies: as Kamailio without a `reply_route` block, the reply goes on.
    pub fn run(&mut self, route: Route<'_>, ctx: RouteContext) -> EventOutcome {
        let no_reply_route = &self.plugin.no_reply_route;
        if matches!(route, Route::Reply) && no_reply_route.load(Ordering::Relaxed) {
            return Outcome {
                event: ctx,
                result: Ok(Verdict::Continue),
            };
        }
        let stats = self.plugin.counters();
        PluginStats::bump(&stats.events);
        if self.broken {
            return Outcome::broken(ctx);
        }
        let tm_guest = match (&route, &self.tm_routes) {
            (Route::Failure(n) | Route::Branch(n) | Route::OnReply(n), None) => {
                PluginStats::bump(&stats.route_errors);
                return Outcome {
                    event: ctx,
                    result: Err(EventError::UnknownRoute(format!(
                        "{n} (the plugin does not export sipwasm:router/tm-routes)"
                    ))),
                };
            }
            (_, t) => t.clone(),
        };
        let guest = self.routes.clone();
        let plugin = self.plugin.clone();
        self.call_with(ctx, route.label(), |store| {
            match (route, tm_guest) {
                (Route::Request, _) => guest.call_request_route(store),
                (Route::Reply, _) => guest.call_reply_route(store).map(|r| match r {
                    // the SDK's default answers with the route's own name
                    Err(routes::RouteError::UnknownRoute(n)) if n == Route::Reply.label() => {
                        plugin.no_reply_route.store(true, Ordering::Relaxed);
                        Ok(routes::Verdict::Continue)
                    }
                    other => other,
                }),
                (Route::Named(name), _) => guest.call_named_route(store, name),
                (Route::Failure(name), Some(t)) => t.call_failure_route(store, name),
                (Route::Branch(name), Some(t)) => t.call_branch_route(store, name),
                (Route::OnReply(name), Some(t)) => t.call_onreply_route(store, name),
                (_, None) => unreachable!("checked above"),
            }
        })
    }

    /// Run `event_route[nosip:msg]` for a non-SIP packet. A plugin that does not export
    /// `nosip-events` gets nothing: the packet is dropped (`Ok(Drop)`).
    pub fn run_nosip(&mut self, event: RawEvent) -> RawOutcome {
        let guest = self.nosip_events.clone();
        self.run_event_route(event, guest, "event_route[nosip:msg]", |store, g| {
            g.call_msg(store)
        })
    }

    /// Run `event_route[msrp:frame-in]` for an MSRP frame. A plugin that does not export
    /// `msrp-events` gets nothing: the frame is dropped (`Ok(Drop)`).
    pub fn run_msrp(&mut self, event: MsrpEvent) -> MsrpOutcome {
        let guest = self.msrp_events.clone();
        self.run_event_route(event, guest, "event_route[msrp:frame-in]", |store, g| {
            g.call_frame_in(store)
        })
    }

    /// Run `event_route[timer:NAME]` or `event_route[htable:expired:T]`. A plugin that
    /// does not export `event-routes` gets nothing (`Ok(Drop)`).
    pub fn run_timer(&mut self, event: TimerEvent) -> TimerOutcome {
        let guest = self.event_routes.clone();
        let name = event.kind().route_name();
        self.run_event_route(event, guest, "event_route[timer]", |store, g| {
            g.call_event_route(store, &name)
        })
    }

    /// Run an `event_route` the plugin may not export (`guest` is then `None`).
    fn run_event_route<E: EventKind, G>(
        &mut self,
        event: E,
        guest: Option<G>,
        label: &'static str,
        call: impl FnOnce(&mut Store<HostState>, &G) -> GuestCall,
    ) -> Outcome<E> {
        PluginStats::bump(&self.plugin.counters().events);
        if self.broken {
            return Outcome::broken(event);
        }
        let Some(guest) = guest else {
            return Outcome {
                event,
                result: Ok(Verdict::Drop),
            };
        };
        self.call_with(event, label, |store| call(store, &guest))
    }

    /// [`Self::call`] with `event` in the store for the host calls; the event comes back
    /// with the result.
    fn call_with<E: EventKind>(
        &mut self,
        event: E,
        label: &'static str,
        f: impl FnOnce(&mut Store<HostState>) -> GuestCall,
    ) -> Outcome<E> {
        self.store.data_mut().event = Some(event.into_event());
        let result = self.call(label, f);
        let event = self
            .store
            .data_mut()
            .event
            .take()
            .expect("the event stays in the store during the call");
        Outcome {
            event: E::from_event(event),
            result,
        }
    }

    /// Call into the guest within the CPU deadline and classify how it ended (the event is
    /// in the store: see [`Self::call_with`]).
    fn call(
        &mut self,
        label: &'static str,
        f: impl FnOnce(&mut Store<HostState>) -> GuestCall,
    ) -> Result<Verdict, EventError> {
        let stats = self.plugin.counters();
        {
            let data = self.store.data_mut();
            data.route = label;
            data.limits.hit = false;
            data.udp_sent = 0;
            data.start_call();
        }
        self.store.set_epoch_deadline(self.plugin.deadline_ticks);
        let in_call = self.plugin.ticker.enter();
        let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut self.store)));
        drop(in_call);
        let call = match call {
            Ok(call) => call,
            Err(panic) => {
                // a host function panicked on what a message or the plugin gave it (a bug
                // of ours, not the plugin's: not counted against it): this event fails,
                // the instance (its store left mid-call) is replaced, the worker goes on
                self.broken = true;
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(plugin = %self.plugin.name(), route = label, "a host function panicked: {what}");
                return Err(EventError::HostPanic(what));
            }
        };
        let hit_memory_cap = self.store.data().limits.hit;
        let log_flood = self
            .store
            .data()
            .log_flood
            .load(std::sync::atomic::Ordering::Relaxed);
        let result = match call {
            Ok(Ok(routes::Verdict::Continue)) => Ok(Verdict::Continue),
            Ok(Ok(routes::Verdict::Exit)) => Ok(Verdict::Exit),
            Ok(Ok(routes::Verdict::Drop)) => Ok(Verdict::Drop),
            Ok(Err(routes::RouteError::UnknownRoute(n))) => {
                PluginStats::bump(&stats.route_errors);
                Err(EventError::UnknownRoute(n))
            }
            Ok(Err(routes::RouteError::Failed(why))) => {
                PluginStats::bump(&stats.route_errors);
                Err(EventError::RouteFailed(why))
            }
            Err(e) => {
                self.broken = true;
                tracing::debug!(plugin = %self.plugin.name(), "trap details: {e:?}");
                let summary = match e.downcast_ref::<Trap>() {
                    Some(t) => t.to_string(),
                    None => e.root_cause().to_string(),
                };
                if log_flood {
                    PluginStats::bump(&stats.log_floods);
                    Err(EventError::LogFlood)
                } else if hit_memory_cap {
                    // refused memory growth first: whatever came next (abort, or a
                    // deadline hit while retrying) is the memory cap's doing
                    PluginStats::bump(&stats.memory_cap);
                    Err(EventError::MemoryCap(summary))
                } else if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    PluginStats::bump(&stats.timeouts);
                    Err(EventError::Timeout)
                } else {
                    PluginStats::bump(&stats.traps);
                    Err(EventError::Trap(summary))
                }
            }
        };
        if let Err(err) = &result {
            tracing::warn!(plugin = %self.plugin.name(), route = label, "event failed: {err}");
        }
        if label != "self-test" {
            // a new version failing its self-test must not quarantine the one serving
            self.plugin.account().charge(
                self.store.data().guest_time(),
                result.as_ref().is_err_and(EventError::discards_instance),
            );
        }
        result
    }
}

/// A worker's handle on a plugin: keeps one instance, replaces it after a failure.
pub struct PluginWorker {
    plugin: Arc<Plugin>,
    instance: Option<PluginInstance>,
}

impl PluginWorker {
    /// A worker for `plugin`; the instance is created on the first event.
    pub fn new(plugin: Arc<Plugin>) -> Self {
        PluginWorker {
            plugin,
            instance: None,
        }
    }

    /// The plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Create the instance now rather than on the first event.
    pub fn warm_up(&mut self) -> Result<(), crate::RuntimeError> {
        if self.plugin.account().limits().max_instances != 0 {
            // shared instances: make sure one exists, not one per thread
            let mut idle = self.plugin.idle.lock().expect("not poisoned");
            if idle.is_empty() && self.plugin.account().stats().live_instances == 0 {
                idle.push(self.plugin.instantiate()?);
            }
            return Ok(());
        }
        if self.instance.is_none() {
            self.instance = Some(self.plugin.instantiate()?);
        }
        Ok(())
    }

    /// The live instance, created when there is none (or the last one broke).
    fn instance(&mut self) -> Result<&mut PluginInstance, EventError> {
        let account = self.plugin.account();
        if let Err(why) = account.admit() {
            PluginStats::bump(&self.plugin.counters().events);
            return Err(EventError::Refused(why));
        }
        if self.instance.as_ref().is_none_or(PluginInstance::is_broken) {
            self.instance = None;
            let created = if account.limits().max_instances == 0 {
                self.plugin.instantiate()
            } else {
                self.checkout()
            };
            match created {
                Ok(i) => self.instance = Some(i),
                Err(e) => {
                    let why = crate::Report(&e).to_string();
                    tracing::error!(plugin = %self.plugin.name(), "cannot create an instance: {why}");
                    PluginStats::bump(&self.plugin.counters().events);
                    PluginStats::bump(&self.plugin.counters().instantiate_failures);
                    return Err(EventError::Instantiate(why));
                }
            }
        }
        Ok(self.instance.as_mut().expect("created above"))
    }

    /// An instance from the plugin's shared idle ones, or a new one while the tenant is
    /// under its instance limit; at the limit, wait (at most the CPU deadline) for one to
    /// be handed back.
    fn checkout(&self) -> Result<PluginInstance, crate::RuntimeError> {
        let give_up = std::time::Instant::now() + self.plugin.deadline;
        loop {
            if let Some(i) = self.plugin.idle.lock().expect("not poisoned").pop() {
                return Ok(i);
            }
            match self.plugin.instantiate() {
                Err(crate::RuntimeError::InstanceLimit(n)) => {
                    let now = std::time::Instant::now();
                    if now >= give_up {
                        return Err(crate::RuntimeError::InstanceLimit(n));
                    }
                    // an instance of an older version may free the slot instead of
                    // coming back here: look again after a short wait either way
                    let idle = self.plugin.idle.lock().expect("not poisoned");
                    if idle.is_empty() {
                        let wait = (give_up - now).min(std::time::Duration::from_millis(1));
                        let _ = self.plugin.idle_returned.wait_timeout(idle, wait);
                    }
                }
                other => return other,
            }
        }
    }

    /// After an event: with an instance limit, the instance goes back to the shared idle
    /// ones (a broken one is dropped, which frees its slot).
    fn checkin(&mut self) {
        if self.plugin.account().limits().max_instances == 0 {
            return;
        }
        if let Some(i) = self.instance.take()
            && !i.is_broken()
        {
            let mut idle = self.plugin.idle.lock().expect("not poisoned");
            // checked under the lock `retire` clears the idle ones with: nothing is kept
            // for a retired version
            if !self.plugin.is_retired() {
                idle.push(i);
            }
        }
        self.plugin.idle_returned.notify_one();
    }

    /// After an event: free the pool slot of a broken instance now (the next event
    /// instantiates afresh); with an instance limit, hand the instance back.
    fn after_event(&mut self) {
        self.checkin();
        if self
            .instance
            .as_ref()
            .is_some_and(PluginInstance::is_broken)
        {
            self.instance = None;
        }
    }

    /// Run `route` for `ctx` on this worker's instance.
    pub fn run(&mut self, route: Route<'_>, ctx: RouteContext) -> EventOutcome {
        self.on_instance(ctx, |inst, ctx| inst.run(route, ctx))
    }

    /// Run `event_route[msrp:frame-in]` for `event` on this worker's instance.
    pub fn run_msrp(&mut self, event: MsrpEvent) -> MsrpOutcome {
        self.on_instance(event, PluginInstance::run_msrp)
    }

    /// Run `event_route[nosip:msg]` for `event` on this worker's instance.
    pub fn run_nosip(&mut self, event: RawEvent) -> RawOutcome {
        self.on_instance(event, PluginInstance::run_nosip)
    }

    /// Run a timer or expiry event on this worker's instance.
    pub fn run_timer(&mut self, event: TimerEvent) -> TimerOutcome {
        self.on_instance(event, PluginInstance::run_timer)
    }

    fn on_instance<E>(
        &mut self,
        event: E,
        run: impl FnOnce(&mut PluginInstance, E) -> Outcome<E>,
    ) -> Outcome<E> {
        let out = match self.instance() {
            Ok(inst) => run(inst, event),
            Err(e) => Outcome {
                event,
                result: Err(e),
            },
        };
        self.after_event();
        out
    }
}
