//! # sipwasm-sdk: routing plugins for sipwasm, in Rust
//!
//! A sipwasm plugin is a WebAssembly component whose routes the router runs for every SIP
//! message, as Kamailio runs `request_route` and `route[NAME]` blocks of its config or the
//! `ksr_request_route` function of a KEMI script. This crate is the Rust side of that
//! contract: functions that read like KEMI (`pv::get("$ru")`, `sl::send_reply(480, ...)`,
//! `hdr::append("X-Foo: 1\r\n")`, `info!(...)`), a [`Plugin`] trait whose routes you
//! override, and [`export_plugin!`] to make your type the component's entry point.
//!
//! ## A whole plugin
//!
//! Kamailio's tutorial routing script, as a plugin:
//!
//! ```no_run
//! use sipwasm_sdk::{Plugin, Route, core, export_plugin, info, sl};
//!
//! #[derive(Default)]
//! struct Tutorial;
//!
//! impl Plugin for Tutorial {
//!     fn request_route(&mut self) -> Route {
//!         info!("Hello, I am in the request_route");
//!         if core::is_method("INVITE") {
//!             sl::send_reply(480, "Temporarily Unavailable")?;
//!             return core::exit();
//!         }
//!         self.route("RESPOND_501")?;
//!         info!("Back in request_route");
//!         Ok(())
//!     }
//!
//!     fn route(&mut self, name: &str) -> Route {
//!         match name {
//!             "RESPOND_501" => {
//!                 info!("Now I am in the respond 501 route");
//!                 sl::send_reply(501, "Not Implemented")?;
//!                 core::exit()
//!             }
//!             other => sipwasm_sdk::unknown_route(other),
//!         }
//!     }
//! }
//!
//! export_plugin!(Tutorial);
//! ```
//!
//! Build it for the component target and load it with the router:
//!
//! ```text
//! cargo build --release --target wasm32-wasip2
//! sipwasm check target/wasm32-wasip2/release/my_plugin.wasm
//! ```
//!
//! ## How routes end
//!
//! A route returns [`Route`], `Result<(), Stop>`. `Ok(())` runs to the end; [`core::exit`]
//! stops processing (Kamailio's `exit`), [`core::drop`] stops and drops the message. Errors
//! of the host functions convert into [`Stop`] so `?` works everywhere; a route that fails
//! that way is logged by the router and the request gets the configured fallback reply.
//! Calling another route of your own plugin is a method call: `self.route("NAME")?`, and an
//! `exit` in it ends the whole event, as in Kamailio.
//!
//! ## State
//!
//! The router keeps one instance of the plugin per worker and reuses it, so fields of your
//! plugin type and other globals live across messages (like a Kamailio worker's Lua state).
//! Everything about the current message comes from the host and is fresh for each event;
//! `$var(x)` values are per message. After a crash the instance is replaced by a new one
//! built with `Default`.
#![deny(missing_docs)]

extern crate self as sipwasm_sdk;

#[doc(hidden)]
pub mod bindings;

pub mod auth;
pub mod config;
pub mod core;
pub mod dialog;
pub mod dispatcher;
pub mod forward;
pub mod hdr;
pub mod htable;
pub mod log;
pub mod maxfwd;
pub mod msrp;
pub mod nathelper;
pub mod net;
pub mod nosip;
pub mod path;
pub mod permissions;
pub mod pike;
pub mod pv;
pub mod ratelimit;
pub mod registrar;
pub mod rr;
pub mod rtimer;
pub mod sanity;
pub mod sdpops;
pub mod siputils;
pub mod sl;
pub mod statistics;
pub mod textops;
pub mod tm;
pub mod uac;

use std::fmt;

/// Why a route stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Stop processing the message (Kamailio's `exit`).
    Exit,
    /// Stop processing and drop the message (Kamailio's `drop`).
    Drop,
    /// The route failed; the text goes to the router's log.
    Error(String),
    /// A route name the plugin does not have.
    UnknownRoute(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Exit => f.write_str("exit"),
            Stop::Drop => f.write_str("drop"),
            Stop::Error(e) => write!(f, "error: {e}"),
            Stop::UnknownRoute(n) => write!(f, "no route named {n:?}"),
        }
    }
}

/// What a route returns: `Ok(())` when it ran to its end.
pub type Route = Result<(), Stop>;

/// The answer of [`Plugin::route`] for a name it does not know.
pub fn unknown_route(name: &str) -> Route {
    Err(Stop::UnknownRoute(name.to_string()))
}

/// A routing plugin. Override the routes you need; the others do nothing.
pub trait Plugin: Default + 'static {
    /// `request_route`: runs for every SIP request. A request that is not answered or
    /// relayed here is dropped.
    fn request_route(&mut self) -> Route {
        Ok(())
    }

    /// `reply_route`: runs for every SIP reply received. Not overriding it tells the
    /// router that the plugin has none, and it is not called for replies (as Kamailio runs
    /// no `reply_route` when the config has none): a reply then goes to its transaction
    /// untouched.
    fn reply_route(&mut self) -> Route {
        unknown_route("reply_route")
    }

    /// `route[NAME]`: named routes, called by your own code (`self.route("NAME")?`) or by
    /// the router (`t_continue` targets ...). Answer names you do not have with
    /// [`unknown_route`].
    fn route(&mut self, name: &str) -> Route {
        unknown_route(name)
    }

    /// `failure_route[NAME]` (set with [`tm::t_on_failure`]): every branch failed. The event
    /// is the request as the request route left it; `$T(reply_code)` is the best reply.
    /// Relay again ([`tm::t_relay`]) for serial forking, or reply; otherwise the best reply
    /// goes upstream.
    fn failure_route(&mut self, name: &str) -> Route {
        unknown_route(name)
    }

    /// `branch_route[NAME]` (set with [`tm::t_on_branch`]): a branch is about to be sent;
    /// header changes apply to it, [`core::drop`] skips it.
    fn branch_route(&mut self, name: &str) -> Route {
        unknown_route(name)
    }

    /// `onreply_route[NAME]` (set with [`tm::t_on_reply`]): a reply of the transaction
    /// arrived; the event is the reply.
    fn onreply_route(&mut self, name: &str) -> Route {
        unknown_route(name)
    }

    /// `event_route[nosip:msg]`: a packet that is not SIP arrived on a SIP socket (see
    /// [`nosip`]). `$mb` is the packet, `$si`/`$sp` its sender. By default it is ignored.
    fn nosip_msg(&mut self) -> Route {
        Ok(())
    }

    /// `event_route[msrp:frame-in]`: an MSRP frame arrived (see [`msrp`]). By default it
    /// is dropped.
    fn msrp_frame_in(&mut self) -> Route {
        Ok(())
    }

    /// `event_route[NAME]` of the router's timers: `"timer:NAME"` when a configured timer
    /// ticks or a one-shot one is due (see [`rtimer`]), `"htable:expired:TABLE"` when an
    /// entry of a table with `expired_event` expires (`$shtrecord(key)`,
    /// `$shtrecord(value)`). There is no SIP message. By default nothing happens.
    fn event_route(&mut self, name: &str) -> Route {
        let _ = name;
        Ok(())
    }

    /// The plugin's own check, run by the router on a fresh instance before this version
    /// is swapped in for the one serving (hot swap). Return an error to keep the old
    /// version serving; the error is logged and shown by `sipwasm ctl plugins`. Only
    /// [`config`] and [`log`] are usable here: there is no event.
    fn self_test(&mut self) -> Result<(), String> {
        Ok(())
    }
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::exports::sipwasm::router::event_routes::Guest as EventRoutesGuest;
    pub use crate::bindings::exports::sipwasm::router::msrp_events::Guest as MsrpGuest;
    pub use crate::bindings::exports::sipwasm::router::nosip_events::Guest as NosipGuest;
    pub use crate::bindings::exports::sipwasm::router::routes::{Guest, RouteError, Verdict};
    pub use crate::bindings::exports::sipwasm::router::self_test::Guest as SelfTestGuest;
    pub use crate::bindings::exports::sipwasm::router::tm_routes::Guest as TmGuest;
    pub use wit_bindgen;

    use super::{Plugin, Route, Stop};
    use std::any::Any;
    use std::cell::RefCell;

    thread_local! {
        static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    fn install_panic_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let payload = info.payload();
                let msg = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(no message)");
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                // one line, so the router log keeps it next to the plugin name
                crate::log::log(
                    crate::log::Level::Crit,
                    &format!("plugin panicked{at}: {}", msg.replace('\n', " ")),
                );
            }));
        });
    }

    /// The self-test export: [`Plugin::self_test`] on the plugin instance; a panic is a
    /// trap, which the router reports as a failed self-test.
    pub fn self_test<P: Plugin>() -> Result<(), String> {
        install_panic_hook();
        INSTANCE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let plugin = slot
                .get_or_insert_with(|| Box::new(P::default()))
                .downcast_mut::<P>()
                .expect("one plugin type per component");
            plugin.self_test()
        })
    }

    /// Run `f` on the plugin instance (created with `Default` on first use) and turn its
    /// [`Route`] into the WIT result.
    pub fn dispatch<P: Plugin>(f: impl FnOnce(&mut P) -> Route) -> Result<Verdict, RouteError> {
        install_panic_hook();
        let route = INSTANCE.with(|cell| {
            let mut slot = cell.borrow_mut();
            let plugin = slot
                .get_or_insert_with(|| Box::new(P::default()))
                .downcast_mut::<P>()
                .expect("one plugin type per component");
            f(plugin)
        });
        match route {
            Ok(()) => Ok(Verdict::Continue),
            Err(Stop::Exit) => Ok(Verdict::Exit),
            Err(Stop::Drop) => Ok(Verdict::Drop),
            Err(Stop::Error(e)) => Err(RouteError::Failed(e)),
            Err(Stop::UnknownRoute(n)) => Err(RouteError::UnknownRoute(n)),
        }
    }
}

/// Make `$plugin` (a type implementing [`Plugin`] and `Default`) the routes this component
/// exports. Use it once, at the crate root of your plugin.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __SipwasmRoutes;

            impl $crate::__private::Guest for __SipwasmRoutes {
                fn request_route()
                -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::request_route(p))
                }

                fn reply_route()
                -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::reply_route(p))
                }

                fn named_route(
                    name: ::std::string::String,
                ) -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::route(p, &name))
                }
            }

            impl $crate::__private::TmGuest for __SipwasmRoutes {
                fn failure_route(
                    name: ::std::string::String,
                ) -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::failure_route(p, &name))
                }

                fn branch_route(
                    name: ::std::string::String,
                ) -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::branch_route(p, &name))
                }

                fn onreply_route(
                    name: ::std::string::String,
                ) -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::onreply_route(p, &name))
                }
            }

            impl $crate::__private::NosipGuest for __SipwasmRoutes {
                fn msg()
                -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::nosip_msg(p))
                }
            }

            impl $crate::__private::MsrpGuest for __SipwasmRoutes {
                fn frame_in()
                -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::msrp_frame_in(p))
                }
            }

            impl $crate::__private::EventRoutesGuest for __SipwasmRoutes {
                fn event_route(
                    name: ::std::string::String,
                ) -> ::core::result::Result<$crate::__private::Verdict, $crate::__private::RouteError>
                {
                    $crate::__private::dispatch::<$plugin>(|p| $crate::Plugin::event_route(p, &name))
                }
            }

            impl $crate::__private::SelfTestGuest for __SipwasmRoutes {
                fn run() -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::self_test::<$plugin>()
                }
            }

            $crate::__export_plugin_impl!(__SipwasmRoutes with_types_in $crate::__private::bindings);
        };
    };
}
