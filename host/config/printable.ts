// Text from outside (a checked server's reply, a script's output, names in a file) made safe
// to print on a terminal or into a log: every control character — C0 (ESC, BEL, CR, ...),
// DEL, C1 (U+0080-U+009F, which some terminals obey as CSI/OSC) — and the Unicode bidi
// controls (U+200E/F, U+202A-E, U+2066-9, which reorder what a reader sees) are written as
// \xHH or \u{HHHH}. An escape sequence thus loses its ESC and prints as plain text: no clear
// screen, colour, window title or bell. Printable text, backslashes included, is unchanged, so
// escaping twice gives the same text. The one function for `-L --health`, `wasmvs top`, the
// log and health reasons; the dashboard shows the same strings as text nodes, never as HTML.

const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_OR_NEWLINE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string): string => {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u{${n.toString(16)}}`;
};

/** text with its control characters escaped; newlines kept when keepNewlines (a log line's
 *  own structure), else escaped too (a reason is one line: a reply cannot forge log lines). */
export function printable(text: string, keepNewlines = false): string {
  return text.replace(keepNewlines ? CONTROL : CONTROL_OR_NEWLINE, escape);
}
