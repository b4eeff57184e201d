"""Disconnecting from inside a callback, client after client in one
process (libmqe2e hands that DISCONNECT to its link thread)."""

from __future__ import annotations

import threading


def test_disconnect_in_callback_then_more_clients(stack):
    """Client after client in one process, each disconnecting from inside its
    message callback, then closed: every next client connects at once, and
    nothing crashes.  libmqe2e used to ask paho to disconnect from paho's own
    thread; then paho 1.3 sometimes left the process unable to connect its
    next client (TCP open, CONNECT never sent), or crashed in
    MQTTAsync_destroy - about one client in 30 (many runs of this loop)."""
    names = [f"dc{i}" for i in range(8)]     # 32 handshakes per id and window
    for n in names:
        stack.enrol(n)
        stack.kmsctl("grant", "add", n, "g4", "pub")
        stack.kmsctl("grant", "add", n, "g4", "sub")
    for i in range(100):
        done = threading.Event()
        with stack.client(names[i % len(names)]) as c:
            c.on_message = lambda cl, ud, m: (cl.disconnect(timeout=0), done.set())
            c.connect(timeout=5)
            c.subscribe("s4/dcloop", qos=1)
            c.publish("s4/dcloop", str(i), qos=0)
            assert done.wait(5), f"client {i}: no message"
