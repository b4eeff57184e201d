#!/bin/bash
# Scheme 2: a subscriber restarts and loses its pairwise key; the live
# publisher renews its pairings after pair_refresh_s and the new subscriber
# process receives again.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 2 1
printf '# short for the test (default 600)\npair_refresh_s 2\n' >"$T_DIR/pub.conf"

sub_bg sub1 "$T_DIR/sub.out" -q 1 -t 'e2e/#' -C 3 -W 60
SUBP=$SUB_PID
wait_for "$T_DIR/sub.out.err" "subscribed to" || t_fail "sub1 did not subscribe"
mkfifo "$T_DIR/lines"
pub_bg pub "$T_DIR/lines" "$T_DIR/pub.err" -t e2e/a -q 1 -l --to sub1 --config "$T_DIR/pub.conf"
PUBP=$PUB_PID
exec 3>"$T_DIR/lines"
for i in 1 2 3; do echo "first life $i" >&3; done
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub.out.err" >&2; t_fail "the first subscriber failed"; }

# the subscriber comes back as a new process, without the old key
sub_bg sub1 "$T_DIR/sub2.out" -q 1 -t 'e2e/#' -C 3 -W 60
SUBP=$SUB_PID
wait_for "$T_DIR/sub2.out.err" "subscribed to" || t_fail "sub1 did not subscribe again"
sleep 2.5   # past pair_refresh_s
for i in 1 2 3; do echo "second life $i" >&3; done
exec 3>&-
wait_pid "$SUBP" 300 || { cat "$T_DIR/sub2.out.err" "$T_DIR/pub.err" >&2; t_fail "the restarted subscriber got nothing"; }
wait_pid "$PUBP" 300 || { cat "$T_DIR/pub.err" >&2; t_fail "the publisher failed"; }
printf 'first life 1\nfirst life 2\nfirst life 3\n' | cmp -s - "$T_DIR/sub.out" || t_fail "first life lost messages"
printf 'second life 1\nsecond life 2\nsecond life 3\n' | cmp -s - "$T_DIR/sub2.out" || t_fail "second life lost messages"
t_log "the restarted subscriber was paired again and received all 3 messages"
exit 0
