#!/usr/bin/env python3
"""keys12b_proxy.py PORTFILE UPSTREAM_PORT LOG [PREFIX:N | fail-if=FILE ...] - a loopback
HTTP/1.1 proxy in front of a plain-http mqe2e-kmsd that loses answers: for
each PREFIX:N, the first N requests whose path starts with PREFIX reach the
KMS and are processed there, but their answers are thrown away and the
client's connection is closed without a reply (as when a connection breaks
or a KMS dies just after committing).  While FILE exists (fail-if=FILE),
every request is answered 503 by the proxy itself, without Retry-After, as
an overloaded KMS or a load balancer with no KMS behind it.  Everything else
is passed through.
Writes its port to PORTFILE and one line per request to LOG:
"PATH STATUS passed|dropped".  Runs until killed."""
import os, socket, sys, threading

portfile, upstream, logname = sys.argv[1], int(sys.argv[2]), sys.argv[3]
drops = []
fail_if = None
for rule in sys.argv[4:]:
    if rule.startswith("fail-if="):
        fail_if = rule[len("fail-if="):]
        continue
    prefix, n = rule.rsplit(":", 1)
    drops.append([prefix, int(n)])
lock = threading.Lock()
log = open(logname, "a", buffering=1)
MAX = 8 * 1024 * 1024


def read_message(sock, buf):
    """One HTTP message (head + Content-Length body) from sock; returns
    (message, rest) or (None, buf) at EOF before a complete message."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data or len(buf) > MAX:
            return None, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length > MAX:
        return None, buf
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            return None, buf
        rest += data
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def serve(client):
    up = socket.create_connection(("127.0.0.1", upstream), timeout=60)
    cbuf = ubuf = b""
    try:
        while True:
            req, cbuf = read_message(client, cbuf)
            if req is None:
                return
            path = req.split(b" ", 2)[1].decode("ascii", "replace")
            if fail_if is not None and os.path.exists(fail_if):
                with lock:
                    log.write("%s 503 refused\n" % path)
                client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
                return
            up.sendall(req)
            resp, ubuf = read_message(up, ubuf)
            if resp is None:
                return
            status = resp.split(b" ", 2)[1].decode("ascii", "replace")
            drop = False
            with lock:
                for d in drops:
                    if d[1] > 0 and path.startswith(d[0]):
                        d[1] -= 1
                        drop = True
                        break
                log.write("%s %s %s\n" % (path, status, "dropped" if drop else "passed"))
            if drop:
                return
            client.sendall(resp)
    except OSError:
        return
    finally:
        up.close()
        client.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % srv.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = srv.accept()
    c.settimeout(60)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
