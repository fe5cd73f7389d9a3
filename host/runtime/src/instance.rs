//! Running events on an instance.
//!
//! The instance model, chosen by measurement (see BENCHMARKS.md): each worker keeps one
//! instance and reuses it for every event, which costs a plain call (~1-2 µs with a few host
//! calls) instead of ~30 µs for a fresh instance per event. Per-event state lives in the
//! host (`RouteContext`), so nothing of one message leaks into the next through the host; a
//! plugin's own globals persist across events, like a Kamailio worker's Lua state. After a
//! trap, a timeout or a memory-cap hit the instance is discarded and the next event gets a
//! fresh one.

use crate::bindings::exports::sipwasm::router::{routes, tm_routes};
use crate::plugin::Plugin;
use crate::state::HostState;
use crate::stats::PluginStats;
use sipwasm_routing::RouteContext;
use std::sync::Arc;
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

/// Why an event did not complete normally.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The CPU deadline was reached.
    #[error("CPU deadline exceeded")]
    Timeout,
    /// The guest trapped after the memory cap refused to grow its memory.
    #[error("memory cap reached: {0}")]
    MemoryCap(String),
    /// The guest trapped (panic, unreachable, out-of-bounds access ...).
    #[error("trap: {0}")]
    Trap(String),
    /// The route does not exist in the plugin.
    #[error("no route named {0:?}")]
    UnknownRoute(String),
    /// The route reported failure.
    #[error("route failed: {0}")]
    RouteFailed(String),
    /// No instance could be created.
    #[error("{0}")]
    Instantiate(String),
}

impl EventError {
    /// True when the instance is unusable afterwards (the component model forbids entering
    /// an instance that trapped).
    pub fn discards_instance(&self) -> bool {
        matches!(
            self,
            EventError::Timeout | EventError::MemoryCap(_) | EventError::Trap(_)
        )
    }
}

/// The result of running one event.
#[derive(Debug)]
pub struct EventOutcome {
    /// The event state, with what the plugin changed and wants sent.
    pub ctx: RouteContext,
    /// How the route ended.
    pub result: Result<Verdict, EventError>,
}

/// One live instance of a plugin in its own store.
pub struct PluginInstance {
    plugin: Arc<Plugin>,
    store: Store<HostState>,
    routes: routes::Guest,
    tm_routes: Option<tm_routes::Guest>,
    broken: bool,
}

impl PluginInstance {
    pub(crate) fn new(
        plugin: Arc<Plugin>,
        store: Store<HostState>,
        routes: routes::Guest,
        tm_routes: Option<tm_routes::Guest>,
    ) -> Self {
        PluginInstance {
            plugin,
            store,
            routes,
            tm_routes,
            broken: false,
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

    /// Run `route` for the event `ctx`, within the plugin's CPU deadline.
    pub fn run(&mut self, route: Route<'_>, ctx: RouteContext) -> EventOutcome {
        let stats = &self.plugin.stats;
        PluginStats::bump(&stats.events);
        if self.broken {
            return EventOutcome {
                ctx,
                result: Err(EventError::Instantiate("instance is broken".into())),
            };
        }
        let tm_guest = match (&route, &self.tm_routes) {
            (Route::Failure(n) | Route::Branch(n) | Route::OnReply(n), None) => {
                PluginStats::bump(&stats.route_errors);
                return EventOutcome {
                    ctx,
                    result: Err(EventError::UnknownRoute(format!(
                        "{n} (the plugin does not export sipwasm:router/tm-routes)"
                    ))),
                };
            }
            (_, t) => t.clone(),
        };
        {
            let data = self.store.data_mut();
            data.event = Some(ctx);
            data.route = route.label();
            data.limits.hit = false;
            data.start_call();
        }
        self.store.set_epoch_deadline(self.plugin.deadline_ticks);
        let guest = &self.routes;
        let in_call = self.plugin.ticker.enter();
        let call = match (route, tm_guest) {
            (Route::Request, _) => guest.call_request_route(&mut self.store),
            (Route::Reply, _) => guest.call_reply_route(&mut self.store),
            (Route::Named(name), _) => guest.call_named_route(&mut self.store, name),
            (Route::Failure(name), Some(t)) => t.call_failure_route(&mut self.store, name),
            (Route::Branch(name), Some(t)) => t.call_branch_route(&mut self.store, name),
            (Route::OnReply(name), Some(t)) => t.call_onreply_route(&mut self.store, name),
            (_, None) => unreachable!("checked above"),
        };
        drop(in_call);
        let data = self.store.data_mut();
        let ctx = data
            .event
            .take()
            .expect("the event stays in the store during the call");
        let hit_memory_cap = data.limits.hit;
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
                if hit_memory_cap {
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
            tracing::warn!(plugin = %self.plugin.name(), route = route.label(), "event failed: {err}");
        }
        EventOutcome { ctx, result }
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
        if self.instance.is_none() {
            self.instance = Some(self.plugin.instantiate()?);
        }
        Ok(())
    }

    /// Run `route` for `ctx` on this worker's instance.
    pub fn run(&mut self, route: Route<'_>, ctx: RouteContext) -> EventOutcome {
        if self.instance.as_ref().is_none_or(PluginInstance::is_broken) {
            self.instance = None;
            match self.plugin.instantiate() {
                Ok(i) => self.instance = Some(i),
                Err(e) => {
                    tracing::error!(plugin = %self.plugin.name(), "cannot create an instance: {e}");
                    PluginStats::bump(&self.plugin.stats.events);
                    return EventOutcome {
                        ctx,
                        result: Err(EventError::Instantiate(e.to_string())),
                    };
                }
            }
        }
        let inst = self.instance.as_mut().expect("created above");
        let out = inst.run(route, ctx);
        if inst.is_broken() {
            // free the pool slot now; the next event instantiates afresh
            self.instance = None;
        }
        out
    }
}
