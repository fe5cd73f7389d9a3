// How the KSR modules call the router: one place that turns the router's typed errors
// into KSR.Error.

/** The router refused a call: `iface` is the WIT interface ("tm", "registrar" ...),
 * `kind` the error's case as in wit/ ("no-destination", "not-found" ...), `detail` its
 * text when it has one. Uncaught, it fails the event: the router logs it with the plugin
 * name and answers with the tenant's fallback reply. */
export class KsrError extends Error {
  constructor(iface, kind, detail) {
    super(detail === undefined || detail === null ? `${iface}: ${kind}` : `${iface}: ${kind}: ${detail}`);
    this.name = "KSR.Error";
    this.iface = iface;
    this.kind = kind;
    this.detail = detail;
  }
}

/** `f(...args)`, a binding of interface `iface`; its error thrown as KsrError. */
export function call(iface, f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    const p = e && e.payload;
    if (p && typeof p === "object" && "tag" in p) {
      throw new KsrError(iface, p.tag, p.val);
    }
    throw e;
  }
}

/** `call`, with the errors named in `outcomes` (kind -> value) returned as those values:
 * the results a route branches on, as KEMI returns them (lookup -1 when nobody is
 * registered). */
export function callOr(iface, outcomes, f, ...args) {
  try {
    return call(iface, f, ...args);
  } catch (e) {
    if (e instanceof KsrError && e.kind in outcomes) return outcomes[e.kind];
    throw e;
  }
}

/** A 64-bit integer from the bindings as a number. */
export function int(v) {
  return typeof v === "bigint" ? Number(v) : v;
}
