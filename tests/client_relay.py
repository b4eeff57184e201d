#!/usr/bin/env python3
# client_relay.py PORT TARGET_PORT MODEFILE - a TCP relay on 127.0.0.1:PORT
# in front of 127.0.0.1:TARGET_PORT (the KMS) for the client_kms_*.sh tests.
# Each new connection looks at MODEFILE (one word) when it is accepted, and
# a connection kept open (libmqe2e shares its KMS connections between the
# fetches of a process, client/kmspool.c) again at each request it carries:
#   forward  relay both ways
#   refuse   close at once (a KMS that is down)
#   hang     accept and never answer (a KMS that hangs), until we exit
# Prints "ready" once listening, and one "<mode>" line per connection and
# per later request that is not forwarded.
import os
import socket
import sys
import threading

port, target, modefile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
hung = []


def pipe(a, b, requests):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            if requests:
                # a KMS that hangs or is down does so for the connections
                # it kept open too
                m = mode()
                if m != "forward":
                    print(m, flush=True)
                    if m == "hang":
                        hung.append((a, b))
                        return
                    break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def mode():
    try:
        with open(modefile) as f:
            return f.read().strip() or "forward"
    except OSError:
        return "forward"


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
print("ready", flush=True)
while True:
    c, _ = srv.accept()
    m = mode()
    print(m, flush=True)
    if m == "hang":
        hung.append(c)
        continue
    if m != "forward":
        c.close()
        continue
    try:
        u = socket.create_connection(("127.0.0.1", target), timeout=5)
        u.settimeout(None)
    except OSError:
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, u, True), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, False), daemon=True).start()
