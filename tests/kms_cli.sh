#!/bin/bash
# kms_cli.sh - mqe2e-kmsctl without a KMS: --help on every noun and verb,
# usage errors (exit 1), an unreachable KMS (exit 3) and local file errors
# (exit 4), each with a message that says what to do.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
# temp dirs next to the test logs, out of reach of /tmp cleaners
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99

KMSCTL="$top_builddir/kmsctl/mqe2e-kmsctl"
[ -x "$KMSCTL" ] || t_skip "mqe2e-kmsctl not built"
unset MQE2E_KMS_URL MQE2E_KMS_TOKEN_FILE MQE2E_KMS_TOKEN

run() {
	local want=$1 rc
	shift
	"$KMSCTL" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	[ "$rc" = "$want" ] || t_fail "exit $rc, expected $want: mqe2e-kmsctl $* ($(cat "$T_DIR/err"))"
}

# help everywhere, on stdout, exit 0
run 0 --help
grep -q '^usage: mqe2e-kmsctl' "$T_DIR/out" || t_fail "--help"
for noun in client cert group grant ca; do
	run 0 $noun --help
	grep -q "^usage: mqe2e-kmsctl $noun VERB" "$T_DIR/out" || t_fail "$noun --help: $(cat "$T_DIR/out")"
done
for cmd in "client add" "client list" "client show" "client revoke" "cert issue" "cert list" \
	"group add" "group list" "group show" "group update" "group rotate" "grant add" \
	"grant rm" "grant list" "ca show" "status"; do
	run 0 $cmd --help
	grep -q "^usage: mqe2e-kmsctl $cmd" "$T_DIR/out" || t_fail "$cmd --help: $(cat "$T_DIR/out")"
done
run 0 cert issue --help
grep -q -- '--generate' "$T_DIR/out" || t_fail "cert issue --help lacks --generate"
run 0 --version

# usage errors: exit 1 before any network traffic (no KMS is running)
run 1
run 1 frobnicate
grep -q 'unknown command "frobnicate"' "$T_DIR/err" || t_fail "unknown noun: $(cat "$T_DIR/err")"
run 1 client frob
grep -q 'unknown verb "frob"' "$T_DIR/err" || t_fail "unknown verb: $(cat "$T_DIR/err")"
export MQE2E_KMS_TOKEN=t0ken
run 1 client add
run 1 client add a b
run 1 client add x --kind admin
grep -q 'client or broker' "$T_DIR/err" || t_fail "--kind: $(cat "$T_DIR/err")"
run 1 client add x --bogus
grep -q 'unknown option "--bogus"' "$T_DIR/err" || t_fail "--bogus: $(cat "$T_DIR/err")"
run 1 client add ../../etc/passwd
grep -q 'invalid client name' "$T_DIR/err" || t_fail "bad name: $(cat "$T_DIR/err")"
run 1 client add .hidden
run 1 client add "$(printf 'a%.0s' $(seq 1 65))"
run 1 cert issue x --out-dir "$T_DIR"
grep -q 'exactly one of --csr FILE' "$T_DIR/err" || t_fail "cert issue, no source: $(cat "$T_DIR/err")"
run 1 cert issue x --generate --csr f --out-dir "$T_DIR"
run 1 cert issue x --generate
grep -q -- '--out-dir DIR is required' "$T_DIR/err" || t_fail "no --out-dir: $(cat "$T_DIR/err")"
run 1 cert issue x --generate --out-dir "$T_DIR" --days 0
run 1 cert issue x --generate --out-dir "$T_DIR" --days 3651
run 1 group add g --filter 'a/b'
run 1 group add g --filter 'a/b' --scheme 5
grep -q 'from 1 to 4' "$T_DIR/err" || t_fail "scheme: $(cat "$T_DIR/err")"
run 1 group add g --filter 'a/#/b' --scheme 4
grep -q -- '--filter "a/#/b"' "$T_DIR/err" || t_fail "bad filter: $(cat "$T_DIR/err")"
run 1 group update g --filter ''
run 1 group add g --filter 'a/b' --scheme 4 --rotate 1x
run 1 group add g --filter 'a/b' --scheme 4 --grace -1
run 1 group update g
grep -q 'nothing to change' "$T_DIR/err" || t_fail "empty update: $(cat "$T_DIR/err")"
run 1 grant add c g admin
grep -q 'pub or sub' "$T_DIR/err" || t_fail "right: $(cat "$T_DIR/err")"
run 1 grant rm c g
run 1 --timeout 0 status
run 1 --timeout
unset MQE2E_KMS_TOKEN
run 1 client list
grep -q 'needs the admin token' "$T_DIR/err" || t_fail "no token: $(cat "$T_DIR/err")"

# nobody listens: exit 3 with the URL and a hint
port=$(t_free_port)
run 3 --addr "http://127.0.0.1:$port" status
grep -q "cannot reach the KMS at http://127.0.0.1:$port" "$T_DIR/err" &&
	grep -q 'mqe2e-kmsd' "$T_DIR/err" || t_fail "unreachable: $(cat "$T_DIR/err")"
MQE2E_KMS_URL="http://127.0.0.1:$port" run 3 ca show
run 1 --addr "https://127.0.0.1:$port" status
grep -q 'no CA file' "$T_DIR/err" && grep -q -- '--cafile' "$T_DIR/err" ||
	t_fail "https URL without a CA file: $(cat "$T_DIR/err")"
run 1 --addr "127.0.0.1:$port" status
MQE2E_KMS_TOKEN=x run 3 --addr "http://127.0.0.1:$port" --timeout 2000 group list

# something else listens: an HTTP server that is not the KMS (exit 2), and a
# server that does not speak HTTP (exit 3)
hport=$(t_free_port)
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$T_DIR" >/dev/null 2>&1 &
t_track $!
gport=$(t_free_port)
python3 - "$gport" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept(); c.recv(4096); c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"); c.close()
PY
t_track $!
t_wait_port "$hport" || t_fail "python3 http.server did not start"
t_wait_port "$gport" || t_fail "garbage server did not start"
run 2 --addr "http://127.0.0.1:$hport" status
grep -q "without an error object" "$T_DIR/err" && grep -q "really mqe2e-kmsd" "$T_DIR/err" ||
	t_fail "not a KMS: $(cat "$T_DIR/err")"
run 3 --addr "http://127.0.0.1:$gport" status
grep -q "not valid HTTP" "$T_DIR/err" || t_fail "not HTTP: $(cat "$T_DIR/err")"

# local files: exit 4, naming the file
export MQE2E_KMS_URL="http://127.0.0.1:$port"
run 4 --token-file "$T_DIR/none" client list
grep -q "$T_DIR/none" "$T_DIR/err" || t_fail "token file: $(cat "$T_DIR/err")"
: >"$T_DIR/empty.token"
run 4 --token-file "$T_DIR/empty.token" client list
MQE2E_KMS_TOKEN_FILE="$T_DIR/none" run 4 client list
export MQE2E_KMS_TOKEN=t0ken
run 4 cert issue x --csr "$T_DIR/none.csr" --out-dir "$T_DIR"
grep -q "none.csr" "$T_DIR/err" || t_fail "csr file: $(cat "$T_DIR/err")"
# A missing directory is created (issue 14), but not a missing parent.
run 4 cert issue x --generate --out-dir "$T_DIR/no-such-parent/dir"
grep -q "no-such-parent/dir" "$T_DIR/err" || t_fail "missing parent: $(cat "$T_DIR/err")"
: >"$T_DIR/x.key"
run 4 cert issue x --generate --out-dir "$T_DIR"
grep -q 'already exists' "$T_DIR/err" || t_fail "existing key: $(cat "$T_DIR/err")"
t_log "help, usage errors and exit codes ok"
exit 0
