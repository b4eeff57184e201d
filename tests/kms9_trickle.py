#!/usr/bin/env python3
"""kms9_trickle.py PORT N SECONDS OUT [SRC] - a slow client: N connections to
127.0.0.1:PORT (from the address SRC, default 127.0.0.1) that each send a
request one byte a second and never finish it.  Runs SECONDS, then writes OUT: one line per connection, "cut T" (the
server closed it T seconds after it was opened), "reset T" (refused or reset
at once) or "open" (still open at the end), plus "answer T STATUS" lines for
any HTTP status line the server sent."""
import select, socket, sys, time

port, n, secs, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
src = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
req = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
conns, lines = [], []
t0 = time.time()
for i in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
    except OSError:
        lines.append("reset %.2f" % 0)
        continue
    s.setblocking(False)
    conns.append({"s": s, "t": time.time(), "sent": 0, "buf": b""})
last = 0.0
while conns and time.time() - t0 < secs:
    now = time.time()
    if now - last >= 1.0:
        last = now
        for c in conns:
            try:
                c["s"].send(req[c["sent"]:c["sent"] + 1])
                c["sent"] += 1
            except OSError:
                pass
    r, _, _ = select.select([c["s"] for c in conns], [], [], 0.1)
    for c in [c for c in conns if c["s"] in r]:
        try:
            d = c["s"].recv(4096)
        except OSError:
            d = b""
        if d:
            c["buf"] += d
            continue
        life = time.time() - c["t"]
        if c["buf"]:
            lines.append("answer %.2f %s" % (life, c["buf"].split(b"\r\n")[0].decode("latin-1")))
        lines.append(("cut %.2f" if life > 0.5 else "reset %.2f") % life)
        c["s"].close()
        conns.remove(c)
for c in conns:
    lines.append("open")
    c["s"].close()
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
