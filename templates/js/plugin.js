// @NAME@: a sipwasm routing plugin. OPTIONS is answered 200 OK, anything else 404 Not Here,
// each request logged with its source. Its cases are example-plugins/cases/@NAME@.toml.

export function ksr_request_route() {
  KSR.xlog.xinfo("$rm from $si:$sp");
  if (KSR.is_OPTIONS()) {
    KSR.sl.send_reply(200, "OK");
    KSR.x.exit();
  }
  KSR.sl.send_reply(404, "Not Here");
  KSR.x.exit();
}
