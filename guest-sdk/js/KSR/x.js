// KSR.x: how a route ends early. Both throw (as KSR.x.exit() does in Kamailio's
// app_jsdt): the rest of the route and of the routes that called it do not run.

/** `exit`: the route stops here; what it did (a reply, a relay) stands. */
export class Exit {}
/** `drop`: the route stops here and the message is not sent on. */
export class Drop {}

/** End the route (`exit`). */
export function exit() {
  throw new Exit();
}

/** End the route and drop the message (`drop`). */
export function drop() {
  throw new Drop();
}
