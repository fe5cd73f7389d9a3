//! Host bindings of the `sipwasm:router` WIT package, generated in this one private place.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: tracing },
});
