//! `sipwasm:router/pv`

use crate::bindings::sipwasm::router::pv::{Error, Host, Value};
use crate::state::HostState;
use sipwasm_routing::{PvError, Value as RValue};

pub(crate) fn pv_error(e: PvError) -> Error {
    match e {
        PvError::UnknownName(n) => Error::UnknownName(n),
        PvError::Syntax(s) => Error::Syntax(s),
        PvError::ReadOnly(s) => Error::ReadOnly(s),
        PvError::InvalidValue(s) => Error::InvalidValue(s),
        PvError::Transformation(s) => Error::Transformation(s),
        other => Error::Syntax(other.to_string()),
    }
}

fn to_wit(v: RValue) -> Value {
    match v {
        RValue::Null => Value::Null,
        RValue::Int(i) => Value::Int(i),
        RValue::Str(s) => Value::Str(s),
    }
}

/// Outside an event (a guest calling an import while being instantiated) there is nothing
/// to read: every name is `$null` and nothing is writable.
fn no_event(name: &str) -> Error {
    Error::InvalidValue(format!("{name}: no event is being routed"))
}

impl HostState {
    fn pv_assign(&mut self, name: &str, value: RValue) -> Result<(), Error> {
        let spec = self.spec(name).map_err(pv_error)?;
        match (&mut self.event, &mut self.raw, &mut self.msrp) {
            (Some(ctx), _, _) => ctx.pv_set(&spec, value).map_err(pv_error),
            (None, Some(raw), _) => raw.pv_set(&spec, value).map_err(pv_error),
            (None, None, Some(m)) => m.pv_set(&spec, value).map_err(pv_error),
            (None, None, None) => Err(no_event(name)),
        }
    }
}

impl Host for HostState {
    fn get(&mut self, name: String) -> Result<Value, Error> {
        let spec = self.spec(&name).map_err(pv_error)?;
        match &self.event {
            Some(ctx) => ctx.pv_get(&spec).map(to_wit).map_err(|e| {
                // a transformation failing on message data is the message's fault
                if matches!(e, PvError::Transformation(_)) {
                    self.event
                        .as_mut()
                        .expect("checked above")
                        .set_last_error(400, "Bad Request");
                }
                pv_error(e)
            }),
            None => match (&self.raw, &self.msrp) {
                (Some(raw), _) => raw.pv_get(&spec).map(to_wit).map_err(pv_error),
                (None, Some(m)) => m.pv_get(&spec).map(to_wit).map_err(pv_error),
                (None, None) => Ok(Value::Null),
            },
        }
    }

    fn set_str(&mut self, name: String, value: String) -> Result<(), Error> {
        self.pv_assign(&name, RValue::Str(value))
    }

    fn set_int(&mut self, name: String, value: i64) -> Result<(), Error> {
        self.pv_assign(&name, RValue::Int(value))
    }

    fn unset(&mut self, name: String) -> Result<(), Error> {
        let spec = self.spec(&name).map_err(pv_error)?;
        match (&mut self.event, &mut self.raw, &mut self.msrp) {
            (Some(ctx), _, _) => ctx.pv_unset(&spec).map_err(pv_error),
            (None, Some(raw), _) => raw.pv_unset(&spec).map_err(pv_error),
            (None, None, Some(m)) => m.pv_unset(&spec).map_err(pv_error),
            (None, None, None) => Err(no_event(&name)),
        }
    }

    fn is_null(&mut self, name: String) -> Result<bool, Error> {
        self.get(name).map(|v| matches!(v, Value::Null))
    }

    fn format(&mut self, template: String) -> Result<String, Error> {
        let parts = self.template(&template).map_err(pv_error)?;
        match (&self.event, &self.raw, &self.msrp) {
            (Some(ctx), _, _) => ctx.format(&parts).map_err(pv_error),
            (None, Some(raw), _) => raw.format(&parts).map_err(pv_error),
            (None, None, Some(m)) => m.format(&parts).map_err(pv_error),
            (None, None, None) => Err(no_event(&template)),
        }
    }
}
