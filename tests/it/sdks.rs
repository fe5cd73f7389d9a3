//! The SDKs against the contract: every function of every interface the world `plugin`
//! imports (wit/) is called by the module of the same name in the Rust, Python and
//! JavaScript SDKs, and by the C SDK, so none of them lags behind wit/.

use crate::harness::*;

/// The interfaces the world imports, each with its functions (kebab-case, as in wit/).
fn imported_functions() -> Vec<(String, Vec<String>)> {
    let world = std::fs::read_to_string(root().join("wit/world.wit")).unwrap();
    let imports: Vec<String> = world
        .lines()
        .filter_map(|l| l.trim().strip_prefix("import "))
        .map(|i| i.trim_end_matches(';').trim().to_string())
        .collect();
    assert!(imports.len() >= 19, "{imports:?}");
    imports
        .into_iter()
        .map(|iface| {
            let text = std::fs::read_to_string(root().join(format!("wit/{iface}.wit")))
                .unwrap_or_else(|e| panic!("wit/{iface}.wit: {e}"));
            let funcs = functions_of(&text, &iface);
            assert!(!funcs.is_empty(), "interface {iface} has no functions");
            (iface, funcs)
        })
        .collect()
}

/// The functions declared in `interface NAME { ... }` of `text` (a file may hold more than
/// one interface: nosip.wit has nosip and nosip-events).
fn functions_of(text: &str, name: &str) -> Vec<String> {
    let start = text
        .find(&format!("interface {name} {{"))
        .unwrap_or_else(|| panic!("no interface {name}"));
    let mut depth = 0;
    let mut funcs = Vec::new();
    for line in text[start..].lines() {
        depth += line.matches('{').count();
        depth -= line.matches('}').count();
        if let Some((f, rest)) = line.trim().split_once(':')
            && rest.trim_start().starts_with("func")
            && depth == 1
        {
            funcs.push(f.trim().trim_start_matches('%').to_string());
        }
        if depth == 0 {
            break;
        }
    }
    funcs
}

fn camel(kebab: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in kebab.chars() {
        match c {
            '-' => up = true,
            c if up => {
                out.extend(c.to_uppercase());
                up = false;
            }
            c => out.push(c),
        }
    }
    out
}

#[test]
fn every_sdk_calls_every_imported_function() {
    let mut missing = Vec::new();
    for (iface, funcs) in imported_functions() {
        let module = iface.replace('-', "_");
        let sdks = [
            (format!("guest-sdk/src/{module}.rs"), "wit::", false),
            (format!("guest-sdk/python/KSR/{module}.py"), "", false),
            (format!("guest-sdk/js/KSR/{iface}.js"), "wit.", true),
        ];
        for (path, prefix, js) in sdks {
            let source = std::fs::read_to_string(root().join(&path))
                .unwrap_or_else(|e| panic!("{path}: {e} (one module per WIT interface)"));
            for f in &funcs {
                let called = if js {
                    format!("{prefix}{}", camel(f))
                } else if prefix.is_empty() {
                    // the Python bindings module is imported as `_<interface>`
                    format!("_{module}.{}", f.replace('-', "_"))
                } else {
                    format!("{prefix}{}", f.replace('-', "_"))
                };
                if !source.contains(&called) {
                    missing.push(format!("{path}: {iface}.{f} ({called})"));
                }
            }
        }
    }
    // the C SDK is one file over the generated calls (sipwasm_router_<interface>_<function>)
    let c = std::fs::read_to_string(root().join("guest-sdk/c/sipwasm.c")).unwrap();
    for (iface, funcs) in imported_functions() {
        for f in &funcs {
            let called = format!(
                "sipwasm_router_{}_{}(",
                iface.replace('-', "_"),
                f.replace('-', "_")
            );
            if !c.contains(&called) {
                missing.push(format!("guest-sdk/c/sipwasm.c: {iface}.{f} ({called})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not reachable from an SDK:\n{}",
        missing.join("\n")
    );
}
