//! The configuration parser: any text as a router's config file, read and checked (a
//! broken config must be an error naming its key, never a crash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipwasm_config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(text, std::path::Path::new("/etc/sipwasm/router.toml")) {
        let _ = e.to_string();
    }
});
