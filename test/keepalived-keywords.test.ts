// keepalived's keywords: every keyword of keepalived 2.2's parser tables (extracted by
// scripts/keepalived-keywords.mjs) is classified, and each class is what the parsers do:
// a supported keyword is read, an ignored one gives a warning at its position and the file
// loads, a refused one is "not supported by wasmvs yet" at its position, never "unknown".

import { describe, it, expect } from "vitest";
import { parseKeepalived } from "../host/config/keepalived.js";
import { ConfigError } from "../host/config/rules.js";
import { KEEPALIVED_KEYWORDS, KEEPALIVED_VERSION } from "../host/config/keepalived-keywords-extracted.js";
import { allClasses, classify, keywordTableMarkdown, unclassified, wholeBlock } from "../host/config/keepalived-keywords.js";
import { readFileSync } from "node:fs";
import { tempFolder } from "./helpers/files.js";

const folder = tempFolder("wasmvs-kw-");

/** A file that loads, with a place (@BLOCK) in every block keepalived has keywords for. */
const BASE = `director {
  interface eth0 {
    mac 02:00:00:00:00:01
    address 10.0.0.254/24
  }
}
global_defs {
  router_id t
  @global_defs
}
track_file tf {
  file /tmp/wasmvs-kw-tracked
  @track_file
}
vrrp_track_file vtf {
  file /tmp/wasmvs-kw-tracked2
  @vrrp_track_file
}
SSL {
  @SSL
}
vrrp_script chk {
  script /bin/true
  @vrrp_script
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  authentication {
    auth_type PASS
    auth_pass secret
    @vrrp_instance/authentication
  }
  virtual_ipaddress {
    10.0.0.100
  }
  track_script {
    chk
  }
  @vrrp_instance
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 2
  virtual_ipaddress {
    10.0.0.101
  }
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  @vrrp_sync_group
}
virtual_server 10.0.0.100 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  @virtual_server
  real_server 10.0.0.1 80 {
    @virtual_server/real_server
    TCP_CHECK {
      @virtual_server/real_server/TCP_CHECK
    }
    HTTP_GET {
      url {
        path /
        @virtual_server/real_server/HTTP_GET/url
      }
      @virtual_server/real_server/HTTP_GET
    }
    SSL_GET {
      url {
        path /
        @virtual_server/real_server/SSL_GET/url
      }
      @virtual_server/real_server/SSL_GET
    }
    UDP_CHECK {
      @virtual_server/real_server/UDP_CHECK
    }
    DNS_CHECK {
      @virtual_server/real_server/DNS_CHECK
    }
    SMTP_CHECK {
      host {
        connect_ip 10.0.0.1
        @virtual_server/real_server/SMTP_CHECK/host
      }
      @virtual_server/real_server/SMTP_CHECK
    }
    PING_CHECK {
      @virtual_server/real_server/PING_CHECK
    }
    MISC_CHECK {
      misc_path /bin/true
      @virtual_server/real_server/MISC_CHECK
    }
    FILE_CHECK {
      track_file tf
      @virtual_server/real_server/FILE_CHECK
    }
  }
}
@
`;

/** BASE with `line` in block (every other place empty), and the line it is on. */
function withKeyword(block: string, line: string): { text: string; line: number } {
  const lines = BASE.split("\n");
  const at = lines.findIndex((l) => l.trim() === `@${block}`);
  if (at < 0) throw new Error(`no place for ${block}`);
  lines[at] = lines[at].replace(`@${block}`, line);
  const kept = lines.filter((l, i) => i === at || !l.trim().startsWith("@"));
  return { text: kept.join("\n"), line: kept.indexOf(lines[at]) + 1 };
}
function load(text: string, strict = false): { warnings: string[]; error?: string } {
  const file = folder.write("k.conf", text);
  try {
    return { warnings: (parseKeepalived(file, undefined, strict).warnings ?? []).map((w) => w.replaceAll(folder.path() + "/", "")) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { warnings: [], error: e.message.replaceAll(folder.path() + "/", "") };
  }
}
/** Blocks the test places keywords in: all but those inside a whole ignored or refused block. */
const placed = Object.keys(KEEPALIVED_KEYWORDS).filter((b) => !wholeBlock(b));

describe(`keepalived ${KEEPALIVED_VERSION}'s keywords`, () => {
  it("the base file loads without a warning", () => {
    expect(load(withKeyword("", "").text)).toEqual({ warnings: [] });
  });

  it("every keyword is classified, and nothing else is", () => {
    expect(unclassified()).toEqual({ missing: [], extra: [] });
    expect(Object.values(KEEPALIVED_KEYWORDS).flat().length).toBeGreaterThan(450);
    // The ones the issue names.
    for (const k of ["vrrp_garp_interval", "vrrp_gna_interval", "vrrp_skip_check_adv_addr", "default_interface"]) {
      expect(classify("global_defs", k), k).toBeDefined();
    }
  });

  for (const b of placed) {
    it(`block ${b || "(top level)"}: each keyword does what its class says`, () => {
      const wrong: string[] = [];
      for (const k of KEEPALIVED_KEYWORDS[b]) {
        const c = classify(b, k)!;
        const { text, line } = withKeyword(b, k);
        const r = load(text);
        const here = new RegExp(`k\\.conf:${line}:\\d+`);
        if (c.kind === "supported") {
          if (r.error && /unknown keyword|not supported/.test(r.error)) wrong.push(`${k} (supported): ${r.error}`);
          if (r.warnings.some((w) => w.includes(`${k}: ignored`))) wrong.push(`${k} (supported) was ignored`);
        } else if (c.kind === "ignored") {
          const w = r.warnings.find((x) => here.test(x) && x.includes(`${k}: ignored: ${c.reason}`));
          if (r.error || !w) wrong.push(`${k} (ignored): ${r.error ?? r.warnings.join("; ")}`);
        } else if (!r.error || !here.test(r.error) || !/not supported by wasmvs/.test(r.error) || /unknown keyword/.test(r.error)) {
          wrong.push(`${k} (not yet): ${r.error ?? "loaded"}`);
        }
      }
      expect(wrong).toEqual([]);
    });
  }

  it("whole blocks that are ignored warn once and load; refused ones say not supported yet", () => {
    for (const { keyword, class: c } of allClasses().filter((x) => x.block === "" && wholeBlock(x.keyword))) {
      // (BFD_CHECK, inside real_server, is refused in the real_server block's test.)
      const { text, line } = withKeyword("", `${keyword} X {\n  anything here\n}`);
      const r = load(text);
      if (c.kind === "ignored") expect(r.warnings, keyword).toEqual([`k.conf:${line}:1: ${keyword}: ignored: ${c.reason}`]);
      else expect(r.error, keyword).toMatch(new RegExp(`^k\\.conf:${line}:1: '${keyword}': .*not supported by wasmvs yet`));
    }
  });

  it("docs/keepalived-keywords.md is the table as it is (node scripts/keepalived-keywords-doc.mjs writes it)", () => {
    expect(readFileSync(new URL("../docs/keepalived-keywords.md", import.meta.url), "utf8")).toBe(keywordTableMarkdown(KEEPALIVED_VERSION));
  });

  it("a word keepalived does not know is still an unknown keyword, with a suggestion", () => {
    const { text, line } = withKeyword("global_defs", "vrrp_garp_intervall 1");
    // As keepalived ("Unknown keyword"), the line is ignored with a warning; --strict refuses it.
    expect(load(text)).toEqual({ warnings: [`k.conf:${line}:3: vrrp_garp_intervall: unknown keyword in global_defs (did you mean 'vrrp_garp_interval'?): ignored, as keepalived does (--strict refuses it)`] });
    expect(load(text, true).error).toBe(`k.conf:${line}:3: 'vrrp_garp_intervall': unknown keyword in global_defs (did you mean 'vrrp_garp_interval'?)`);
    // A keyword of another block is unknown here.
    const other = withKeyword("vrrp_instance", "lb_algo rr");
    expect(load(other.text, true).error).toMatch(/unknown keyword in vrrp_instance/);
  });
});
