#!/bin/bash
# kms9_nonce.sh - issue 9 item 1: one enrolled client must never lock the
# KMS's key delivery or the brokers' policy out.
#
#   - mallory (enrolled, no grants) floods /v1/keys with valid requests dated
#     4 s ahead (inside the 5 s future window): past her share
#     (client_quota, 120 per window) she is refused with 429 and Retry-After,
#     and, holding no grants, she leaves no nonce in the cache;
#     sub1's keys and the broker's policy keep coming;
#   - pub1 (with a grant) floods: limited to its own share, the others
#     unaffected;
#   - a request dated 30 s ahead is refused (the future allowance is a few
#     seconds, separate from the 120 s past window);
#   - a replayed request that carried keys is still refused (409).
# The KMS runs with nonce_cache_size = 2048, so that on the old code (one
# global cache, nonces stored before any authorisation) the flood fills it.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

KMS_CONF="$T_DIR/kmsd.conf"
echo "nonce_cache_size = 2048" >"$KMS_CONF"
kms_start
expect_rc 0 kmsctl ca show
cp "$T_DIR/out" "$T_DIR/ca.crt"
enrol broker1 broker
enrol pub1 client
enrol sub1 client
enrol mallory client
expect_rc 0 kmsctl group add temps --filter 'plant/+/temp' --scheme 4
expect_rc 0 kmsctl grant add pub1 temps pub
expect_rc 0 kmsctl grant add sub1 temps sub

# status CODE: the count of that status in the flood summary in $T_DIR/out
status() { awk -v s="$1" '$1 == "status" && $2 == s {print $3}' "$T_DIR/out" | grep . || echo 0; }
# legit: sub1 gets its keys and the broker its policy, right now
legit() {
	expect_rc 0 keyreq sub1
	grep -q '^temps GK_B ' "$T_DIR/out" || t_fail "$1: sub1 got no GK_B: $(cat "$T_DIR/out" "$T_DIR/err")"
	expect_rc 0 keyreq broker1 --policy
	grep -q '^version ' "$T_DIR/out" || t_fail "$1: no policy for the broker: $(cat "$T_DIR/out")"
}

# --- a client with no grants floods, dated 4 s ahead -------------------------------------
expect_rc 0 keyreq mallory --count 3200 --ts-offset-ms 4000
cp "$T_DIR/out" "$T_DIR/flood1"
ok=$(status 200); limited=$(status 429); busy=$(status 503)
echo "# flood by mallory (no grants, +4 s): 3200 requests, $ok answered, $limited rate limited (429), $busy unavailable (503), $(awk '$1 == "elapsed_ms" {print $2}' "$T_DIR/out") ms, Retry-After $(awk '$1 == "retry_after" {print $2 "-" $3}' "$T_DIR/out") s"
legit "after mallory's flood"
[ "$busy" = 0 ] || t_fail "the flood made the KMS answer 503 to mallory: $(cat "$T_DIR/flood1")"
[ "$limited" -ge 3000 ] || t_fail "mallory was not rate limited: $(cat "$T_DIR/flood1")"
# client_quota 120 per 125 s window: the burst, plus about one a second
el=$(awk '$1 == "elapsed_ms" {print int($2 / 1000) + 1}' "$T_DIR/flood1")
[ "$ok" -le $((120 + el + 5)) ] || t_fail "mallory got $ok answers in $el s (quota 120 per window)"
awk '$1 == "retry_after" && $2 >= 1 && $3 <= 2 {f = 1} END {exit !f}' "$T_DIR/flood1" ||
	t_fail "429 without a sensible Retry-After: $(cat "$T_DIR/flood1")"
# the refusal says who and what to do
# (a token comes back about every second: one of a few quick tries is refused)
for i in 1 2 3 4 5; do
	keyreq mallory >"$T_DIR/out" 2>"$T_DIR/err" && continue
	break
done
grep -q '^error 429 rate_limited$' "$T_DIR/out" || t_fail "mallory's next requests: $(cat "$T_DIR/out")"
grep -q "mallory" "$T_DIR/err" && grep -q "client_quota" "$T_DIR/err" ||
	t_fail "the 429 does not name the client and the setting: $(cat "$T_DIR/err")"

# --- a client with a grant floods: its own share only ----------------------------------
expect_rc 0 keyreq pub1 --count 300 --ts-offset-ms 4000
ok=$(status 200); limited=$(status 429)
el=$(awk '$1 == "elapsed_ms" {print int($2 / 1000) + 1}' "$T_DIR/out")
echo "# flood by pub1 (pub grant): 300 requests, $ok answered, $limited rate limited"
[ "$ok" -ge 110 ] && [ "$ok" -le $((120 + el + 5)) ] && [ "$limited" -ge $((300 - 120 - el - 5)) ] ||
	t_fail "pub1's flood: $(cat "$T_DIR/out")"
legit "after pub1's flood"

# --- the future window is a few seconds, the past one 120 s ---------------------------
expect_rc 2 keyreq sub1 --ts-offset-ms 30000
grep -q '^error 400 clock_skew$' "$T_DIR/out" || t_fail "+30 s accepted: $(cat "$T_DIR/out")"
expect_rc 0 keyreq sub1 --ts-offset-ms -100000
grep -q '^temps GK_B ' "$T_DIR/out" || t_fail "-100 s refused: $(cat "$T_DIR/out" "$T_DIR/err")"

# --- a replay of a request that carried keys is refused --------------------------------
expect_rc 2 keyreq sub1 --replay
grep -q '^error 409 nonce_reused$' "$T_DIR/out" || t_fail "replay: $(cat "$T_DIR/out" "$T_DIR/err")"
legit "at the end"
exit 0
