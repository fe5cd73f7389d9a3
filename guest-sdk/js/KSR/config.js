// KSR.config: the script's own settings ([plugin.config] in the router config).
import * as wit from "sipwasm:router/config@0.1.0";

/** The value of `key`, or `dflt` (null) when it is not set. */
export function get(key, dflt = null) {
  return wit.get(key) ?? dflt;
}

/** Every key that is set. */
export function keys() {
  return [...wit.keys()];
}
