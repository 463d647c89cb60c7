# The tunnel side of the IPv6 decapsulator's end-to-end test (this kernel has no ip6_tunnel,
# ipip or sit module, which is why `wasmvs decap` exists): `send IFACE HEX...` writes each
# hex-encoded Ethernet frame on IFACE through an AF_PACKET socket, as a TUN director puts
# its tunnel packets on the wire; `listen FAMILY ADDR PORT SECONDS` binds a UDP socket and
# prints each datagram it gets (with its sender) as a JSON line, "ready" first.
import json, socket, sys, time
if sys.argv[1] == "send":
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((sys.argv[2], 0))
    for h in sys.argv[3:]:
        s.send(bytes.fromhex(h))
    s.close()
else:
    family = socket.AF_INET6 if sys.argv[2] == "6" else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((sys.argv[3], int(sys.argv[4])))
    print("ready", flush=True)
    end = time.time() + float(sys.argv[5])
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            d, a = s.recvfrom(65536)
        except socket.timeout:
            break
        print(json.dumps({"from": a[0], "data": d.decode("utf-8", "replace")}), flush=True)
