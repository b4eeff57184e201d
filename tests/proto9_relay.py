#!/usr/bin/env python3
"""proto9_relay.py PORT BROKER_PORT MODE FILE - a man in the middle between
one MQTT client and the broker (tests/proto9_replay.sh, proto9_connect.sh).

MODE record:  relay both ways; append every PUBLISH the broker sends to the
              client to FILE (u32 length, packet bytes).
MODE inject / inject-retain:  relay both ways; once the broker has answered
              the client's second SUBSCRIBE (the library's own inboxes come
              first, then the application's filter), send the client every
              PUBLISH recorded in FILE, as captured or with the MQTT retain
              bit set.  Prints "injected N".
MODE connect: relay both ways; write the client's CONNECT packet to FILE.

proto9_relay.py replay-connect BROKER_PORT FILE: send the CONNECT in FILE to
the broker as it was captured and print the CONNACK's reason code,
"connack rc=N" (0: the broker took it).
"""
import select
import socket
import struct
import sys


def split(buf):
    """Complete MQTT packets at the front of buf, and the rest."""
    out = []
    while len(buf) >= 2:
        size, mult, i = 0, 1, 1
        while True:
            if i >= len(buf) or i > 4:
                return out, buf
            b = buf[i]
            i += 1
            size += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        if len(buf) < i + size:
            break
        out.append(buf[:i + size])
        buf = buf[i + size:]
    return out, buf


def recorded(path):
    with open(path, 'rb') as f:
        data = f.read()
    pkts, off = [], 0
    while off + 4 <= len(data):
        (n,) = struct.unpack('>I', data[off:off + 4])
        pkts.append(data[off + 4:off + 4 + n])
        off += 4 + n
    return pkts


def replay_connect(port, path):
    with open(path, 'rb') as f:
        pkt = f.read()
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    s.sendall(pkt)
    buf = b''
    while True:
        pkts, rest = split(buf)
        if pkts:
            break
        data = s.recv(65536)
        if not data:
            print('closed without CONNACK', flush=True)
            return
        buf += data
    p = pkts[0]
    hdr = 2 if p[1] < 0x80 else 3
    # CONNACK: fixed header, acknowledge flags, reason code
    print('connack rc=%d' % (p[hdr + 1] if p[0] >> 4 == 2 else -1), flush=True)
    s.close()


def main():
    if sys.argv[1] == 'replay-connect':
        replay_connect(int(sys.argv[2]), sys.argv[3])
        return
    port, real, mode, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(('127.0.0.1', port))
    ls.listen(1)
    print('ready', flush=True)
    cli, _ = ls.accept()
    up = socket.create_connection(('127.0.0.1', real))
    pending, subacks, injected = b'', 0, False
    upward, connected = b'', False
    try:
        while True:
            r, _, _ = select.select([cli, up], [], [], 60)
            if not r:
                return
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                if s is cli:
                    up.sendall(data)
                    if mode == 'connect' and not connected:
                        upward += data
                        pkts, upward = split(upward)
                        if pkts and pkts[0][0] >> 4 == 1:
                            connected = True
                            with open(path, 'wb') as f:
                                f.write(pkts[0])
                    continue
                pending += data
                pkts, pending = split(pending)
                for p in pkts:
                    cli.sendall(p)
                    kind = p[0] >> 4
                    if kind == 3 and mode == 'record':
                        with open(path, 'ab') as f:
                            f.write(struct.pack('>I', len(p)) + p)
                    elif kind == 9 and mode.startswith('inject'):
                        subacks += 1
                        if subacks == 2 and not injected:
                            injected = True
                            old = recorded(path)
                            for q in old:
                                if mode == 'inject-retain':
                                    q = bytes([q[0] | 0x01]) + q[1:]
                                cli.sendall(q)
                            print('injected %d' % len(old), flush=True)
    except OSError:
        pass


if __name__ == '__main__':
    main()
