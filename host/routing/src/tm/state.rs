//! The transaction state a route carries: what it set up for its transaction, the ids of
//! the transaction it runs in, what it asks of the transaction layer, and the errors.

use crate::branch::target::Branch;
use crate::services::hop::NextHop;
use crate::value::Value;
use std::time::Duration;

/// What a route set up for its transaction (kept with it for later routes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TmState {
    /// `t_on_reply` route.
    pub on_reply: Option<String>,
    /// `t_on_failure` route.
    pub on_failure: Option<String>,
    /// `t_on_branch` route.
    pub on_branch: Option<String>,
    /// `t_set_fr`: INVITE final-response timeout after a provisional.
    pub fr_inv: Option<Duration>,
    /// `t_set_fr`: final-response timeout.
    pub fr: Option<Duration>,
}

/// `$T(...)` and the answers of `t_is_canceled` / `t_get_status_code`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxInfo {
    /// Slot of the transaction.
    pub index: u32,
    /// Label of the transaction.
    pub label: u32,
    /// Status of the reply being handled (onreply) or chosen (failure route), or sent.
    pub reply_code: u16,
    /// Its reason phrase.
    pub reply_reason: String,
    /// Branch of the reply.
    pub branch: Option<u16>,
    /// True when the reply was generated here (a timeout).
    pub local_reply: bool,
    /// True when the transaction was canceled.
    pub canceled: bool,
    /// The Digest challenges of the reply (failure route after a 401 or 407): whether it
    /// is a proxy's (407, Proxy-Authenticate), and the header value.
    pub challenges: Vec<(bool, String)>,
    /// The Request-URI the reply's branch went out with (failure route): what `uac_auth`
    /// signs, as Kamailio does.
    pub branch_uri: Option<String>,
}

impl TxInfo {
    pub(crate) fn field(&self, f: crate::pv::TField) -> Value {
        use crate::pv::TField;
        match f {
            TField::IdIndex => Value::Int(i64::from(self.index)),
            TField::IdLabel => Value::Int(i64::from(self.label)),
            TField::ReplyCode => Value::Int(i64::from(self.reply_code)),
            TField::ReplyReason => Value::Str(self.reply_reason.clone()),
            TField::BranchIndex => self
                .branch
                .map_or(Value::Null, |b| Value::Int(i64::from(b))),
            TField::ReplyType => Value::Int(i64::from(self.local_reply)),
        }
    }
}

/// One branch of a relay, with its destinations resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchPlan {
    /// The branch: Request-URI, `$du`, Path, socket, flow.
    pub branch: Branch,
    /// Where it goes, in the order to try: the first now, the next ones when it fails
    /// with 503 or times out (DNS failover over SRV targets and addresses).
    pub hops: Vec<NextHop>,
}

impl BranchPlan {
    /// The destination tried first.
    pub fn hop(&self) -> NextHop {
        self.hops[0]
    }
}

/// What a route asked of the transaction layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TmIntent {
    /// `t_newtran`: create the transaction now.
    NewTran,
    /// `t_relay`: forward statefully to these destinations.
    Relay(Vec<BranchPlan>),
    /// `t_relay` on a CANCEL that matches an INVITE transaction: cancel its branches and
    /// answer the CANCEL.
    CancelInvite,
    /// `t_suspend`: the transaction exists and waits for `t_continue`; the route's final
    /// state is what the resumed route starts from.
    Suspend,
    /// `t_reply`: answer through the transaction.
    Reply {
        /// Status.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
}

/// Why a transaction function failed; mirrors the WIT `tm.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TmError {
    /// The event has no request.
    #[error("no request in this event")]
    NoRequest,
    /// `t_relay` was already called for this request.
    #[error("the request was already relayed")]
    AlreadyRelayed,
    /// No destination resolves.
    #[error("no destination: {0}")]
    NoDestination(String),
    /// Max-Forwards is 0.
    #[error("Max-Forwards reached 0")]
    TooManyHops,
    /// Bad code, reason or timeout.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// No transaction exists for this event, or none with the given ids (`t_continue`).
    #[error("no transaction")]
    NoTransaction,
    /// `t_continue` named a transaction that is not suspended (any more).
    #[error("the transaction is not suspended")]
    NotSuspended,
}

/// A `t_continue` a route asked for: run `route` for suspended transaction
/// (`index`, `label`) once the current event is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// `$T(id_index)` of the suspended transaction.
    pub index: u32,
    /// `$T(id_label)`.
    pub label: u32,
    /// The named route (`route[NAME]`) to resume in.
    pub route: String,
}

/// Check a `t_continue` route name before anything is claimed.
pub(crate) fn check_resume_route(route: &str) -> Result<(), TmError> {
    if route.is_empty()
        || route.len() > 64
        || !route
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
    {
        return Err(TmError::Invalid(format!("bad route name {route:?}")));
    }
    Ok(())
}
