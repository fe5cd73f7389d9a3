//! `sipwasm:router/registrar`

use crate::bindings::sipwasm::router::registrar::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::registrar::RegistrarError;

fn reg_error(e: RegistrarError) -> Error {
    match e {
        RegistrarError::NotRegister => Error::NotRegister,
        RegistrarError::BadRequest(s) => Error::BadRequest(s),
        RegistrarError::IntervalTooBrief => Error::IntervalTooBrief,
        RegistrarError::OutOfOrder => Error::OutOfOrder,
        RegistrarError::TooManyContacts => Error::TooManyContacts,
        RegistrarError::NotFound => Error::NotFound,
        RegistrarError::NoRequest => Error::NoRequest,
        RegistrarError::Unavailable => Error::Unavailable,
    }
}

fn table_name(t: &str) -> Result<&str, Error> {
    if t.is_empty() || t.len() > 64 {
        return Err(Error::BadRequest(
            "table names are 1 to 64 characters".into(),
        ));
    }
    Ok(t)
}

// A shared location table (`[state]`) is a round trip away: the wait is not the
// plugin's CPU time.
impl Host for HostState {
    fn save(&mut self, table: String) -> Result<u32, Error> {
        let t = table_name(&table)?;
        self.waiting(|s| {
            let ctx = s.sip_mut().ok_or(Error::NoRequest)?;
            ctx.registrar_save(t).map(|n| n as u32).map_err(reg_error)
        })
    }

    fn lookup(&mut self, table: String) -> Result<u32, Error> {
        let t = table_name(&table)?;
        self.waiting(|s| {
            let ctx = s.sip_mut().ok_or(Error::NoRequest)?;
            ctx.registrar_lookup(t).map(|n| n as u32).map_err(reg_error)
        })
    }

    fn registered(&mut self, table: String, uri: Option<String>) -> bool {
        self.waiting(|s| {
            s.sip()
                .is_some_and(|c| c.registrar_registered(&table, uri.as_deref()))
        })
    }
}
