#!/bin/bash
# tls12_failover.sh - issue 12/13: several KMS URLs with failover, on two
# real mqe2e-kmsd instances sharing one real PostgreSQL 15, both on https.
#
# The plugin, mqe2e-kmsctl and the client library are given both URLs.
# Instance 1 is killed (-9) while a subscriber runs: the broker, a new
# publisher, a new subscriber (no key cache: they must reach a KMS) and
# kmsctl all carry on through instance 2, and no message is lost.
# About 25 s (a PostgreSQL server and two daemons).
. "$top_srcdir/tests/lib.sh"
FL_TLS=1
. "$top_srcdir/tests/fleet13_lib.sh"

fl_start 1
fl_start 2
case "$KMS_URL_1 $KMS_URL_2" in https://*" "https://*) ;; *) t_fail "not https: $KMS_URL_1 $KMS_URL_2" ;; esac
LIST="$KMS_URL_1,$KMS_URL_2"
export MQE2E_KMS_URL=$LIST MQE2E_KMS_TOKEN_FILE="$T_DIR/kms1/admin.token" \
	MQE2E_KMS_CAFILE="$T_DIR/kms1/ca.crt"
enrol broker broker
enrol pub client
enrol sub1 client
enrol sub2 client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 3
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub
expect_rc 0 kmsctl grant add sub2 grp sub
KMS_URL=$LIST               # the plugin's plugin_opt_kms_url and the tools' --kms
broker_start

sub_bg sub1 "$T_DIR/sub1.out" -q 1 -t 'e2e/#' -C 7 -W 60 --no-key-cache
S1=$SUB_PID
wait_for "$T_DIR/sub1.out.err" "subscribed to" || t_fail "sub1 did not subscribe"
for i in 1 2 3; do
	pub pub -q 1 -t e2e/f -m "before $i" --no-key-cache 2>"$T_DIR/pub.err" ||
		{ cat "$T_DIR/pub.err" >&2; t_fail "publish before the failure"; }
done

fl_stop 1 -KILL
t_log "instance 1 ($KMS_URL_1) killed"
expect_rc 0 kmsctl group list
grep -q grp "$T_DIR/out" || t_fail "kmsctl after the failure: $(cat "$T_DIR/out")"
sub_bg sub2 "$T_DIR/sub2.out" -q 1 -t 'e2e/#' -C 3 -W 60 --no-key-cache
S2=$SUB_PID
wait_for "$T_DIR/sub2.out.err" "subscribed to" || t_fail "sub2 (keys after the failure) did not subscribe"
for i in 1 2 3; do
	pub pub -q 1 -t e2e/f -m "after $i" --no-key-cache 2>"$T_DIR/pub.err" ||
		{ cat "$T_DIR/pub.err" >&2; t_fail "publish after the failure: a new publisher found no KMS"; }
done
# a rotation on instance 2 reaches the broker (its watch moved over)
expect_rc 0 kmsctl group rotate grp
pub pub -q 1 -t e2e/f -m "after rotation" --no-key-cache 2>"$T_DIR/pub.err" ||
	{ cat "$T_DIR/pub.err" >&2; t_fail "publish after the rotation"; }
wait_pid "$S2" 300 || { cat "$T_DIR/sub2.out.err" >&2; t_fail "sub2 failed"; }
printf 'after 1\nafter 2\nafter 3\n' | cmp -s - "$T_DIR/sub2.out" || t_fail "sub2 got: $(cat "$T_DIR/sub2.out")"
wait_pid "$S1" 300 || { cat "$T_DIR/sub1.out.err" >&2; t_fail "sub1 failed"; }
printf 'before 1\nbefore 2\nbefore 3\nafter 1\nafter 2\nafter 3\nafter rotation\n' |
	cmp -s - "$T_DIR/sub1.out" || t_fail "sub1 got: $(cat "$T_DIR/sub1.out")"
t_log "after the failure: kmsctl, the plugin (policy watch, rotation), a new publisher and a new subscriber went on through $KMS_URL_2; 0 of 7 messages lost"
exit 0
