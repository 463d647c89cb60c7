// HTTP_GET's `regex` as the configuration is read: RE2's rules (re2js, a pure-JavaScript port
// of RE2) match in time linear in the body whatever the pattern; keepalived's patterns are
// PCRE2, so the constructs RE2 has no linear-time match for are refused here, each with a
// reason. host/health/regex.ts matches them (off the control thread).

import { RE2JS } from "re2js";
import { InputError } from "./errors.js";

export class RegexError extends InputError {}

/** PCRE2 syntax RE2 has no linear-time match for, found outside character classes and escapes:
 *  the first one in text, with why it is refused. */
function pcreOnly(text: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const rest = text.slice(i);
    if (c === "\\") {
      const e = text[i + 1] ?? "";
      if (!inClass && /[1-9]/.test(e)) return `backreferences (\\${e}) are not supported: RE2 matches in linear time and has none`;
      if (!inClass && (e === "k" || e === "g")) return `backreferences (\\${e}) are not supported: RE2 matches in linear time and has none`;
      if (e === "K") return "\\K (reset match start) is not supported by RE2";
      if (e === "G") return "\\G is not supported by RE2";
      if (e === "Z") return "\\Z is not supported by RE2 (use \\z, or $)";
      if (e === "C") return "\\C (one code unit) is not supported by RE2";
      i++;
      continue;
    }
    if (inClass) { if (c === "]") inClass = false; continue; }
    if (c === "[") { inClass = true; if (text[i + 1] === "^") i++; if (text[i + 1] === "]") i++; continue; }
    if (rest.startsWith("(?=") || rest.startsWith("(?!")) return "lookahead ((?= and (?!) is not supported: RE2 matches in linear time and has none";
    if (rest.startsWith("(?<=") || rest.startsWith("(?<!")) return "lookbehind ((?<= and (?<!) is not supported: RE2 matches in linear time and has none";
    if (rest.startsWith("(?>")) return "atomic groups ((?>) are not supported by RE2";
    if (/^\(\?(R|[+-]?\d|&|P>)/.test(rest)) return "recursion and subroutine calls ((?R), (?1), (?&name)) are not supported by RE2";
    if (rest.startsWith("(?(")) return "conditional groups ((?(...)) are not supported by RE2";
    if (/^[*+?}]\+/.test(rest)) return "possessive quantifiers (*+, ++, ?+, {n}+) are not supported by RE2";
  }
  return undefined;
}

/** text compiled for HTTP_GET's regex, or a RegexError saying why it is refused. */
export function compileRegex(text: string): RE2JS {
  const why = pcreOnly(text);
  if (why) throw new RegexError(why);
  try {
    return RE2JS.compile(text);
  } catch (e) {
    throw new RegexError(`not a regular expression (RE2 syntax): ${(e as Error).message.replace(/^error parsing regexp: /, "")}`);
  }
}
