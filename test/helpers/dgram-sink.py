# A Unix datagram socket for the tests (Node has none): binds argv[1] ('@': abstract), prints each datagram it
# receives as a JSON string on a line of its own, and exits after argv[2] seconds.
import json, os, socket, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
abstract = path.startswith("@")  # an abstract socket's name, as $NOTIFY_SOCKET may give
s.bind("\0" + path[1:] if abstract else path)
if not abstract:
    os.chmod(path, 0o666)
print("ready", flush=True)
end = time.time() + seconds
try:
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        print(json.dumps(d.decode("utf-8", "replace")), flush=True)
finally:
    s.close()
    if not abstract:
        os.unlink(path)
