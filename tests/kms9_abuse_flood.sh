#!/bin/bash
# kms9_abuse_flood.sh - issue 9, must show: under a flood from one enrolled
# client with no grants (mallory), another client still gets its keys and
# connects, and a revocation reaches the broker and cuts the revoked client
# off within 2 s.  The flood, all at once, for the whole test:
#   - KEY_REQUESTs to the KMS, dated 4 s ahead (two senders, back to back;
#     the KMS's nonce_cache_size is 4096, which the old code's single cache
#     could not survive);
#   - 40 slow connections to the KMS that never finish their request (from
#     127.0.0.2, another address);
#   - valid CONNECTs to the broker (80, back to back);
#   - signed PAIR_REQUESTs into the inbox of a scheme 2 subscriber (from eve,
#     another client without grants: mallory's CONNECT flood takes over any
#     other connection of hers, as one MQTT client id has one session).
# Real mqe2e-kmsd, Mosquitto with mqe2e_plugin.so, mqe2e-pub and mqe2e-sub.
# Prints the figures.
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"
PROBE="$top_builddir/tests/broker_probe"
[ -x "$PROBE" ] || t_skip "broker_probe not built"

# A small nonce cache (an existing setting): on the old code, with one global
# cache filled before any authorisation, this flood fills it in seconds.
KMS_CONF="$T_DIR/kmsd.conf"
echo "nonce_cache_size = 4096" >"$KMS_CONF"
kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker broker
enrol pub client
enrol sub1 client
enrol victim client
enrol mallory client
enrol eve client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate 86400 --grace 60
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub
expect_rc 0 kmsctl grant add victim grp sub
enrol psub client
expect_rc 0 kmsctl group add pairs --filter 'p2p/#' --scheme 2 --rotate 86400 --grace 60
expect_rc 0 kmsctl grant add pub pairs pub
expect_rc 0 kmsctl grant add psub pairs sub
broker_start
sub_bg psub "$T_DIR/psub.out" -q 1 -t 'p2p/#' -C 1 -W 120
PSUB=$SUB_PID
wait_for "$T_DIR/psub.out.err" "subscribed to" || t_fail "psub did not subscribe"

# the victim of the revocation is connected before the flood starts
sub_bg victim "$T_DIR/victim.out" -q 1 -t 'e2e/#' -W 120
VICTIM=$SUB_PID
wait_for "$T_DIR/victim.out.err" "subscribed to" || t_fail "victim did not subscribe"

# --- the flood ------------------------------------------------------------------------
python3 "$top_srcdir/tests/kms9_trickle.py" "$KMS_PORT" 40 16 "$T_DIR/slow" 127.0.0.2 &
SLOW=$!
t_track $SLOW
# "$KEYREQ" itself, not the keyreq function: $! must be the flood's own
# PID, or the kill below leaves it running after the test
for i in 1 2; do
	"$KEYREQ" --kms "$KMS_URL" --cert "$T_DIR/mallory.crt" --key "$T_DIR/mallory.key" \
		--ca "$T_DIR/ca.crt" --count 1000000 --ts-offset-ms 4000 >"$T_DIR/keyflood$i" 2>&1 &
	eval "KF$i=\$!"
	t_track $!
done
"$PROBE" connect --port "$MQTT_PORT" --cert "$T_DIR/mallory.crt" --key "$T_DIR/mallory.key" \
	--ca "$T_DIR/ca.crt" --kms "$KMS_URL" --attack flood --count 80 >"$T_DIR/connflood" 2>&1 &
CF=$!
t_track $CF
# (line-buffered through stdbuf's preload, which a sanitizer build must allow)
# An attacker whose connection drops connects again: so does this one (on a
# loaded machine paho may give up on a connect or a PUBACK wait).
# A loop, so t_bg_func, and t_kill_tree at the end (the loop and the probe).
pairflood() {
	while :; do
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" stdbuf -oL "$PROBE" pairreq --port "$MQTT_PORT" --cert "$T_DIR/eve.crt" --key "$T_DIR/eve.key" \
			--ca "$T_DIR/ca.crt" --kms "$KMS_URL" --group pairs --other-id psub --count 1000000
		echo "pairreq probe exited with status $?"
		sleep 0.2
	done
}
t_bg_func PF pairflood >"$T_DIR/pairflood" 2>&1
sleep 8
flood_log() { local f; for f in "$T_DIR/keyflood1" "$T_DIR/keyflood2" "$T_DIR/pairflood"; do echo "== ${f##*/}:"; tail -n 3 -- "$f"; done; }
for p in "$KF1" "$KF2"; do
	kill -0 "$p" 2>/dev/null || { flood_log >&2; t_fail "a KEY_REQUEST flood stopped early"; }
done
grep -q "^puback [0-9]* rc=135$" "$T_DIR/pairflood" || { flood_log >&2; t_fail "the pairing flood is not under way"; }

# --- another client gets its keys and connects, and a publisher pairs ----------------------
t0=$(now_ms)
sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'e2e/#' -C 2 -W 60
SUB1=$SUB_PID
wait_for "$T_DIR/sub1.out.err" "subscribed to" 1 200 || t_fail "sub1 did not get keys and connect during the flood"
t1=$(now_ms)
m1=$(marker)
pub pub -t e2e/a -q 1 -m "$m1" 2>"$T_DIR/pub1.err" || { cat "$T_DIR/pub1.err" >&2; t_fail "the publisher failed during the flood"; }
t2=$(now_ms)
wait_for "$T_DIR/sub1.out" "$m1" 1 100 || t_fail "sub1 did not receive the message sent during the flood"
wait_for "$T_DIR/victim.out" "$m1" 1 100 || t_fail "the victim did not receive the message sent before its revocation"
# scheme 2: the publisher pairs with psub, whose inbox mallory floods
m3=$(marker)
t3=$(now_ms)
pub pub -t p2p/a -q 1 --to psub -m "$m3" 2>"$T_DIR/pub3.err" || { cat "$T_DIR/pub3.err" >&2; t_fail "the scheme 2 publisher failed during the flood"; }
wait_for "$T_DIR/psub.out" "$m3" 1 100 || { cat "$T_DIR/pub3.err" "$T_DIR/psub.out.err" >&2; t_fail "psub did not receive the scheme 2 message sent during the pairing flood"; }
t4=$(now_ms)

# --- a revocation reaches the broker and cuts the victim off ------------------------------
t_rev=$(now_ms)
expect_rc 0 kmsctl client revoke victim --reason "revoked during a flood"
t_cmd=$(now_ms)
t_cut=""
for _ in $(seq 1 1000); do
	if grep -q "lost the connection\|disconnected" "$T_DIR/victim.out.err"; then
		t_cut=$(now_ms)
		break
	fi
	sleep 0.01
done
[ -n "$t_cut" ] || { cat "$T_DIR/victim.out.err" >&2; t_fail "the victim was not cut off within 10 s of its revocation"; }
cut_ms=$((t_cut - t_rev))
# after the revocation nothing reaches it, while sub1 still receives
m2=$(marker)
pub pub -t e2e/b -q 1 -m "$m2" 2>"$T_DIR/pub2.err" || { cat "$T_DIR/pub2.err" >&2; t_fail "the publisher failed after the revocation"; }
wait_for "$T_DIR/sub1.out" "$m2" 1 100 || t_fail "sub1 did not receive the message sent after the revocation"
sleep 1
grep -q "$m2" "$T_DIR/victim.out" && t_fail "the revoked victim received a message sent after its revocation"

# --- the figures ------------------------------------------------------------------------
kill "$KF1" "$KF2" 2>/dev/null
t_kill_tree "$PF"
wait_pid "$CF" 300
wait "$KF1" "$KF2" "$PF" "$SLOW" 2>/dev/null
mal=$(grep -c '"actor":"client:mallory"' "$KMS_DIR/audit.log")
ratel=$(curl -s "$KMS_URL/metrics" | awk '/^mqe2e_kms_http_requests_total/ && /endpoint="keys"/ && /code="429"/ {print $2}')
cacc=$(sed -n 's/^flood ok=\([0-9]*\) .*/\1/p' "$T_DIR/connflood")
cref=$(sed -n 's/^flood ok=[0-9]* refused=\([0-9]*\).*/\1/p' "$T_DIR/connflood")
slowcut=$(grep -c '^cut' "$T_DIR/slow")
slowmax=$(awk '$1 == "cut" && $2 > m {m = $2} END {print m + 0}' "$T_DIR/slow")
echo "# flood: KEY_REQUESTs refused 429 (metrics): ${ratel:-0}, answered and audited for mallory: $mal; her CONNECTs: $cacc accepted, $cref refused; 40 slow connections to the KMS from 127.0.0.2: $slowcut cut by the request deadline (the last after $slowmax s)"
pdrop=$(grep -c "eve" "$T_DIR/psub.out.err")
pok=$(grep -c "^puback [0-9]* rc=0$" "$T_DIR/pairflood")
pref=$(grep -c "^puback [0-9]* rc=135$" "$T_DIR/pairflood")
kerr=$(awk '$1 == "errors" {n += $2} END {print n + 0}' "$T_DIR/keyflood1" "$T_DIR/keyflood2")
echo "# during the flood: sub1 got its keys, connected and subscribed in $((t1 - t0)) ms; a publish took $((t2 - t1)) ms and was received"
prestart=$(grep -c "^pairreq probe exited" "$T_DIR/pairflood")
echo "# pairing flood into psub's inbox by eve: $pref PAIR_REQUESTs refused by the broker (0x87), $pok passed ($prestart reconnects of the flooder); a scheme 2 publish paired with psub and was received $((t4 - t3)) ms after it started; psub logged $pdrop lines about eve"
echo "# KEY_REQUEST flood: $kerr requests got no HTTP answer"
echo "# revocation during the flood: command $((t_cmd - t_rev)) ms, victim cut off $cut_ms ms after the command started (must be < 2000)"
[ "${ratel:-0}" -gt 100 ] && [ "$mal" -le 180 ] ||
	t_fail "the KEY_REQUEST flood was not held to mallory's share (${ratel:-0} refused with 429, $mal answered)"
[ "$cut_ms" -lt 2000 ] || t_fail "the revocation took $cut_ms ms to cut the victim off (>= 2 s)"
exit 0
