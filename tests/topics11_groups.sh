#!/bin/bash
# Topic groups (issue 11): filters that overlap another group's are refused
# with 409 naming that group; `group delete` end to end (refused while grants
# exist unless --force, keys destroyed, policy bumped, the broker drops the
# group's retained messages, members lose the group at their next key
# fetch); errors that name the topic, the group and the groups held.  On the
# old code the overlapping group was accepted, and there was no delete.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/client_lib.sh"

setup_world 4 1                     # group grp on e2e/#, pub, sub1
# ---- overlapping filters ---------------------------------------------------------
expect_rc 2 kmsctl group add plant2 --filter 'e2e/x/#' --scheme 4
grep -q "overlaps the filter 'e2e/#' of group 'grp'" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "an overlapping filter was not refused naming the other group"; }
expect_rc 2 kmsctl group add wide --filter '+/x' --scheme 3
grep -q "group 'grp'" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "'+/x' overlaps 'e2e/#'"; }
code=$(curl -s -o "$T_DIR/body" -w '%{http_code}' -H "Authorization: Bearer $(cat "$MQE2E_KMS_TOKEN_FILE")" \
	-H 'Content-Type: application/json' -d '{"name":"p3","filter":"#","scheme":4}' "$KMS_URL/v1/groups")
[ "$code" = 409 ] && grep -q '"conflict"' "$T_DIR/body" && grep -q "group 'grp'" "$T_DIR/body" ||
	t_fail "POST /v1/groups with '#': HTTP $code $(cat "$T_DIR/body")"
expect_rc 0 kmsctl group add gone --filter 'gone/#' --scheme 4
expect_rc 2 kmsctl group update gone --filter 'e2e/gone/#'
grep -q "group 'grp'" "$T_DIR/err" || { cat "$T_DIR/err" >&2; t_fail "an update to an overlapping filter was not refused"; }
expect_rc 0 kmsctl group update gone --filter 'gone/+/#'
expect_rc 0 kmsctl group update gone --filter 'gone/#'      # its own filter does not count
expect_rc 0 kmsctl group list
[ "$(grep -c '^\(grp\|gone\) ' "$T_DIR/out")" = 2 ] && ! grep -q "plant2\|wide\|p3" "$T_DIR/out" ||
	{ cat "$T_DIR/out" >&2; t_fail "a refused group was created"; }

# ---- the key bundle tells each client its groups ---------------------------------
expect_rc 0 kmsctl grant add pub gone pub
expect_rc 0 kmsctl grant add sub1 gone sub
expect_rc 0 keyreq pub --groups
printf 'gone 4 pub gone/#\ngrp 4 pub e2e/#\n' | cmp -s - "$T_DIR/out" ||
	{ cat "$T_DIR/out" >&2; t_fail "group table of pub"; }
expect_rc 0 keyreq broker --groups
printf 'gone 4 - gone/#\ngrp 4 - e2e/#\n' | cmp -s - "$T_DIR/out" ||
	{ cat "$T_DIR/out" >&2; t_fail "group table of the broker"; }

# ---- errors that tell the truth --------------------------------------------------
sleep 1   # the broker learns the new group
expect_rc 5 pub pub -t e2e/a -q 1 -m x --group nosuch
grep -q "group 'nosuch' (--group) does not exist or client 'pub' has no grant on it; its groups: 'gone' (gone/#, pub), 'grp' (e2e/#, pub)" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "--group naming no group"; }
expect_rc 5 pub pub -t gone/a -q 1 -m x --group grp
grep -q "topic 'gone/a' is not in group 'grp' (--group, filter 'e2e/#'): it belongs to group 'gone'" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "--group naming another group"; }
expect_rc 5 pub pub -t typo/a -q 0 -m x
grep -q "no topic group of client 'pub' covers topic 'typo/a' (nothing was sent)" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "a QoS 0 typo was not refused by the client"; }
expect_rc 5 "$SUB" $(client_args sub1) -t '#' -q 1
grep -q "refused the subscription to '#' of client 'sub1'.*its groups: 'gone' (gone/#, sub), 'grp' (e2e/#, sub)" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "a subscription wider than every group does not list the groups"; }

# ---- group delete end to end -----------------------------------------------------
expect_rc 0 pub pub -t gone/state -q 1 -r -m "retained in gone"
expect_rc 0 "$SUB" $(client_args sub1) -t 'gone/#' -q 1 -C 1 -W 10
grep -qx "retained in gone" "$T_DIR/out" || t_fail "the retained message did not reach sub1"
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t gone/state -C 1 -W 3 >"$T_DIR/plain" 2>/dev/null
[ -s "$T_DIR/plain" ] || t_fail "the broker holds no retained message on gone/state"
expect_rc 2 kmsctl group delete gone
grep -q "group 'gone' still has 2 grants (pub pub, sub1 sub)" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "delete with grants not refused"; }
expect_rc 0 kmsctl group show gone                      # still there
expect_rc 0 kmsctl --json group delete gone --force
grep -q '"grants_removed": 2' "$T_DIR/out" || { cat "$T_DIR/out" >&2; t_fail "forced delete output"; }
expect_rc 2 kmsctl group show gone
grep -q "not_found" "$T_DIR/err" || t_fail "the group is still there"
expect_rc 2 kmsctl group delete gone
# the keys are gone from the database (no epoch or grant row without its group)
python3 - "$KMS_DIR" <<'PY' || t_fail "rows of the deleted group are left in the database"
import glob, sqlite3, sys
db = sqlite3.connect(glob.glob(sys.argv[1] + '/*.db')[0])
for t in ('epochs', 'grants', 'rekeys'):
    n = db.execute(f'SELECT count(*) FROM {t} WHERE group_id NOT IN (SELECT id FROM topic_groups)').fetchone()[0]
    assert n == 0, (t, n)
assert db.execute("SELECT count(*) FROM topic_groups WHERE name = 'gone'").fetchone()[0] == 0
PY
grep -q '"action":"group.keys_destroyed".*"target":"gone"' "$KMS_DIR"/audit*.log 2>/dev/null ||
	grep -rq 'group.keys_destroyed' "$KMS_DIR" || t_fail "no audit line for the destroyed keys"
# the broker drops the retained message (plain subscribers see nothing)
for i in $(seq 1 50); do
	mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t gone/state -C 1 -W 1 >"$T_DIR/plain" 2>/dev/null
	[ -s "$T_DIR/plain" ] || break
	sleep 0.2
done
[ -s "$T_DIR/plain" ] && t_fail "the broker still holds the deleted group's retained message"
grep -q "group 'gone' is gone: retained message on 'gone/state' dropped" "$T_DIR/mosquitto.log" ||
	t_fail "the broker did not log the dropped retained message"
# members lose the group at their next key fetch; the other group works on
expect_rc 0 keyreq pub --groups
printf 'grp 4 pub e2e/#\n' | cmp -s - "$T_DIR/out" || { cat "$T_DIR/out" >&2; t_fail "pub still gets 'gone'"; }
expect_rc 5 pub pub -t gone/state -q 1 -m x
grep -q "no topic group of client 'pub' covers topic 'gone/state'" "$T_DIR/err" ||
	{ cat "$T_DIR/err" >&2; t_fail "publishing to the deleted group"; }
sub_bg sub1 "$T_DIR/e2e.out" -q 1 -t 'e2e/#' -C 1 -W 30
S=$SUB_PID
wait_for "$T_DIR/e2e.out.err" "subscribed to" || t_fail "sub1 did not subscribe to e2e/#"
expect_rc 0 pub pub -t e2e/after -q 1 -m "still here"
wait_pid "$S" 100 && grep -qx "still here" "$T_DIR/e2e.out" || t_fail "grp broke after the delete"
# a group of the same name can be made again, with fresh keys
expect_rc 0 kmsctl group add gone --filter 'gone/#' --scheme 4
t_log "overlaps refused naming the other group; delete: refused with grants, forced, keys and retained messages gone"
exit 0
