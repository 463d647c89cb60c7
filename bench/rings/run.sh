#!/usr/bin/env bash
# Which ring backend should wasmvs attach to interfaces with (issue 18)? Measures three TAP-free
# C forwarders on the same veths, interleaved, ROUNDS times each, and prints medians with the
# spread (min-max):
#   tpacket  ringfwd --tpacket   AF_PACKET, TPACKET_V3 RX blocks + V3 TX ring
#   tpkt-mmsg  ringfwd --tpacket-sendmmsg   the same RX ring, TX by sendmmsg from the RX block
#   xdp      ringfwd --xdp       AF_XDP copy mode, shared UMEM, XDP redirect program in driver mode
#   xdp-generic  the same with the program in generic (SKB) mode, as on a NIC without native XDP
#            (not in the default set: FORWARDERS="xdp xdp-generic")
#   pktfwd   bench/e2e/pktfwd.c  AF_PACKET, TPACKET_V2 RX + TX rings (the e2e bench's baseline)
#   tpacket+tc  ringfwd --tpacket with a tc ingress filter on fa and fb that drops every frame after
#            AF_PACKET has seen it (taps run before tc ingress in __netif_receive_skb_core): the
#            difference to "tpacket" is what the host stack's copy of each frame costs.
# Topology, three namespaces named with a unique prefix, removed on exit:
#   [S: s0 10.77.0.1] ==veth== [F: fa  <forwarder>  fb] ==veth== [R: r0 10.77.0.2]
# Load, each case DURATION seconds long: UDP 64-byte frames flat out, UDP 1500-byte IP packets flat out,
# UDP 64-byte frames at a fixed 100 kpps (every forwarder keeps up: CPU per frame at equal work),
# TCP bulk with iperf3 (if installed), and a ping RTT. UDP comes from bench/rings/blast.c over
# AF_PACKET (1024 flows), into bench/rings/sink.c (recvmmsg).
# CPU figures, per frame delivered (r0 + s0 rx_packets over the load window):
#   fwd      the forwarder process (utime+stime from /proc/PID/stat)
#   path     sender + forwarder + receiver processes + the ksoftirqd threads: the kernel here counts
#            CPU by ticks (no CONFIG_IRQ_TIME_ACCOUNTING), so softirq work is charged to the task it
#            interrupted (our sender's sendmmsg runs the veth receive path, the forwarder's send()
#            the next one) or to ksoftirqd; this is the whole cost of moving a frame, and the part
#            of the machine that other jobs on it do not touch (ksoftirqd excepted)
#   machine  the whole machine's busy time from /proc/stat (every CPU, every job; noisy when the
#            machine is shared) and its softirq part.
# usage: sudo bench/rings/run.sh        (ROUNDS=5 DURATION=5 seconds by default; OUT=file for raw rows)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECONDS_PER_CASE=${DURATION:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN="$ROOT/build/rings"
P="rb$$"
OUT=${OUT:-"$BIN/raw-$(date -u +%Y%m%dT%H%M%SZ).tsv"}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (namespaces, AF_PACKET, AF_XDP, BPF)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "run.sh: needs gcc" >&2; exit 1; }
command -v ethtool >/dev/null || { echo "run.sh: needs ethtool (apt-get install -y ethtool)" >&2; exit 1; }
HAVE_IPERF=1; command -v iperf3 >/dev/null || { HAVE_IPERF=0; echo "iperf3 not installed: no TCP case (apt-get install -y iperf3)"; }

mkdir -p "$BIN"
gcc -O2 -Wall -Wextra -o "$BIN/ringfwd" "$HERE/ringfwd.c"
gcc -O2 -Wall -Wextra -o "$BIN/blast" "$HERE/blast.c"
gcc -O2 -Wall -Wextra -o "$BIN/sink" "$HERE/sink.c"
gcc -O2 -o "$BIN/pktfwd" "$ROOT/bench/e2e/pktfwd.c"

STARTED=()
cleanup() {
  for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in s f r; do ip netns del "${P}$n" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

for n in s f r; do
  ip netns add "${P}$n"
  ip netns exec "${P}$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "${P}$n" link set lo up
done
ip -n "${P}f" link add fa type veth peer name s0 netns "${P}s"
ip -n "${P}f" link add fb type veth peer name r0 netns "${P}r"
ip -n "${P}s" addr add 10.77.0.1/24 dev s0
ip -n "${P}r" addr add 10.77.0.2/24 dev r0
# The end hosts finish their own checksums and segment their own TCP: a frame that crosses an
# XDP program loses the "checksum partial" mark (the AF_XDP forwarder would pass a half-done
# checksum on and the receiver would drop it as TcpInCsumErrors), and TSO super-frames do not fit
# a 2 KiB ring slot. pktfwd and ringfwd --tpacket would cope with partial checksums; xdp cannot.
ip netns exec "${P}s" ethtool -K s0 tx off tso off gso off >/dev/null
ip netns exec "${P}r" ethtool -K r0 tx off tso off gso off >/dev/null
for x in "s s0" "r r0" "f fa" "f fb"; do set -- $x; ip -n "${P}$1" link set "$2" up; done
S0_MAC=$(ip -n "${P}s" -br link show s0 | awk '{print $3}')
R0_MAC=$(ip -n "${P}r" -br link show r0 | awk '{print $3}')
# Static neighbours: the load does not depend on ARP crossing a forwarder that is starting up.
ip -n "${P}s" neigh replace 10.77.0.2 lladdr "$R0_MAC" dev s0 nud permanent
ip -n "${P}r" neigh replace 10.77.0.1 lladdr "$S0_MAC" dev r0 nud permanent

rx_packets() { ip netns exec "${P}$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }   # utime + stime, USER_HZ
cpu_line() { awk '/^cpu /{busy=$2+$3+$4+$7+$8+$9; print busy, $8}' /proc/stat; } # busy, softirq
now() { date +%s.%N; }
KSOFTIRQD=$(for d in /proc/[0-9]*; do case $(cat "$d/comm" 2>/dev/null) in ksoftirqd/*) echo "${d#/proc/}" ;; esac; done)
ksoftirqd_ticks() { local t=0 pid; for pid in $KSOFTIRQD; do t=$((t + $(proc_ticks "$pid"))); done; echo "$t"; }
# bash's `times`, second line: CPU of the reaped children, here the load command (ip netns exec
# execs it). Run in this shell, not in $(...): a subshell starts with no children's time.
children_ticks() { awk -v hz="$HZ" 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d\n", ((u[1] + s[1]) * 60 + u[2] + s[2]) * hz + 0.5 }' "$1"; }
HZ=$(getconf CLK_TCK)

wait_for_line() { # file text pid: until the process printed text, or died
  for _ in $(seq 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.05
  done
  cat "$1" >&2; return 1
}

fwd_cmd() {
  case $1 in
    tpacket|tpacket+tc) echo "$BIN/ringfwd --tpacket fa fb" ;;
    tpkt-mmsg) echo "$BIN/ringfwd --tpacket-sendmmsg fa fb" ;;
    xdp) echo "$BIN/ringfwd --xdp fa fb" ;;
    xdp-generic) echo "$BIN/ringfwd --xdp-generic fa fb" ;;
    pktfwd) echo "$BIN/pktfwd fa fb" ;;
  esac
}

LOG="$BIN/$P"
mkdir -p "$LOG"
printf "case\tfwd\tround\tframes_per_s\tapp_per_s\tfwd_us\tpath_us\tmachine_us\tsoftirq_us\textra\tloadavg\n" > "$OUT"

run_one() { # case fwd round
  local case=$1 fwd=$2 round=$3 extra="-" app="-"
  if [ "$fwd" = tpacket+tc ]; then
    for dev in fa fb; do # classic BPF "ret #2": TC_ACT_SHOT for every frame, in direct-action mode
      ip netns exec "${P}f" tc qdisc add dev "$dev" clsact
      ip netns exec "${P}f" tc filter add dev "$dev" ingress bpf da bytecode '1,6 0 0 2'
    done
  fi
  ip netns exec "${P}f" $(fwd_cmd "$fwd") > "$LOG/fwd.log" 2>&1 &
  local fpid=$!; STARTED+=("$fpid")
  wait_for_line "$LOG/fwd.log" forwarding "$fpid"
  local spid=""
  case $case in
    udp*) ip netns exec "${P}r" "$BIN/sink" 9000 > "$LOG/sink.log" 2>&1 & spid=$!; STARTED+=("$spid")
          wait_for_line "$LOG/sink.log" listening "$spid" ;;
    tcp) ip netns exec "${P}r" iperf3 -s -p 5201 > "$LOG/sink.log" 2>&1 & spid=$!; STARTED+=("$spid")
         sleep 0.3 ;;
  esac
  local r0a s0a t0 c0 busy0 sirq0 r0b s0b t1 c1 busy1 sirq1 load k0 k1 l0 l1 sk0 sk1
  r0a=$(rx_packets r r0); s0a=$(rx_packets s s0)
  t0=$(now); c0=$(proc_ticks "$fpid"); sk0=$(proc_ticks "$spid"); k0=$(ksoftirqd_ticks); times > "$LOG/times0"; l0=$(children_ticks "$LOG/times0"); read -r busy0 sirq0 < <(cpu_line)
  case $case in
    udp64) ip netns exec "${P}s" "$BIN/blast" s0 "$R0_MAC" 10.77.0.1 10.77.0.2 9000 60 "$SECONDS_PER_CASE" > "$LOG/load.log" ;;
    udp1500) ip netns exec "${P}s" "$BIN/blast" s0 "$R0_MAC" 10.77.0.1 10.77.0.2 9000 1514 "$SECONDS_PER_CASE" > "$LOG/load.log" ;;
    udp64paced) ip netns exec "${P}s" "$BIN/blast" s0 "$R0_MAC" 10.77.0.1 10.77.0.2 9000 60 "$SECONDS_PER_CASE" 100000 > "$LOG/load.log" ;;
    tcp) ip netns exec "${P}s" timeout $((SECONDS_PER_CASE + 10)) iperf3 -c 10.77.0.2 -p 5201 -t "$SECONDS_PER_CASE" -f m > "$LOG/load.log" 2>&1 || true
         extra=$(awk '/receiver/{for(i=1;i<=NF;i++) if($i ~ /bits\/sec/) print $(i-1) "Mbit/s"}' "$LOG/load.log" | tail -1) ;;
  esac
  sleep 0.2 # frames still in rings
  t1=$(now); c1=$(proc_ticks "$fpid"); sk1=$(proc_ticks "$spid"); k1=$(ksoftirqd_ticks); times > "$LOG/times1"; l1=$(children_ticks "$LOG/times1"); read -r busy1 sirq1 < <(cpu_line)
  r0b=$(rx_packets r r0); s0b=$(rx_packets s s0)
  load=$(cut -d' ' -f1 /proc/loadavg)
  if [ -n "$spid" ]; then kill -TERM "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
  case $case in udp*) app=$(awk '/received/{print $2}' "$LOG/sink.log") ;; esac
  kill -TERM "$fpid" 2>/dev/null || true; wait "$fpid" || true
  if [ "$fwd" = tpacket+tc ]; then for dev in fa fb; do ip netns exec "${P}f" tc qdisc del dev "$dev" clsact; done; fi
  [ "$case" = tcp ] && [ -z "$extra" ] && extra="failed"
  awk -v c="$case" -v f="$fwd" -v r="$round" -v fr=$(( (r0b - r0a) + (s0b - s0a) )) -v app="$app" -v t0="$t0" -v t1="$t1" \
      -v fc=$((c1 - c0)) -v pc=$(( (c1 - c0) + (sk1 - sk0) + (k1 - k0) + (l1 - l0) )) -v sb=$((busy1 - busy0)) -v ss=$((sirq1 - sirq0)) -v hz="$HZ" -v x="$extra" -v l="$load" 'BEGIN {
    us = 1e6 / hz; dt = t1 - t0; fps = fr / dt
    printf "%s\t%s\t%d\t%.0f\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\n", c, f, r, fps, (app == "-" ? "-" : sprintf("%.0f", app / dt)),
      fr ? fc * us / fr : 0, fr ? pc * us / fr : 0, fr ? sb * us / fr : 0, fr ? ss * us / fr : 0, x, l }' >> "$OUT"
  tail -1 "$OUT"
}

rtt_one() { # fwd round: median RTT of 50 pings 10 ms apart through the forwarder
  ip netns exec "${P}f" $(fwd_cmd "$1") > "$LOG/fwd.log" 2>&1 &
  local fpid=$!; STARTED+=("$fpid")
  wait_for_line "$LOG/fwd.log" forwarding "$fpid"
  local rtt
  rtt=$(ip netns exec "${P}s" ping -n -c 50 -i 0.01 -W 1 10.77.0.2 | awk -F'time=' '/time=/{split($2, a, " "); print a[1]}' | sort -n | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "-")}')
  kill -TERM "$fpid" 2>/dev/null || true; wait "$fpid" || true
  printf "rtt\t%s\t%d\t-\t-\t-\t-\t-\t-\t%sms\t%s\n" "$1" "$2" "$rtt" "$(cut -d' ' -f1 /proc/loadavg)" >> "$OUT"
  tail -1 "$OUT"
}

CASES="udp64 udp1500 udp64paced"
[ "$HAVE_IPERF" = 1 ] && CASES="$CASES tcp"
FWDS=(${FORWARDERS:-tpacket tpkt-mmsg xdp pktfwd tpacket+tc})
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw rows: $OUT"
for round in $(seq "$ROUNDS"); do
  # rotate the order every round, so no forwarder always runs first or last
  order=("${FWDS[@]:$(( (round - 1) % ${#FWDS[@]} ))}" "${FWDS[@]:0:$(( (round - 1) % ${#FWDS[@]} ))}")
  for case in $CASES; do
    for fwd in "${order[@]}"; do run_one "$case" "$fwd" "$round"; done
  done
  for fwd in "${order[@]}"; do rtt_one "$fwd" "$round"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Copies of each frame's bytes on the forwarder's hop, from the kernel code paths and seen in
# `perf record -a` (see README):
#   tpacket, pktfwd, tpacket+tc: tpacket_rcv copies the skb into the RX ring (skb_copy_bits);
#     the forwarder memcpys it into a TX slot; tpacket_snd copies the 14-byte header and hangs
#     the slot's pages on the skb, which crossing the veth copies (skb_copy_ubufs): 3 on a veth,
#     2 on a NIC (its DMA reads the slot).
#   tpkt-mmsg: the RX ring copy, then packet_snd copies from the RX block into a new skb: 2.
#   xdp: veth copies the skb into a page-pool page (skb_pp_cow_data: headroom < 256 bytes), the
#     XDP redirect copies it into the UMEM (copy mode), xsk_build_skb copies it out: 3 on a veth,
#     2 on a NIC in copy mode, 0 in zero-copy mode. None in user space (shared UMEM).
#   xdp-generic: generic XDP copies every skb with less than 256 bytes of headroom into a new
#     one (skb_cow_data_for_xdp) - NIC drivers' skbs too - then the same two: 3 everywhere.
copies() { case $1 in tpacket|pktfwd|tpacket+tc) echo "3 (2 on a NIC)" ;; tpkt-mmsg) echo "2" ;; xdp) echo "3 (2 on a NIC, 0 zero-copy)" ;; xdp-generic) echo "3 (3 on a NIC)" ;; esac; }
echo
echo "medians of $ROUNDS interleaved rounds [min-max]; CPU in us per frame delivered; fwd = forwarder process,"
echo "path = sender + forwarder + receiver + ksoftirqd, machine = every CPU's busy time (shared machine), softirq = its softirq part"
row() { printf "%-10s %-10s %-20s %-16s %-16s %-16s %-16s %-20s %s\n" "$@"; }
row case fwd "frames/s" "fwd" "path" "machine" "softirq" "TCP Mbit/s | RTT" "copies/frame"
for case in $CASES rtt; do
  for fwd in "${FWDS[@]}"; do
    stats() { # column, decimals: "median [min-max]"
      awk -F'\t' -v c="$case" -v f="$fwd" -v k="$1" -v d="$2" '$1==c && $2==f {v[++n]=$k+0} END {
        if (!n) { print "-"; exit }
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        m = n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
        printf "%." d "f [%." d "f-%." d "f]\n", m, v[1], v[n] }' "$OUT"
    }
    case $case in
      rtt) row "$case" "$fwd" - - - - - "$(stats 10 3) ms" "" ;;
      tcp) row "$case" "$fwd" "$(stats 4 0)" "$(stats 6 2)" "$(stats 7 2)" "$(stats 8 2)" "$(stats 9 2)" "$(stats 10 0)" "$(copies "$fwd")" ;;
      *) row "$case" "$fwd" "$(stats 4 0)" "$(stats 6 2)" "$(stats 7 2)" "$(stats 8 2)" "$(stats 9 2)" "" "$(copies "$fwd")" ;;
    esac
  done
done
