// KSR as a global, as Kamailio's app_jsdt has it: imported first by a plugin's entry, so
// the script's functions find it without importing it. QuickJS has no TextEncoder: a
// UTF-8 one is given here, for scripts and for the KSR functions that take bytes.
import KSR from "./index.js";

globalThis.KSR = KSR;

if (typeof globalThis.TextEncoder === "undefined") {
  globalThis.TextEncoder = class TextEncoder {
    get encoding() {
      return "utf-8";
    }

    /** `text` as UTF-8 bytes (a lone surrogate becomes U+FFFD, as the standard says). */
    encode(text = "") {
      const out = [];
      for (const ch of String(text)) {
        let c = ch.codePointAt(0);
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        if (c < 0x80) out.push(c);
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      }
      return new Uint8Array(out);
    }
  };
}
