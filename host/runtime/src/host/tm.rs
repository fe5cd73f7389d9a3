//! `sipwasm:router/tm`

use crate::bindings::sipwasm::router::tm::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::{Event, RouteContext, TmError};

pub(crate) fn tm_error(e: TmError) -> Error {
    match e {
        TmError::NoRequest => Error::NoRequest,
        TmError::AlreadyRelayed => Error::AlreadyRelayed,
        TmError::NoDestination(s) => Error::NoDestination(s),
        TmError::TooManyHops => Error::TooManyHops,
        TmError::Invalid(s) => Error::Invalid(s),
        TmError::NoTransaction => Error::NoTransaction,
        TmError::NotSuspended => Error::NotSuspended,
    }
}

impl HostState {
    fn with_tm<T>(
        &mut self,
        f: impl FnOnce(&mut RouteContext) -> Result<T, TmError>,
    ) -> Result<T, Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        f(ctx).map_err(tm_error)
    }
}

impl Host for HostState {
    fn t_relay(&mut self, dst: Option<String>) -> Result<(), Error> {
        // resolving a name may wait for DNS: that time is not the plugin's CPU time
        self.waiting(|s| s.with_tm(|c| c.t_relay(dst.as_deref())))
    }

    fn append_branch(&mut self, uri: Option<String>) -> Result<(), Error> {
        self.with_tm(|c| c.append_branch(uri.as_deref()))
    }

    fn t_load_contacts(&mut self) -> Result<u32, Error> {
        self.with_tm(|c| c.t_load_contacts().map(|n| n as u32))
    }

    fn t_next_contacts(&mut self) -> Result<bool, Error> {
        self.with_tm(|c| c.t_next_contacts())
    }

    fn t_on_branch(&mut self, route: String) {
        if let Some(c) = self.sip_mut() {
            c.t_on_branch(&route);
        }
    }

    fn t_on_reply(&mut self, route: String) {
        if let Some(c) = self.sip_mut() {
            c.t_on_reply(&route);
        }
    }

    fn t_on_failure(&mut self, route: String) {
        if let Some(c) = self.sip_mut() {
            c.t_on_failure(&route);
        }
    }

    fn t_reply(&mut self, code: u16, reason: String) -> Result<(), Error> {
        self.with_tm(|c| c.t_reply(code, &reason))
    }

    fn t_newtran(&mut self) -> Result<(), Error> {
        self.with_tm(|c| c.t_newtran())
    }

    fn t_check_trans(&mut self) -> bool {
        self.sip().is_some_and(|c| c.t_check_trans())
    }

    fn t_is_canceled(&mut self) -> bool {
        self.sip().is_some_and(|c| c.t_is_canceled())
    }

    fn t_get_status_code(&mut self) -> Result<u16, Error> {
        self.with_tm(|c| c.t_get_status_code())
    }

    fn t_set_fr(&mut self, fr_inv_ms: u32, fr_ms: u32) -> Result<(), Error> {
        self.with_tm(|c| c.t_set_fr(fr_inv_ms, fr_ms))
    }

    fn t_suspend(&mut self) -> Result<(u32, u32), Error> {
        self.with_tm(|c| c.t_suspend())
    }

    fn t_continue(&mut self, tindex: u32, tlabel: u32, route: String) -> Result<(), Error> {
        match &mut self.event {
            Some(Event::Sip(ctx)) => ctx.t_continue(tindex, tlabel, &route).map_err(tm_error),
            Some(Event::Raw(raw)) => raw.t_continue(tindex, tlabel, &route).map_err(tm_error),
            Some(Event::Timer(timer)) => timer.t_continue(tindex, tlabel, &route).map_err(tm_error),
            Some(Event::Msrp(_)) | None => Err(Error::NoTransaction),
        }
    }
}
