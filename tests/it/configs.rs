//! Every configuration file in the repository parses, rejects unknown keys, and points at a
//! plugin that loads.

use crate::harness::*;
use sipwasm::config::Config;
use sipwasm::tenants::Tenants;

fn config_files() -> Vec<std::path::PathBuf> {
    let mut files = vec![root().join("config/router.toml")];
    for e in std::fs::read_dir(root().join("config/examples")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            files.push(p);
        }
    }
    files.sort();
    files
}

#[test]
fn every_config_file_parses_and_its_plugin_loads() {
    // the guests the examples name: Rust, and the twins in C, Python and JavaScript
    for name in [
        "tutorial_501",
        "tutorial_501_c",
        "tutorial_501_py",
        "tutorial_501_js",
    ] {
        plugin(name);
    }
    let files = config_files();
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let cfg = Config::load(f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!cfg.listen.is_empty());
        // as the router loads them: sized by the config, compiled through its cache,
        // each plugin's self-test run on a fresh instance
        Tenants::load(&cfg).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    // the default config is tutorial-501 on 127.0.0.1:5060
    let default = Config::load(&root().join("config/router.toml")).unwrap();
    assert_eq!(default.default_tenant().name, "tutorial-501");
    assert!(
        default
            .listen
            .iter()
            .all(|l| l.addr == "127.0.0.1:5060".parse().unwrap())
    );
}

#[test]
fn every_config_file_rejects_an_unknown_key() {
    for f in config_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let broken = text.replacen("[router]", "[router]\nno_such_key = 1", 1);
        let e = Config::parse(&broken, &f).unwrap_err().to_string();
        assert!(e.contains("no_such_key"), "{}: {e}", f.display());
    }
}
