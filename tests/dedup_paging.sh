#!/bin/bash
# dedup_paging.sh - every list endpoint of mqe2e-kmsd (GET /v1/clients,
# /v1/groups, /v1/grants, /v1/clients/{name}/certs, /v1/certs) pages alike:
# the pages of ?limit=2, followed by next_cursor, hold exactly the items of
# one large page, in its order, the last page has next_cursor null, a
# cursor no page handed out is refused (400) and an unknown client's
# certificates are 404.  Run on PostgreSQL as pg_dedup_paging.sh.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
[ -n "${top_builddir:-}" ] && [ -w "$top_builddir/tests" ] && export TMPDIR="$top_builddir/tests"
. "$top_srcdir/tests/lib.sh" || exit 99
. "$top_srcdir/tests/kms_lib.sh" || exit 99

kms_start

for c in c5 c1 c4 c2 c3 c7 c6; do WANT=201 kms_api POST /v1/clients "{\"name\":\"$c\"}" >/dev/null; done
for i in 1 2 3 4 5; do WANT=201 kms_api POST /v1/clients/c1/certs '{"generate":true,"days":2}' >/dev/null; done
for g in g3 g1 g2 g5 g4; do
	WANT=201 kms_api POST /v1/groups "{\"name\":\"$g\",\"filter\":\"$g/#\",\"scheme\":4}" >/dev/null
done
for c in c1 c2 c3; do
	for g in g1 g2; do
		for right in pub sub; do
			WANT=201 kms_api POST /v1/grants "{\"client\":\"$c\",\"group\":\"$g\",\"right\":\"$right\"}" >/dev/null
		done
	done
done

# pages PATH: the items of every ?limit=2 page of PATH in order, one JSON
# line each; fails on a page over 2 items or a loop
pages() {
	local path=$1 sep='?' cursor="" n=0 body
	case $path in *\?*) sep='&' ;; esac
	while :; do
		body=$(kms_api GET "$path${sep}limit=2${cursor:+&cursor=$cursor}")
		n=$((n + 1))
		[ "$n" -le 20 ] || t_fail "$path: more than 20 pages"
		jget '"\n".join(json.dumps(i, sort_keys=True) for i in d["items"])' <<<"$body" | sed '/^$/d'
		[ "$(jget 'len(d["items"]) <= 2' <<<"$body")" = True ] || t_fail "$path: a page over the limit"
		cursor=$(jget 'd["next_cursor"] or ""' <<<"$body")
		[ -n "$cursor" ] || break
	done
}
# check PATH COUNT: paging gives the items of one large page, COUNT of them
check() {
	local path=$1 count=$2 sep='?'
	case $path in *\?*) sep='&' ;; esac
	kms_api GET "$path${sep}limit=1000" |
		jget '"\n".join(json.dumps(i, sort_keys=True) for i in d["items"]) + "\n" + str(d["next_cursor"])' \
		>"$T_DIR/all"
	[ "$(tail -n 1 "$T_DIR/all")" = None ] || t_fail "$path: next_cursor after the only page"
	sed -i -e '$d' -e '/^$/d' "$T_DIR/all"
	pages "$path" >"$T_DIR/paged"
	[ "$(wc -l <"$T_DIR/all")" = "$count" ] ||
		t_fail "$path: $(wc -l <"$T_DIR/all") items, expected $count: $(cat "$T_DIR/all")"
	cmp -s "$T_DIR/all" "$T_DIR/paged" ||
		t_fail "$path: the pages differ from the whole list: $(diff "$T_DIR/all" "$T_DIR/paged")"
	WANT=400 kms_api GET "$path${sep}cursor=zz" >/dev/null
}
check /v1/clients 7
names=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["name"] for l in open(sys.argv[1])))' "$T_DIR/paged")
[ "$names" = "c1 c2 c3 c4 c5 c6 c7" ] || t_fail "clients not by name: $names"
check /v1/groups 5
check /v1/grants 12
check '/v1/grants?client=c2' 4
check '/v1/grants?group=g2' 6
check /v1/clients/c1/certs 5
check /v1/clients/c2/certs 0
WANT=404 kms_api GET /v1/clients/nobody/certs >/dev/null
grep -q "client 'nobody' does not exist" "$T_DIR/body" || t_fail "unknown client: $(cat "$T_DIR/body")"
# the certificates about to expire: one page, soonest first, no cursor
kms_api GET '/v1/certs?expiring_within=3' >"$T_DIR/expiring"
[ "$(jget '(len(d["items"]), sorted(set(i["client"] for i in d["items"])), d["next_cursor"])' <"$T_DIR/expiring")" = "(5, ['c1'], None)" ] ||
	t_fail "expiring: $(cat "$T_DIR/expiring")"
t_log "clients, groups, grants and certificates page alike on $KMS_TEST_DB"
kms_stop
exit 0
