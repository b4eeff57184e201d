#!/bin/bash
# lifecycle_offline.sh - offline catch-up: a subscriber with a persistent
# session (no Clean Start, session expiry) is away while the group rotates
# twice; when it comes back, one key request gives it every epoch it missed
# (within grace) and it reads the messages the broker queued for it, sealed
# under three different epochs.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lifecycle_lib.sh"

kms_start
enrol broker broker
enrol pub client
enrol sub1 client
expect_rc 0 kmsctl group add grp --filter 'e2e/#' --scheme 4 --rotate 86400 --grace 60
expect_rc 0 kmsctl grant add pub grp pub
expect_rc 0 kmsctl grant add sub1 grp sub
broker_start

# First visit: create the session and its subscription, then leave.
sub_bg sub1 "$T_DIR/v1.out" -c --session-expiry 300 -q 1 -t 'e2e/#' -C 1 -W 10
SUBP=$SUB_PID
wait_for "$T_DIR/v1.out.err" "resumed the session" || t_fail "sub1 did not connect"
expect_rc 0 pub pub -t e2e/a -q 1 -m "m-0"
wait_pid "$SUBP" 150 || { cat "$T_DIR/v1.out.err" >&2; t_fail "the first visit failed"; }
[ "$(cat "$T_DIR/v1.out")" = "m-0" ] || t_fail "first visit: $(cat "$T_DIR/v1.out")"

# Away: three messages under epochs 1, 2 and 3.
expect_rc 0 pub pub -t e2e/a -q 1 -m "m-1"
expect_rc 0 kmsctl group rotate grp
expect_rc 0 pub pub -t e2e/a -q 1 -m "m-2"
expect_rc 0 kmsctl group rotate grp
expect_rc 0 pub pub -t e2e/a -q 1 -m "m-3"
t_log "while away: $(epochs grp)"
before=$(fetches sub1)

# Back: one key request, then the queued messages.
expect_rc 0 sub sub1 -c --session-expiry 300 -q 1 -t 'e2e/#' -C 3 -W 15 -d
after=$(fetches sub1)
printf 'm-1\nm-2\nm-3\n' | cmp -s - "$T_DIR/out" ||
	{ cat "$T_DIR/err" >&2; t_fail "queued messages not read in full: $(cat "$T_DIR/out")"; }
[ "$(epochs_seen "$T_DIR/err")" = "1 2 3 " ] || t_fail "epochs of the queued messages: $(epochs_seen "$T_DIR/err")"
[ "$(drops "$T_DIR/err")" = 0 ] || t_fail "messages refused: $(cat "$T_DIR/err")"
t_log "back online: read m-1..m-3 under epochs $(epochs_seen "$T_DIR/err")with $((after - before)) key request(s)"
[ $((after - before)) = 1 ] || t_fail "catching up took $((after - before)) key requests, not 1"
exit 0
