//! The SIP parser and every accessor of what it accepts; the 400 the router answers to
//! what it rejects.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipwasm_fuzz::{shared_config, source, touch_message};
use sipwasm_proto::SipMessage;

fuzz_target!(|data: &[u8]| {
    match SipMessage::parse_or_return(bytes::Bytes::copy_from_slice(data)) {
        Ok(msg) => touch_message(&msg),
        Err((error, data)) => {
            let _ = error.to_string();
            if let Some(out) =
                sipwasm_routing::reply_to_malformed(&shared_config(), &data, &source(), &error)
            {
                sipwasm_fuzz::check_reply_to_malformed(&out);
            }
        }
    }
});
