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
        PvError::Transformation(e) => Error::Transformation(e.to_string()),
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
        match &mut self.event {
            Some(event) => event.pv_set(&spec, value).map_err(pv_error),
            None => Err(no_event(name)),
        }
    }
}

impl Host for HostState {
    fn get(&mut self, name: String) -> Result<Value, Error> {
        let spec = self.spec(&name).map_err(pv_error)?;
        let Some(event) = &self.event else {
            return Ok(Value::Null);
        };
        event.pv_get(&spec).map(to_wit).map_err(|e| {
            // a transformation failing on message data is the message's fault
            if matches!(e, PvError::Transformation(_))
                && let Some(ctx) = self.sip_mut()
            {
                ctx.set_last_error(400, "Bad Request");
            }
            pv_error(e)
        })
    }

    fn set_str(&mut self, name: String, value: String) -> Result<(), Error> {
        self.pv_assign(&name, RValue::Str(value))
    }

    fn set_int(&mut self, name: String, value: i64) -> Result<(), Error> {
        self.pv_assign(&name, RValue::Int(value))
    }

    fn unset(&mut self, name: String) -> Result<(), Error> {
        let spec = self.spec(&name).map_err(pv_error)?;
        match &mut self.event {
            Some(event) => event.pv_unset(&spec).map_err(pv_error),
            None => Err(no_event(&name)),
        }
    }

    fn is_null(&mut self, name: String) -> Result<bool, Error> {
        self.get(name).map(|v| matches!(v, Value::Null))
    }

    fn format(&mut self, template: String) -> Result<String, Error> {
        let parts = self.template(&template).map_err(pv_error)?;
        match &self.event {
            Some(event) => event.format(&parts).map_err(pv_error),
            None => Err(no_event(&template)),
        }
    }
}
