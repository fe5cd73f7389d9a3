//! Guest bindings of `sipwasm:router`, generated in this one private place.
#![allow(missing_docs, clippy::all)]

wit_bindgen::generate!({
    path: "../wit",
    world: "plugin",
    pub_export_macro: true,
    export_macro_name: "__sipwasm_export_world",
    default_bindings_module: "::sipwasm_sdk::__private::bindings",
    runtime_path: "::sipwasm_sdk::__private::wit_bindgen::rt",
});
