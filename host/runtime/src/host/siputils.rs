//! `sipwasm:router/siputils`

use crate::bindings::sipwasm::router::siputils::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::siputils::{self, SiputilsError};

fn siputils_error(e: SiputilsError) -> Error {
    match e {
        SiputilsError::InvalidArgument(m) => Error::InvalidArgument(m),
        SiputilsError::InvalidUri(m) => Error::InvalidUri(m),
        SiputilsError::NoRequest => Error::NoRequest,
    }
}

impl Host for HostState {
    fn has_totag(&mut self) -> bool {
        self.sip().is_some_and(|c| c.has_totag())
    }

    fn is_e164(&mut self, number: String) -> bool {
        siputils::is_e164(&number)
    }

    fn is_uri_user_e164(&mut self, uri: String) -> bool {
        siputils::is_uri_user_e164(&uri)
    }

    fn is_user(&mut self, user: String) -> bool {
        self.sip().is_some_and(|c| c.is_user(&user))
    }

    fn uri_param(&mut self, name: String, value: Option<String>) -> bool {
        self.sip()
            .is_some_and(|c| c.uri_param(&name, value.as_deref()))
    }

    fn add_uri_param(&mut self, param: String) -> Result<(), Error> {
        let ctx = self.sip_mut().ok_or(Error::NoRequest)?;
        ctx.add_uri_param(&param).map_err(siputils_error)
    }

    fn tel2sip(&mut self, uri: String, hostpart: String) -> Result<Option<String>, Error> {
        siputils::tel2sip(&uri, &hostpart).map_err(siputils_error)
    }
}
