#!/bin/bash
# What goes wrong says so: each refusal ends mqe2e-pub / mqe2e-sub with its
# documented exit status and a message naming the client, topic, group or
# file concerned.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 1
enrol nogrant client
enrol gone client

# 1. usage
expect_rc 1 "$PUB" -t x
expect_rc 1 "$SUB" --cert a --key b --cafile c
expect_rc 1 "$PUB" -t x -m y -q 7
expect_rc 0 "$PUB" --help
grep -q -- "--cafile" "$T_DIR/out" || t_fail "--help does not list --cafile"

# 2. files: a certificate that does not exist, an id the certificate does not carry
expect_rc 2 pub pub -t e2e/a -m x --cert "$T_DIR/missing.crt"
grep -q "missing.crt" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "no file named"; }
expect_rc 2 pub pub -t e2e/a -m x -i someone-else
grep -q "someone-else" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "no id named"; }

# 3. KMS: a revoked client, and a CA file that is not the KMS's CA
expect_rc 0 kmsctl client revoke gone --reason test
expect_rc 3 pub gone -t e2e/a -m x
grep -q "revoked" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "revocation not reported"; }
openssl genpkey -algorithm ed25519 -out "$T_DIR/other-ca.key" 2>/dev/null
openssl req -x509 -key "$T_DIR/other-ca.key" -subj /CN=other -days 2 -out "$T_DIR/other-ca.crt" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null ||
	t_fail "openssl could not make a CA"
expect_rc 3 pub pub -t e2e/a -m x --cafile "$T_DIR/other-ca.crt"
grep -q "other-ca.crt" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "the CA file is not named"; }

# 4. broker: nothing listening, and a broker without the mqe2e plugin
expect_rc 4 pub pub -t e2e/a -m x -p "$(t_free_port)" --timeout 3
grep -q "cannot connect to the broker" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "no broker message"; }
PLAIN_PORT=$(t_free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$PLAIN_PORT" >"$T_DIR/plain.conf"
"$MOSQUITTO" -c "$T_DIR/plain.conf" >"$T_DIR/plain-broker.log" 2>&1 &
t_track $!
t_wait_port "$PLAIN_PORT" || t_fail "plain mosquitto did not start"
expect_rc 4 pub pub -t e2e/a -m x -p "$PLAIN_PORT" --timeout 5
grep -q "does not run the mqe2e plugin" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "a broker without the plugin is not named as such"; }

# 5. grants: no key at all, publishing with only a sub grant, subscribing
#    outside the granted groups
expect_rc 5 pub nogrant -t e2e/a -q 1 -m x
grep -q "nogrant" "$T_DIR/err" && grep -q "grant" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "no grant not explained"; }
expect_rc 5 pub sub1 -t e2e/a -q 1 -m x
grep -q "client 'sub1' may not publish on 'e2e/a': it has no 'pub' grant on group" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "publishing without a pub grant not explained"; }
expect_rc 5 "$SUB" $(client_args sub1) -t 'other/#' -q 1
grep -q "refused the subscription to 'other/#'" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "subscription refusal not reported"; }

# 6. -W runs out: status 27
expect_rc 27 "$SUB" $(client_args sub1) -t 'e2e/#' -W 1

# 7. scheme 2 with a recipient that never answers: the others get every
#    message, the silent one is reported once and not asked again at each
#    message (3 messages within one --timeout, not three)
expect_rc 0 kmsctl group add pw --filter 'pw/#' --scheme 2
expect_rc 0 kmsctl grant add pub pw pub
expect_rc 0 kmsctl grant add sub1 pw sub
sleep 1   # the broker learns the new group
sub_bg sub1 "$T_DIR/pw.out" -q 1 -t 'pw/#' -C 3 -W 60
SUBP=$SUB_PID
wait_for "$T_DIR/pw.out.err" "subscribed to" || t_fail "sub1 did not subscribe to pw/#"
start=$(date +%s)
printf 'one\ntwo\nthree\n' | pub pub -t pw/x -q 1 -l --group pw --to sub1,ghost --timeout 4 \
	2>"$T_DIR/pw.err" || { cat "$T_DIR/pw.err" >&2; t_fail "scheme 2 publish with a silent recipient failed"; }
took=$(($(date +%s) - start))
wait_pid "$SUBP" 200 || { cat "$T_DIR/pw.out.err" >&2; t_fail "sub1 did not get the scheme 2 messages"; }
printf 'one\ntwo\nthree\n' | cmp -s - "$T_DIR/pw.out" || t_fail "scheme 2 messages lost"
[ "$(grep -c "subscriber 'ghost' did not complete pairing" "$T_DIR/pw.err")" = 1 ] ||
	{ cat "$T_DIR/pw.err" >&2; t_fail "the silent recipient is not reported exactly once"; }
[ "$took" -lt 12 ] || t_fail "each message waited for the silent recipient (${took}s)"
t_log "scheme 2 with a silent recipient: 3 messages in ${took}s, reported once"
exit 0
