//! `sipwasm:router/textops`: body and header text operations on the SIP message.

use crate::bindings::sipwasm::router::textops::{Error, Host};
use crate::state::HostState;
use sipwasm_routing::RouteContext;
use sipwasm_routing::textops::TextopsError;

fn textops_error(e: TextopsError) -> Error {
    match e {
        TextopsError::InvalidRegex(m) => Error::InvalidRegex(m),
        TextopsError::InvalidSubst(m) => Error::InvalidSubst(m),
        TextopsError::TooLarge(m) => Error::TooLarge(m),
        TextopsError::InvalidValue(m) => Error::InvalidValue(m),
        TextopsError::NoMessage => Error::NoMessage,
    }
}

impl HostState {
    fn with_text<T>(
        &mut self,
        f: impl FnOnce(&mut RouteContext) -> Result<T, TextopsError>,
    ) -> Result<T, Error> {
        let ctx = self.sip_mut().ok_or(Error::NoMessage)?;
        f(ctx).map_err(textops_error)
    }
}

impl Host for HostState {
    fn has_body(&mut self, content_type: String) -> bool {
        self.sip().is_some_and(|c| c.has_body(&content_type))
    }

    fn get_body(&mut self) -> Vec<u8> {
        self.sip()
            .map(|c| c.current_body().to_vec())
            .unwrap_or_default()
    }

    fn set_body(&mut self, body: Vec<u8>, content_type: String) -> Result<(), Error> {
        self.with_text(|c| c.set_body(&body, &content_type))
    }

    fn remove_body(&mut self) -> Result<(), Error> {
        self.with_text(|c| {
            c.remove_body();
            Ok(())
        })
    }

    fn set_reply_body(&mut self, body: Vec<u8>, content_type: String) -> Result<(), Error> {
        self.with_text(|c| c.set_reply_body(&body, &content_type))
    }

    fn search(&mut self, re: String) -> Result<bool, Error> {
        self.with_text(|c| c.search(&re))
    }

    fn search_body(&mut self, re: String) -> Result<bool, Error> {
        self.with_text(|c| c.search_body(&re))
    }

    fn search_hf(&mut self, name: String, re: String) -> Result<bool, Error> {
        self.with_text(|c| c.search_hf(&name, &re))
    }

    fn replace_body(&mut self, re: String, text: String, all: bool) -> Result<u32, Error> {
        self.with_text(|c| c.replace_body(&re, &text, all))
    }

    fn subst_body(&mut self, expr: String) -> Result<u32, Error> {
        self.with_text(|c| c.subst_body(&expr))
    }

    fn subst_hf(&mut self, name: String, expr: String, which: String) -> Result<u32, Error> {
        self.with_text(|c| c.subst_hf(&name, &expr, &which))
    }

    fn get_body_part(&mut self, content_type: String) -> Option<Vec<u8>> {
        self.sip()?.get_body_part(&content_type)
    }

    fn filter_body(&mut self, content_type: String) -> Result<bool, Error> {
        self.with_text(|c| c.filter_body(&content_type))
    }
}
