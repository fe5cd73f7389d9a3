// KSR.siputils.
import * as wit from "sipwasm:router/siputils@0.1.0";

/** True when the To header has a tag (an in-dialog request). */
export const has_totag = () => wit.hasTotag();
