#!/usr/bin/env bash
# The README's tables from run.sh's raw rows: one column per file, "median [min-max]" of its rounds.
# usage: bench/rings/summary.sh COLUMN DECIMALS FILE.tsv...   (COLUMN: 4 frames/s, 6 fwd us, 7 path us, 10 TCP/RTT)
set -euo pipefail
col=$1 dec=$2; shift 2
awk -F'\t' -v k="$col" -v d="$dec" -v nfiles=$# '
  FNR == 1 { f++; next }
  { key = $1 "|" $2; seen[key] = 1
    n[key, f]++; v[key, f, n[key, f]] = $k + 0 }
  END {
    nc = split("udp64 udp1500 udp64paced tcp rtt", cases, " "); nf = split("tpacket tpkt-mmsg xdp xdp-generic pktfwd tpacket+tc", fwds, " ")
    for (c = 1; c <= nc; c++) for (w = 1; w <= nf; w++) {
      key = cases[c] "|" fwds[w]; if (!(key in seen)) continue
      split(key, p, "|"); line = "| " p[1] " | " p[2] " |"
      for (j = 1; j <= nfiles; j++) {
        m = n[key, j]
        if (!m || v[key, j, 1] == 0 && p[1] == "rtt" && k != 10) { line = line " - |"; continue }
        for (a = 1; a <= m; a++) x[a] = v[key, j, a]
        for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (x[b] < x[a]) { t = x[a]; x[a] = x[b]; x[b] = t }
        med = m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
        line = line sprintf(" %." d "f [%." d "f–%." d "f] |", med, x[1], x[m])
      }
      print line
    }
  }' "$@"
