//! `sipwasm test`: run a plugin over cases written as files, without sockets.
//!
//! A case gives the message that arrives (SIP text as a phone would send it), where it
//! comes from, what the shared tables and the location tables hold before it, and what
//! should come of it: the route's verdict, the reply sent (statelessly or through the
//! transaction), where the request is relayed, header lines of what goes out, the
//! failure, onreply and branch routes it armed, the plugin's log lines, the tables
//! afterwards. The plugin runs as the router runs it: the configuration's default tenant
//! (its limits, its grants, its tables), one worker's instance, the same routing core.
//! Nothing is sent: what the route wants sent is what the case checks. Name resolution
//! resolves IP literals and `localhost` only; a plugin that suspends a transaction is told
//! there is no transaction layer.
//!
//! The cases of a file run in order over one router state, so a REGISTER case fills the
//! location table a later INVITE case looks up, and a table a case writes is what the next
//! case reads. The same file runs against a plugin written in any language: the behaviour
//! of a plugin is written once.
//!
//! ```toml
//! [[case]]
//! name = "INVITE is refused"
//! message = """
//! INVITE sip:bob@example.com SIP/2.0
//! Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1
//! From: <sip:alice@example.com>;tag=1
//! To: <sip:bob@example.com>
//! Call-ID: case-1
//! CSeq: 1 INVITE
//! Max-Forwards: 70
//! """
//! [case.expect]
//! reply = "480 Temporarily Unavailable"
//! log = ["Hello, I am in the request_route"]
//!
//! [[case]]
//! name = "a call to a registered phone goes to its contact"
//! message = """
//! INVITE sip:bob@example.com SIP/2.0
//! ...
//! """
//! [[case.location]]
//! aor = "sip:bob@example.com"
//! contact = "sip:bob@192.0.2.20:5062"
//! [case.expect]
//! relay = ["sip:bob@192.0.2.20:5062"]
//! failure_route = "MANAGE_FAILURE"
//! ```

use crate::config::Config;
use crate::tenants::{Tenants, Workers};
use anyhow::{Context, bail};
use bytes::Bytes;
use serde::Deserialize;
use sipwasm_proto::msrp::MsrpFrame;
use sipwasm_proto::{SipMessage, Transport};
use sipwasm_routing::htable::HtValue;
use sipwasm_routing::{
    LocalConfig, MsrpEvent, NosipFilter, RawEvent, RouteContext, Source, StaticServices,
    TimerEvent, TimerKind, TmIntent,
};
use sipwasm_runtime::{Route, Verdict};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A file of cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The cases, run in order over one router state.
    #[serde(default)]
    pub case: Vec<Case>,
}

/// One message in, and what should come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, for the report.
    pub name: String,
    /// The SIP message as text. Lines may end in `\n` alone (made `\r\n`), the blank line
    /// before the body may be left out when there is none, and a missing Content-Length
    /// is added. A case has this, `msrp` or `datagram`.
    #[serde(default)]
    pub message: Option<String>,
    /// An MSRP frame as text (`event_route[msrp:frame-in]`), lines as in `message`; it
    /// arrives over TCP unless `source` says TLS.
    #[serde(default)]
    pub msrp: Option<String>,
    /// A packet that is not SIP (`event_route[nosip:msg]`), as it is.
    #[serde(default)]
    pub datagram: Option<String>,
    /// A timer of the plugin ticks: `event_route[timer:NAME]` for this `NAME`.
    #[serde(default)]
    pub timer: Option<String>,
    /// With `timer`: a one-shot timer's `$rtimer(data)` (`rtimer.once`).
    #[serde(default)]
    pub timer_data: Option<String>,
    /// Where it comes from: `PROTO:IP:PORT` (default `udp:192.0.2.10:5060`).
    #[serde(default = "default_source")]
    pub source: String,
    /// The listener it arrives on, `PROTO:IP:PORT` (default: the configuration's first
    /// listener of that transport).
    #[serde(default)]
    pub local: Option<String>,
    /// A named route to run instead of `request_route` / `reply_route`.
    #[serde(default)]
    pub route: Option<String>,
    /// Entries written into the shared tables before the message: table, key, value
    /// (an integer or a string).
    #[serde(default)]
    pub htable: BTreeMap<String, BTreeMap<String, TableValue>>,
    /// Bindings put in the location tables before the message, as REGISTERs would have
    /// made them.
    #[serde(default)]
    pub location: Vec<LocationPreset>,
    /// What should come of it; anything left out is not checked.
    #[serde(default)]
    pub expect: Expect,
}

/// One registered contact a case puts in a location table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationPreset {
    /// The location table (default `location`).
    #[serde(default = "default_location_table")]
    pub table: String,
    /// The address-of-record, a SIP URI (`sip:bob@example.com`).
    pub aor: String,
    /// The Contact URI registered.
    pub contact: String,
    /// Seconds until it expires (default 3600).
    #[serde(default = "default_location_expires")]
    pub expires: u64,
    /// Where requests must go instead of the contact (`sip:IP:PORT;transport=T`: a phone
    /// behind NAT, as `fix_nated_register` records it).
    #[serde(default)]
    pub received: Option<String>,
    /// `q` preference in thousandths (default 1000).
    #[serde(default = "default_location_q")]
    pub q: u16,
}

fn default_location_table() -> String {
    "location".into()
}

fn default_location_expires() -> u64 {
    3600
}

fn default_location_q() -> u16 {
    1000
}

fn default_source() -> String {
    "udp:192.0.2.10:5060".into()
}

/// A value of a shared table, as a case writes or expects it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum TableValue {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

impl From<&HtValue> for TableValue {
    fn from(v: &HtValue) -> Self {
        match v {
            HtValue::Int(i) => TableValue::Int(*i),
            HtValue::Str(s) => TableValue::Str(s.clone()),
        }
    }
}

impl std::fmt::Display for TableValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableValue::Int(i) => write!(f, "{i}"),
            TableValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// What a case expects.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// How the route ended: `continue` (it ran to its end), `exit`, `drop`, or `error` (it
    /// trapped, ran out of time or memory, or returned an error); `ignored` for a datagram
    /// `[nosip]` keeps from the plugin.
    pub verdict: Option<String>,
    /// The reply sent, statelessly or with `t_reply`: `"404 Not Found"`, or the code alone.
    pub reply: Option<String>,
    /// No reply is sent.
    #[serde(default)]
    pub no_reply: bool,
    /// The Request-URIs the request is relayed (`t_relay`, one per branch) or forwarded
    /// (`forward`) to, in order; `[]` for none.
    pub relay: Option<Vec<String>>,
    /// Where those go: `PROTO:IP:PORT` each, in the same order.
    pub relay_to: Option<Vec<String>>,
    /// The first line of every message the event sends (SIP replies and forwarded
    /// requests, MSRP frames, answers to a datagram), in order; `t_relay`'s branches are
    /// not sent by the event (see `relay`).
    pub sent: Option<Vec<String>>,
    /// Where those go: `PROTO:IP:PORT` each, in the same order.
    pub sent_to: Option<Vec<String>>,
    /// Header lines of what goes out (the reply when there is one, else the request as the
    /// route left it): each `Name: value` must be one of its lines (the name in any case);
    /// a `Name` alone only has to be there, with any value.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Header names what goes out must not have.
    #[serde(default)]
    pub no_headers: Vec<String>,
    /// Pieces of the plugin's log lines: each must be in a line, in this order.
    #[serde(default)]
    pub log: Vec<String>,
    /// Shared table entries afterwards: table, key, value.
    #[serde(default)]
    pub htable: BTreeMap<String, BTreeMap<String, TableValue>>,
    /// Shared table entries that must not exist afterwards: `"table=>key"`.
    #[serde(default)]
    pub htable_absent: Vec<String>,
    /// The `failure_route` the route armed with `t_on_failure` (`""`: none).
    pub failure_route: Option<String>,
    /// The `onreply_route` the route armed with `t_on_reply` (`""`: none).
    pub onreply_route: Option<String>,
    /// The `branch_route` the route armed with `t_on_branch` (`""`: none).
    pub branch_route: Option<String>,
}

/// What came of one case.
#[derive(Debug, Default)]
struct Seen {
    verdict: String,
    /// Replies: status line (code and reason), and the message when the event built it
    /// (a stateless SIP reply, an MSRP response).
    replies: Vec<(String, Option<Sent>)>,
    /// Relayed or forwarded: Request-URI (an MSRP request: its first line) and where it
    /// goes.
    relays: Vec<(String, String)>,
    /// Everything the event sends: first line and where it goes.
    sent: Vec<(String, String)>,
    /// The request as the route left it.
    request: Option<SipMessage>,
    /// The transaction routes it armed.
    armed: sipwasm_routing::TmState,
    logs: Vec<String>,
}

/// A message the event built and sent.
#[derive(Debug)]
enum Sent {
    Sip(SipMessage),
    Msrp(MsrpFrame),
}

/// The result of a file of cases.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases run.
    pub run: usize,
    /// Cases that failed, with why.
    pub failed: Vec<(String, Vec<String>)>,
    /// The report as text: one line a case, the differences under each failure.
    pub text: String,
}

impl Report {
    /// True when every case passed.
    pub fn passed(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The router a file of cases runs on: the configuration's tenants, no sockets.
pub struct Bench {
    tenants: Arc<Tenants>,
    workers: Workers,
    listeners: Vec<(Transport, SocketAddr)>,
    /// `[nosip]`: which packets reach `event_route[nosip:msg]`.
    nosip: NosipFilter,
}

impl Bench {
    /// Load `cfg`'s plugins (the default tenant's replaced by `plugin` when given) and
    /// give them the router identity the configuration describes.
    pub fn new(mut cfg: Config, plugin: Option<&Path>) -> anyhow::Result<Bench> {
        if let Some(path) = plugin {
            let default = cfg.default_tenant;
            let tenant = cfg
                .tenants
                .get_mut(default)
                .context("the configuration has no plugin")?;
            tenant.plugin_path = path.to_path_buf();
        }
        let tenants = Tenants::load(&cfg)?;
        let settings = crate::server_settings(&cfg);
        let listeners: Vec<(Transport, SocketAddr)> =
            cfg.listen.iter().map(|l| (l.transport, l.addr)).collect();
        let local = Arc::new(crate::server::router_identity(
            &settings,
            &listeners,
            Arc::new(StaticServices),
        ));
        tenants.bind(&local, &cfg.listen, &listeners, None);
        let workers = Workers::new(tenants.clone());
        Ok(Bench {
            tenants,
            workers,
            listeners,
            nosip: settings.nosip,
        })
    }

    /// A configuration of one plugin, for `sipwasm test PLUGIN` without `--config`.
    pub fn plugin_only(plugin: &Path) -> anyhow::Result<Config> {
        let text = format!(
            "[router]\nlisten = [\"udp:127.0.0.1:5060\", \"tcp:127.0.0.1:5060\"]\n\
             [plugin]\npath = {:?}\n",
            plugin.display().to_string()
        );
        Ok(Config::parse(&text, Path::new("."))?)
    }

    /// Run every case of `file` in order and report.
    pub fn run(&mut self, file: &CaseFile) -> Report {
        let mut report = Report::default();
        for (i, case) in file.case.iter().enumerate() {
            report.run += 1;
            let problems = match self.run_case(case) {
                Ok(seen) => check(case, &seen, &self.tenants),
                Err(e) => vec![format!("{e:#}")],
            };
            if problems.is_empty() {
                let _ = writeln!(report.text, "ok   {} {}", i + 1, case.name);
            } else {
                let _ = writeln!(report.text, "FAIL {} {}", i + 1, case.name);
                for p in &problems {
                    let _ = writeln!(report.text, "       {p}");
                }
                report.failed.push((case.name.clone(), problems));
            }
        }
        let _ = writeln!(
            report.text,
            "{} cases: {} passed, {} failed",
            report.run,
            report.run - report.failed.len(),
            report.failed.len()
        );
        report
    }

    fn run_case(&mut self, case: &Case) -> anyhow::Result<Seen> {
        let source = self.source(case)?;
        let now = crate::now_unix();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let capture = || plugin_log_capture(logs.clone());
        let mut seen = Seen::default();
        let (result, outbound) = match (&case.message, &case.msrp, &case.datagram, &case.timer) {
            (Some(text), None, None, None) => {
                let msg = SipMessage::parse(Bytes::from(sip_text(text)))
                    .context("the case's message does not parse")?;
                let serving = self.tenants.for_message(&msg, &source);
                let local = serving.tenant.local().clone();
                preset_tables(&local, &case.htable, now)?;
                preset_location(&local, &case.location, now)?;
                let route = match (&case.route, msg.is_request()) {
                    (Some(name), _) => Route::Named(name),
                    (None, true) => Route::Request,
                    (None, false) => Route::Reply,
                };
                let ctx = RouteContext::new(local, msg, source, now);
                let outcome = tracing::subscriber::with_default(capture(), || {
                    self.workers.run(&serving, route, ctx)
                });
                let mut ctx = outcome.event;
                let outbound = ctx.take_outbound();
                for intent in ctx.take_intents() {
                    match intent {
                        TmIntent::Reply { code, reason } => {
                            seen.replies.push((format!("{code} {reason}"), None));
                        }
                        TmIntent::Relay(plans) => {
                            for plan in plans {
                                let hop = plan.hop();
                                seen.relays.push((
                                    plan.branch.uri.clone(),
                                    format!("{}:{}", hop.transport.as_str(), hop.addr),
                                ));
                            }
                        }
                        TmIntent::NewTran | TmIntent::CancelInvite | TmIntent::Suspend => {}
                    }
                }
                seen.armed = ctx.tm_state().clone();
                seen.request = SipMessage::parse(Bytes::from(ctx.rendered())).ok();
                (outcome.result, outbound)
            }
            (None, Some(text), None, None) => {
                let frame = MsrpFrame::parse(&sip_lines(text))
                    .context("the case's MSRP frame does not parse")?;
                let serving = self.tenants.for_source(&source);
                if !serving.tenant.events().msrp || !serving.plugin().has_msrp_events() {
                    bail!("the tenant takes no MSRP frames (events, or no msrp-events export)");
                }
                let local = serving.tenant.local().clone();
                preset_tables(&local, &case.htable, now)?;
                let event = MsrpEvent::new(local, frame, source, now);
                let mut outcome = tracing::subscriber::with_default(capture(), || {
                    self.workers.run_msrp(&serving, event)
                });
                (outcome.result, outcome.event.take_outbound())
            }
            (None, None, Some(data), None) => {
                if let Err(why) = self.nosip.check(data.as_bytes()) {
                    // as the router: the plugin never sees it
                    seen.verdict = format!("ignored ({why:?})");
                    return Ok(seen);
                }
                let serving = self.tenants.for_source(&source);
                if !serving.tenant.events().nosip || !serving.plugin().has_nosip_events() {
                    bail!(
                        "the tenant takes no non-SIP packets (events, or no nosip-events export)"
                    );
                }
                let local = serving.tenant.local().clone();
                preset_tables(&local, &case.htable, now)?;
                let event = RawEvent::new(local, Bytes::from(data.clone()), source, now);
                let mut outcome = tracing::subscriber::with_default(capture(), || {
                    self.workers.run_nosip(&serving, event)
                });
                (outcome.result, outcome.event.take_outbound())
            }
            (None, None, None, Some(name)) => {
                let serving = self.tenants.for_source(&source);
                if !serving.plugin().has_event_routes() {
                    bail!("the plugin does not export event-routes (no timer events)");
                }
                sipwasm_routing::rtimer::check_name(name)?;
                let local = serving.tenant.local().clone();
                preset_tables(&local, &case.htable, now)?;
                let kind = match &case.timer_data {
                    Some(data) => TimerKind::Once {
                        name: name.clone(),
                        data: data.clone(),
                    },
                    None => TimerKind::Tick { name: name.clone() },
                };
                let event = TimerEvent::new(local, kind, now);
                let mut outcome = tracing::subscriber::with_default(capture(), || {
                    self.workers.run_timer(&serving, event)
                });
                (outcome.result, outcome.event.take_outbound())
            }
            _ => bail!("a case has one of message, msrp, datagram or timer"),
        };
        seen.verdict = match &result {
            Ok(Verdict::Continue) => "continue".into(),
            Ok(Verdict::Exit) => "exit".into(),
            Ok(Verdict::Drop) => "drop".into(),
            Err(e) => format!("error ({e})"),
        };
        seen.logs = std::mem::take(&mut *logs.lock().expect("not poisoned"));
        // what the event sends itself: stateless replies and forwards, MSRP frames,
        // answers to a datagram (before the transaction's, which come later)
        let mut replies = Vec::new();
        for t in outbound {
            let to = format!("{}:{}", t.transport.as_str(), t.dest);
            let first = t.data.split(|b| *b == b'\n').next().unwrap_or_default();
            let first = String::from_utf8_lossy(first).trim_end().to_string();
            seen.sent.push((first.clone(), to.clone()));
            if let Ok(out) = SipMessage::parse(t.data.clone()) {
                if out.is_request() {
                    seen.relays.push((request_uri(&out), to));
                } else {
                    replies.push((status_line(&out), Some(Sent::Sip(out))));
                }
            } else if let Ok(frame) = MsrpFrame::parse(&t.data) {
                match frame.status() {
                    Some(code) => replies.push((
                        format!(
                            "{code} {}",
                            String::from_utf8_lossy(frame.comment().unwrap_or_default())
                        )
                        .trim_end()
                        .to_string(),
                        Some(Sent::Msrp(frame)),
                    )),
                    None => seen.relays.push((first, to)),
                }
            }
        }
        replies.append(&mut seen.replies);
        seen.replies = replies;
        Ok(seen)
    }

    fn source(&self, case: &Case) -> anyhow::Result<Source> {
        let (transport, src) = proto_addr(&case.source).context("source")?;
        let local = match &case.local {
            Some(l) => proto_addr(l).context("local")?.1,
            None => self
                .listeners
                .iter()
                .find(|(t, _)| *t == transport)
                .map(|(_, a)| *a)
                .with_context(|| format!("the configuration has no {transport} listener"))?,
        };
        Ok(Source {
            transport,
            src,
            local,
            // a stream message comes on a connection; its number is the case's own
            conn: transport.is_stream().then_some(1),
        })
    }
}

/// Write a case's table entries before its event.
fn preset_tables(
    local: &LocalConfig,
    tables: &BTreeMap<String, BTreeMap<String, TableValue>>,
    now: u64,
) -> anyhow::Result<()> {
    for (table, entries) in tables {
        for (key, value) in entries {
            let value = match value {
                TableValue::Int(i) => HtValue::Int(*i),
                TableValue::Str(s) => HtValue::Str(s.clone()),
            };
            local
                .htables
                .set(table, key, value, now)
                .with_context(|| format!("setting {table}=>{key}"))?;
        }
    }
    Ok(())
}

/// Put a case's bindings in the location tables before its event.
fn preset_location(
    local: &LocalConfig,
    bindings: &[LocationPreset],
    now: u64,
) -> anyhow::Result<()> {
    for (n, p) in bindings.iter().enumerate() {
        let aor = sipwasm_routing::registrar::aor_of(p.aor.as_bytes())
            .with_context(|| format!("location: {:?} is no SIP URI with a user", p.aor))?;
        let binding = sipwasm_routing::registrar::Binding {
            contact: p.contact.clone(),
            expires_at: now + p.expires,
            q: p.q,
            call_id: format!("sipwasm-test-preset-{n}"),
            cseq: 1,
            received: p.received.clone(),
            path: Vec::new(),
            socket: None,
            flow: None,
            instance: None,
            reg_id: None,
            user_agent: None,
            owner: None,
        };
        local
            .location
            .insert(&p.table, &aor, binding)
            .with_context(|| format!("location: binding {} to {aor}", p.contact))?;
    }
    Ok(())
}

/// `text` with CRLF line ends (an MSRP frame as a case writes it).
fn sip_lines(text: &str) -> Vec<u8> {
    let text = text.replace("\r\n", "\n");
    let mut out = text.trim_start_matches('\n').replace('\n', "\r\n");
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// `PROTO:IP:PORT`, as a listener is written.
fn proto_addr(text: &str) -> anyhow::Result<(Transport, SocketAddr)> {
    let spec: sipwasm_transport::ListenSpec = text.parse()?;
    Ok((spec.transport, spec.addr))
}

/// The case's text as a message: CRLF line ends, the blank line after the headers, and a
/// Content-Length when it has none.
fn sip_text(text: &str) -> Vec<u8> {
    let text = text.replace("\r\n", "\n");
    let text = text.trim_start_matches('\n');
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut out = String::with_capacity(text.len() + 64);
    let mut has_length = false;
    for line in head.lines() {
        let name = line.split(':').next().unwrap_or("").trim();
        has_length |= name.eq_ignore_ascii_case("content-length") || name == "l";
        out.push_str(line);
        out.push_str("\r\n");
    }
    let body = body.replace('\n', "\r\n");
    if !has_length {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

fn status_line(reply: &SipMessage) -> String {
    format!(
        "{} {}",
        reply.status().unwrap_or(0),
        String::from_utf8_lossy(reply.reason().unwrap_or_default())
    )
}

fn request_uri(request: &SipMessage) -> String {
    let line = String::from_utf8_lossy(request.first_line());
    line.split(' ').nth(1).unwrap_or_default().to_string()
}

/// Compare what came of `case` with what it expects: one line per difference.
fn check(case: &Case, seen: &Seen, tenants: &Tenants) -> Vec<String> {
    let e = &case.expect;
    let mut problems = Vec::new();
    if let Some(v) = &e.verdict {
        let matches = match v.as_str() {
            "error" | "ignored" => seen.verdict.starts_with(v.as_str()),
            other => seen.verdict == other,
        };
        if !matches {
            problems.push(format!("verdict: expected {v}, got {}", seen.verdict));
        }
    }
    let first_reply = seen.replies.first().map(|(line, _)| line.as_str());
    if let Some(want) = &e.reply {
        let matches = first_reply.is_some_and(|got| {
            got == want || (!want.contains(' ') && got.split(' ').next() == Some(want.as_str()))
        });
        if !matches {
            problems.push(format!(
                "reply: expected {want:?}, got {}",
                first_reply.map_or("no reply".to_string(), |r| format!("{r:?}"))
            ));
        }
    }
    if e.no_reply && !seen.replies.is_empty() {
        let all: Vec<&str> = seen.replies.iter().map(|(l, _)| l.as_str()).collect();
        problems.push(format!("reply: expected none, got {all:?}"));
    }
    same_list(
        &mut problems,
        "relay",
        e.relay.as_deref(),
        seen.relays.iter().map(|(u, _)| u.as_str()).collect(),
    );
    same_list(
        &mut problems,
        "relay_to",
        e.relay_to.as_deref(),
        seen.relays.iter().map(|(_, h)| h.as_str()).collect(),
    );
    same_list(
        &mut problems,
        "sent",
        e.sent.as_deref(),
        seen.sent.iter().map(|(l, _)| l.as_str()).collect(),
    );
    same_list(
        &mut problems,
        "sent_to",
        e.sent_to.as_deref(),
        seen.sent.iter().map(|(_, t)| t.as_str()).collect(),
    );
    // what goes out: the reply built, else the request as the route left it
    let out = match seen.replies.iter().find_map(|(_, m)| m.as_ref()) {
        Some(Sent::Sip(m)) => Some(sip_header_lines(m)),
        Some(Sent::Msrp(f)) => Some(msrp_header_lines(f)),
        None => seen.request.as_ref().map(sip_header_lines),
    };
    if !e.headers.is_empty() || !e.no_headers.is_empty() {
        match out {
            None => problems.push("headers: nothing goes out to check".into()),
            Some(lines) => {
                for want in &e.headers {
                    let there = if want.contains(':') {
                        lines.iter().any(|l| same_line(l, want))
                    } else {
                        lines
                            .iter()
                            .any(|l| line_name(l).eq_ignore_ascii_case(want))
                    };
                    if !there {
                        problems.push(format!("headers: no line {want:?} in {lines:?}"));
                    }
                }
                for name in &e.no_headers {
                    if let Some(l) = lines
                        .iter()
                        .find(|l| line_name(l).eq_ignore_ascii_case(name))
                    {
                        problems.push(format!("no_headers: {name} is there ({l:?})"));
                    }
                }
            }
        }
    }
    for (what, want, got) in [
        ("failure_route", &e.failure_route, &seen.armed.on_failure),
        ("onreply_route", &e.onreply_route, &seen.armed.on_reply),
        ("branch_route", &e.branch_route, &seen.armed.on_branch),
    ] {
        let Some(want) = want else { continue };
        let got = got.as_deref().unwrap_or("");
        if want != got {
            problems.push(format!("{what}: expected {want:?} armed, got {got:?}"));
        }
    }
    let mut logs = seen.logs.iter();
    for want in &e.log {
        if !logs.any(|l| l.contains(want.as_str())) {
            problems.push(format!(
                "log: no line with {want:?} (in order); the plugin logged {:?}",
                seen.logs
            ));
            break;
        }
    }
    let tables = &tenants.default_tenant().local().htables;
    let now = crate::now_unix();
    for (table, entries) in &e.htable {
        for (key, want) in entries {
            let got = tables.get(table, key, now);
            match got {
                Ok(Some(v)) if TableValue::from(&v) == *want => {}
                Ok(Some(v)) => problems.push(format!(
                    "htable: {table}=>{key} expected {want}, got {}",
                    TableValue::from(&v)
                )),
                Ok(None) => problems.push(format!(
                    "htable: {table}=>{key} expected {want}, got nothing"
                )),
                Err(err) => problems.push(format!("htable: {table}=>{key}: {err}")),
            }
        }
    }
    for entry in &e.htable_absent {
        let Some((table, key)) = entry.split_once("=>") else {
            problems.push(format!("htable_absent: {entry:?} is not table=>key"));
            continue;
        };
        if let Ok(Some(v)) = tables.get(table, key, now) {
            problems.push(format!(
                "htable_absent: {entry} holds {}",
                TableValue::from(&v)
            ));
        }
    }
    problems
}

/// A list the case expects, against the one seen: a difference when it says another.
fn same_list(problems: &mut Vec<String>, what: &str, want: Option<&[String]>, got: Vec<&str>) {
    if let Some(want) = want
        && want.iter().map(String::as_str).ne(got.iter().copied())
    {
        problems.push(format!("{what}: expected {want:?}, got {got:?}"));
    }
}

fn msrp_header_lines(f: &MsrpFrame) -> Vec<String> {
    f.headers()
        .map(|(n, v)| {
            format!(
                "{}: {}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            )
        })
        .collect()
}

fn sip_header_lines(m: &SipMessage) -> Vec<String> {
    let b = m.as_bytes();
    m.headers()
        .iter()
        .map(|h| String::from_utf8_lossy(&b[h.line.start as usize..h.line.end as usize]).into())
        .map(|l: String| l.trim_end().to_string())
        .collect()
}

fn line_name(line: &str) -> &str {
    line.split(':').next().unwrap_or("").trim()
}

/// The same header line: the name in any case, the value as written (around the colon,
/// any spacing).
fn same_line(got: &str, want: &str) -> bool {
    let value = |l: &str| l.split_once(':').map_or("", |(_, v)| v).trim().to_string();
    line_name(got).eq_ignore_ascii_case(line_name(want)) && value(got) == value(want)
}

/// A subscriber that keeps the plugin's log lines (and nothing else).
fn plugin_log_capture(lines: Arc<Mutex<Vec<String>>>) -> impl tracing::Subscriber {
    use tracing_subscriber::layer::SubscriberExt as _;
    tracing_subscriber::registry().with(PluginLines(lines))
}

struct PluginLines(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PluginLines {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() != "sipwasm::plugin" {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().expect("not poisoned").push(m.0);
    }
}

impl CaseFile {
    /// Cases from TOML text.
    pub fn parse(text: &str) -> anyhow::Result<CaseFile> {
        let file: CaseFile = toml::from_str(text)?;
        if file.case.is_empty() {
            bail!("no [[case]]");
        }
        Ok(file)
    }
}

/// Read a file of cases.
pub fn read_cases(path: &Path) -> anyhow::Result<CaseFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    CaseFile::parse(&text).with_context(|| format!("reading {}", path.display()))
}

/// `sipwasm test`: run each file of cases on a fresh router; true when all passed.
pub fn run_files(
    config: Option<&Path>,
    plugin: Option<&Path>,
    files: &[PathBuf],
) -> anyhow::Result<bool> {
    let mut all_passed = true;
    for path in files {
        let cases = read_cases(path)?;
        let cfg = match (config, plugin) {
            (Some(c), _) => Config::load(c)?,
            (None, Some(p)) => Bench::plugin_only(p)?,
            (None, None) => bail!("give a plugin, or --config"),
        };
        let mut bench = Bench::new(cfg, plugin)?;
        let report = bench.run(&cases);
        println!("== {}", path.display());
        print!("{}", report.text);
        all_passed &= report.passed();
    }
    Ok(all_passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_text_becomes_a_message() {
        let m = sip_text("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4\nCall-ID: x\n");
        assert_eq!(
            m,
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCall-ID: x\r\n\
Content-Length: 0\r\n\r\n"
        );
        let m = sip_text("MESSAGE sip:a@b SIP/2.0\nContent-Type: text/plain\n\nhi\nthere");
        assert!(m.ends_with(b"Content-Length: 9\r\n\r\nhi\r\nthere"));
        let kept = sip_text("MESSAGE sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhi");
        assert!(kept.ends_with(b"l: 2\r\n\r\nhi"));
    }

    #[test]
    fn header_lines_compare_by_name_in_any_case_and_value() {
        assert!(same_line("X-Foo:  bar", "x-foo: bar"));
        assert!(!same_line("X-Foo: bar", "X-Foo: baz"));
        assert!(!same_line("X-Foo-2: bar", "X-Foo: bar"));
    }

    #[test]
    fn addresses_of_cases() {
        assert_eq!(
            proto_addr("tcp:192.0.2.1:5070").unwrap(),
            (Transport::Tcp, "192.0.2.1:5070".parse().unwrap())
        );
        assert!(proto_addr("192.0.2.1:5070").is_err());
        assert!(proto_addr("sctp:192.0.2.1:5070").is_err());
    }
}
