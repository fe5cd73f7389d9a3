//! `sipwasm:router/nathelper`

use crate::bindings::sipwasm::router::nathelper::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::NatError;

fn nat_error(e: NatError) -> Error {
    match e {
        NatError::NoMessage => Error::NoMessage,
        NatError::NoContact(s) => Error::NoContact(s),
        NatError::AlreadyChanged => Error::AlreadyChanged,
        NatError::Invalid(s) => Error::Invalid(s),
    }
}

impl HostState {
    fn with_nat<T>(
        &mut self,
        f: impl FnOnce(&mut sipwasm_routing::RouteContext) -> Result<T, NatError>,
    ) -> Result<T, Error> {
        let ctx = self.sip_mut().ok_or(Error::NoMessage)?;
        f(ctx).map_err(nat_error)
    }
}

impl Host for HostState {
    fn nat_uac_test(&mut self, flags: u32) -> bool {
        self.sip().is_some_and(|c| c.nat_uac_test(flags))
    }

    fn fix_nated_contact(&mut self) -> Result<(), Error> {
        self.with_nat(|c| c.fix_nated_contact())
    }

    fn fix_nated_register(&mut self) -> Result<(), Error> {
        self.with_nat(|c| c.fix_nated_register())
    }

    fn add_contact_alias(&mut self) -> Result<bool, Error> {
        self.with_nat(|c| c.add_contact_alias())
    }

    fn set_contact_alias(&mut self, trim: bool) -> Result<(), Error> {
        self.with_nat(|c| c.set_contact_alias(trim))
    }

    fn handle_ruri_alias(&mut self) -> Result<bool, Error> {
        self.with_nat(|c| c.handle_ruri_alias())
    }

    fn add_rport(&mut self) {
        if let Some(c) = self.sip_mut() {
            c.force_rport();
        }
    }
}
