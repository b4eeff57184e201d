#!/usr/bin/env python3
"""keys12_burst.py URL TOKEN GROUP N [CAFILE] - rotate GROUP N times as fast
as one keep-alive admin connection allows (POST /v1/groups/GROUP/rotate);
print "rotations N ms T last_epoch E".  An https URL is verified against
CAFILE (the KMS's own CA)."""
import http.client, json, ssl, sys, time, urllib.parse

url, token, group, n = sys.argv[1], open(sys.argv[2]).read().strip(), sys.argv[3], int(sys.argv[4])
u = urllib.parse.urlsplit(url)


def connect():
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=sys.argv[5] if len(sys.argv) > 5 else None)
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=30, context=ctx)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


conn = connect()
hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
t0 = time.monotonic()
epoch = 0
for i in range(n):
    for attempt in range(5):
        try:
            conn.request("POST", "/v1/groups/%s/rotate" % group, body="{}", headers=hdr)
            r = conn.getresponse()
            body = r.read()
            break
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            conn = connect()
    else:
        sys.exit("rotation %d: no answer" % i)
    if r.status != 200:
        sys.exit("rotation %d: HTTP %d %s" % (i, r.status, body[:200]))
    epoch = json.loads(body)["current_epoch"]
print("rotations %d ms %d last_epoch %d" % (n, (time.monotonic() - t0) * 1000, epoch))
