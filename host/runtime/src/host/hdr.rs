//! `sipwasm:router/hdr`

use crate::bindings::sipwasm::router::hdr::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::{HdrError, RouteContext};

fn hdr_error(e: HdrError) -> Error {
    match e {
        HdrError::InvalidHeader(s) => Error::InvalidHeader(s),
        HdrError::NotFound(s) => Error::NotFound(s),
    }
}

impl HostState {
    fn with_msg<T>(
        &mut self,
        f: impl FnOnce(&mut RouteContext) -> Result<T, HdrError>,
    ) -> Result<T, Error> {
        let ctx = self.sip_mut().ok_or(Error::NoMessage)?;
        f(ctx).map_err(hdr_error)
    }
}

impl Host for HostState {
    fn append(&mut self, headers: String) -> Result<(), Error> {
        self.with_msg(|c| c.hdr_append(&headers))
    }

    fn append_after(&mut self, headers: String, name: String) -> Result<(), Error> {
        self.with_msg(|c| c.hdr_append_after(&headers, &name))
    }

    fn insert(&mut self, headers: String) -> Result<(), Error> {
        self.with_msg(|c| c.hdr_insert(&headers))
    }

    fn insert_before(&mut self, headers: String, name: String) -> Result<(), Error> {
        self.with_msg(|c| c.hdr_insert_before(&headers, &name))
    }

    fn remove(&mut self, name: String) -> Result<u32, Error> {
        self.with_msg(|c| Ok(c.hdr_remove(&name)))
    }

    fn is_present(&mut self, name: String) -> bool {
        self.sip().is_some_and(|c| c.hdr_is_present(&name))
    }

    fn get(&mut self, name: String) -> Option<String> {
        self.sip().and_then(|c| c.hdr_get(&name))
    }
}
