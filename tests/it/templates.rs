//! `scripts/new-plugin`: a plugin made from templates/ in each language builds with the
//! command the script prints and passes the cases it was made with, under the config it
//! was made with.

use crate::harness::*;
use sipwasm::config::Config;
use sipwasm::testkit::{Bench, read_cases};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tree laid out as the repository: its own example-plugins/ and config/, the rest
/// (wit, the SDKs, the scripts, the templates, target/) linked to the repository's.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!("sipwasm-new-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        for shared in ["wit", "guest-sdk", "scripts", "templates", "target"] {
            std::os::unix::fs::symlink(root().join(shared), dir.join(shared)).unwrap();
        }
        Tree(dir)
    }

    fn run(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new(self.0.join(script))
            .args(args)
            .env("SIPWASM_ROOT", &self.0)
            .current_dir(&self.0)
            .output()
            .unwrap_or_else(|e| panic!("{script}: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{script} {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// The cases the template came with, run on `wasm` under the config it came with.
    fn passes_its_cases(&self, name: &str, wasm: &Path) {
        let cfg = Config::load(&self.0.join(format!("config/{name}.toml"))).unwrap();
        let cases = read_cases(&self.0.join(format!("example-plugins/cases/{name}.toml"))).unwrap();
        let report = Bench::new(cfg, Some(wasm)).unwrap().run(&cases);
        assert!(report.passed(), "{name}:\n{}", report.text);
        assert_eq!(report.run, 2);
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_new_plugin_in_c_python_or_javascript_builds_and_passes_its_cases() {
    for (lang, suffix) in [("c", "c"), ("python", "py"), ("js", "js")] {
        let name = format!("kit-{suffix}-{}", std::process::id());
        let tree = Tree::new(&name);
        let printed = tree.run("scripts/new-plugin", &[lang, &name]);
        let build = format!("scripts/build-plugins-{suffix}");
        assert!(printed.contains(&build), "{printed}");
        // the script refuses to overwrite what it made
        let again = Command::new(tree.0.join("scripts/new-plugin"))
            .args([lang, name.as_str()])
            .env("SIPWASM_ROOT", &tree.0)
            .output()
            .unwrap();
        assert!(!again.status.success());
        tree.run(&build, &[]);
        let wasm = root().join(format!(
            "target/wasm32-wasip2/plugin/{}_{suffix}.wasm",
            name.replace('-', "_")
        ));
        tree.passes_its_cases(&name, &wasm);
        let _ = std::fs::remove_file(&wasm);
    }
}

#[test]
fn a_new_plugin_in_rust_builds_and_passes_its_cases() {
    let name = format!("kit-rust-{}", std::process::id());
    let tree = Tree::new(&name);
    // the workspace the script adds the plugin to: the SDK and the plugin profile, as the
    // repository's top-level Cargo.toml has them
    std::fs::write(
        tree.0.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [\n]\n\n[workspace.dependencies]\n\
             sipwasm-sdk = {{ path = {:?} }}\n\n[profile.plugin]\ninherits = \"release\"\n\
             debug = false\nstrip = true\n",
            root().join("guest-sdk").display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(root().join("Cargo.lock"), tree.0.join("Cargo.lock")).unwrap();
    let printed = tree.run("scripts/new-plugin", &["rust", &name]);
    assert!(printed.contains(&format!("-p {name}")), "{printed}");
    let manifest = std::fs::read_to_string(tree.0.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("\"example-plugins/{name}\",")),
        "{manifest}"
    );
    let target = root().join("target/new-plugin-check");
    let status = Command::new("cargo")
        .args(["build", "--offline", "-q", "-j2", "--profile", "plugin"])
        .args(["--target", "wasm32-wasip2", "-p", &name, "--manifest-path"])
        .arg(tree.0.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success(), "cargo build of the new plugin");
    let wasm = target.join(format!(
        "wasm32-wasip2/plugin/{}.wasm",
        name.replace('-', "_")
    ));
    tree.passes_its_cases(&name, &wasm);
}
