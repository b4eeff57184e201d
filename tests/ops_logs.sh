#!/bin/bash
# ops_logs.sh - mqe2e-kmsd's logs for operators: log_format = json gives one
# JSON object per stderr line; log_dest = syslog sends the lines to the
# syslog socket (checked in a private mount namespace where /dev/log is
# ours); the audit log records refused policy watches but not the routine
# ones every broker makes all the time; SIGHUP reopens the audit log after
# a rename (logrotate).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/kms_lib.sh"

PORT=$(t_free_port)
URL="http://127.0.0.1:$PORT"
mkdir -m 700 "$KMS_DIR"
cat >"$T_DIR/kmsd.conf" <<CONF
data_dir = $KMS_DIR
listen = 127.0.0.1:$PORT
log_format = json
CONF
"$KMSD" --config "$T_DIR/kmsd.conf" >"$T_DIR/kmsd.out" 2>"$T_DIR/kmsd.err" &
KPID=$!
t_track "$KPID"
for _ in $(seq 1 100); do curl -sf "$URL/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
export MQE2E_KMS_URL=$URL MQE2E_KMS_TOKEN_FILE="$KMS_DIR/admin.token"
KMS_URL=$URL

# Routine watches of a broker, then a refused one (a client is not a broker).
enrol broker broker
enrol dev client
v=$(keyreq broker --policy | sed -n 's/^version //p')
[ -n "$v" ] || t_fail "no policy version"
for _ in 1 2 3; do keyreq broker --watch "$v" --timeout 1 >/dev/null || t_fail "watch refused"; done
keyreq dev --watch 0 --timeout 1 >"$T_DIR/refused" 2>&1 && t_fail "a client's policy watch was accepted"
grep -q "^error 400 wrong_kind" "$T_DIR/refused" || { cat "$T_DIR/refused" >&2; t_fail "expected 400 wrong_kind for a client's watch"; }
sleep 0.3
python3 - "$KMS_DIR/audit.log" <<'PY' || t_fail "the audit log is wrong about policy watches"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
watch = [l for l in lines if l["action"] == "policy.watch"]
ok = [l for l in watch if l["result"] == "ok"]
print("# audit: %d lines, %d policy.watch (%d ok)" % (len(lines), len(watch), len(ok)))
assert not ok, "routine watches audited: %r" % ok[:1]
assert any(l["status"] == 400 for l in watch), "the refused watch is missing"
assert any(l["action"] == "policy.fetch" for l in lines), "the policy fetch is missing"
PY

# Every line on stderr is a JSON object with time, level, program, message.
python3 - "$T_DIR/kmsd.err" <<'PY' || { cat "$T_DIR/kmsd.err" >&2; t_fail "log_format = json: not JSON"; }
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert set(o) == {"time", "level", "program", "message"}, o
    assert o["program"] == "mqe2e-kmsd" and o["level"] in ("error", "warning", "notice", "info", "debug")
    n += 1
assert n >= 2, n
print("# %d JSON log lines" % n)
PY
grep -q '"message":"listening on http://127.0.0.1:'"$PORT" "$T_DIR/kmsd.err" || t_fail "no 'listening' line"

# logrotate's way: rename, SIGHUP, the next event goes to a new file.
mv "$KMS_DIR/audit.log" "$KMS_DIR/audit.log.1"
kill -HUP "$KPID"
# the daemon says when it has reopened the file (a fixed sleep raced a loaded machine)
for _ in $(seq 1 100); do grep -q 'SIGHUP: audit log reopened' "$T_DIR/kmsd.err" && break; sleep 0.1; done
grep -q 'SIGHUP: audit log reopened' "$T_DIR/kmsd.err" || t_fail "mqe2e-kmsd did not log the audit log's reopening within 10 s of SIGHUP"
expect_rc 0 kmsctl group add g1 --filter 'x/#' --scheme 4
[ -s "$KMS_DIR/audit.log" ] || t_fail "after SIGHUP the audit log was not reopened"
grep -q '"group.create"' "$KMS_DIR/audit.log" || t_fail "the new audit log lacks the event"
grep -q '"group.create"' "$KMS_DIR/audit.log.1" && t_fail "the event went to the rotated file"
kill -TERM "$KPID"; wait "$KPID"
t_log "JSON log lines, routine watches not audited, audit log reopened on SIGHUP"

# log_dest = syslog: a private /dev/log in a mount namespace.
if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
	t_log "cannot make a mount namespace here: log_dest = syslog not checked"
	exit 0
fi
echo "log_dest = syslog" >>"$T_DIR/kmsd.conf"
mkdir "$T_DIR/dev"
cp -a /dev/null /dev/zero /dev/random /dev/urandom "$T_DIR/dev/"
python3 - "$T_DIR/dev/log" "$T_DIR/syslog.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
with open(sys.argv[2], "wb", buffering=0) as out:
    try:
        while True:
            out.write(s.recv(4096) + b"\n")
    except socket.timeout:
        pass
PY
SPID=$!
t_track "$SPID"
for _ in $(seq 1 50); do [ -S "$T_DIR/dev/log" ] && break; sleep 0.1; done
unshare -m --propagation private sh -c '
	mount --bind "$1/dev" /dev || exit 99
	"$2" --config "$1/kmsd.conf" 2>"$1/kmsd2.err" &
	p=$!
	for i in $(seq 1 100); do curl -sf "$3/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
	kill -TERM $p; wait $p' sh "$T_DIR" "$KMSD" "$URL"
rc=$?
[ "$rc" = 99 ] && { t_log "cannot bind-mount /dev here: log_dest = syslog not checked"; exit 0; }
[ "$rc" = 0 ] || { cat "$T_DIR/kmsd2.err" >&2; t_fail "mqe2e-kmsd with log_dest = syslog exited with $rc"; }
for _ in $(seq 1 30); do grep -q '"message":"stopped"' "$T_DIR/syslog.out" 2>/dev/null && break; sleep 0.1; done
grep -q 'mqe2e-kmsd\[[0-9]*\]: {"time":"[^"]*","level":"info","program":"mqe2e-kmsd","message":"listening on' \
	"$T_DIR/syslog.out" || { cat "$T_DIR/syslog.out" >&2; t_fail "no JSON 'listening' line on the syslog socket"; }
[ -s "$T_DIR/kmsd2.err" ] && { cat "$T_DIR/kmsd2.err" >&2; t_fail "log_dest = syslog still wrote to stderr"; }
t_log "log_dest = syslog: $(grep -c . "$T_DIR/syslog.out") datagrams on /dev/log, none on stderr"
exit 0
