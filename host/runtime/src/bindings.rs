//! Host bindings of the `sipwasm:router` WIT package, generated in this one private place.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: {
        // log calls may trap: an event that floods the log is cut
        "sipwasm:router/log.log": tracing | trappable,
        "sipwasm:router/log.xlog": tracing | trappable,
        default: tracing,
    },
});
