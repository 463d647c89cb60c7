// One error type for configuration input (host/config/errors.ts): every syntax's error is an
// InputError with the reason a user reads and a code callers decide by; each syntax formats it
// its way. These pin the codes and the words at once, so rewording a message can't silently
// change what a caller decides.
import { describe, expect, it } from "vitest";
import { ConfigError, InputError, parseRules, readRules } from "../host/config/rules.js";
import { IpvsadmError, parseArgs } from "../host/config/ipvsadm.js";
import { applyCommand } from "../host/config/model.js";
import { SettingError, wholeNumber } from "../host/config/settings.js";
import { compileRegex, RegexError } from "../host/config/regex.js";

const thrown = (f: () => unknown): InputError => {
  try { f(); } catch (e) { return e as InputError; }
  throw new Error("nothing was thrown");
};

describe("one error type, formatted per syntax", () => {
  it("ipvsadm's words on the command line, the bare reason at its word in a rules file", () => {
    const e = thrown(() => parseArgs(["-A", "-t", "10.0.0.1:80", "--bogus"])) as IpvsadmError;
    expect(e).toBeInstanceOf(IpvsadmError);
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toBe("ipvsadm: unrecognized option '--bogus'");
    expect(e.reason).toBe("unrecognized option '--bogus'");
    const { errors } = readRules("-A -t 10.0.0.1:80 --bogus\n", "r.rules");
    expect(errors.map((x) => x.message)).toEqual(["r.rules:1:19: '--bogus': unrecognized option '--bogus'"]);
  });

  it("a feature not there yet: ipvsadm's option prefix on the command line, the reason in a file", () => {
    const e = thrown(() => parseArgs(["-A", "-t", "10.0.0.1:80", "--pe", "sip"])) as IpvsadmError;
    expect(e.message).toBe("ipvsadm: option --pe: persistence engines are not supported by wasmvs yet");
    expect(e.reason).toBe("persistence engines are not supported by wasmvs yet");
    expect(thrown(() => parseRules("-A -t 10.0.0.1:80 --pe sip\n", "r.rules")).message)
      .toBe("r.rules:1:19: '--pe': persistence engines are not supported by wasmvs yet");
  });

  it("an option given twice has its code: the error stands at the option, not the value", () => {
    const e = thrown(() => parseArgs(["-A", "-t", "10.0.0.1:80", "-s", "rr", "-s", "wrr"])) as IpvsadmError;
    expect(e.code).toBe("repeated");
    expect(e.message).toBe("multiple 'scheduler' options specified");
    expect(e.arg).toBe(5);
  });

  it("IPVS's refusals by code, worded as ipvsadm on the socket and as a file's error in a file", () => {
    const cfg = parseRules("-A -t 10.0.0.1:80 -s rr\n");
    const twice = thrown(() => applyCommand(cfg, parseArgs(["-A", "-t", "10.0.0.1:80", "-s", "rr"]))) as IpvsadmError;
    expect([twice.code, twice.message, twice.status]).toEqual(["service-exists", "Service already exists", 255]);
    const noService = thrown(() => applyCommand(cfg, parseArgs(["-a", "-t", "10.0.0.2:80", "-r", "10.1.0.1:80", "-m"]))) as IpvsadmError;
    expect([noService.code, noService.message]).toEqual(["service-undefined", "Service not defined"]);
    expect(thrown(() => parseRules("-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s wrr\n", "r.rules")).message)
      .toBe("r.rules:2:7: '10.0.0.1:80': service tcp 10.0.0.1:80 is defined twice");
  });

  it("a value's error and a pattern's are InputErrors the grammar positions", () => {
    const setting = thrown(() => wholeNumber("x", 1, 10, "connections"));
    expect(setting).toBeInstanceOf(SettingError);
    expect(setting).toBeInstanceOf(InputError);
    expect(setting.reason).toBe(setting.message);
    const regex = thrown(() => compileRegex("(a)\\1"));
    expect(regex).toBeInstanceOf(RegexError);
    expect(regex.reason).toMatch(/^backreferences \(\\1\) are not supported/);
    const cfgErr = new ConfigError("f.conf", 3, 5, "lb_algo", "unknown scheduler");
    expect([cfgErr.reason, cfgErr.code, cfgErr.message]).toEqual(["unknown scheduler", "invalid", "f.conf:3:5: 'lb_algo': unknown scheduler"]);
  });
});
