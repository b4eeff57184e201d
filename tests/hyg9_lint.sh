#!/bin/bash
# hyg9_lint.sh - the harness rules that a reader of one test cannot see
# broken, checked in every tests/*.sh by tests/sh_lint.py:
#   1. nothing but a program goes into the background with a bare "&" (a
#      shell function, a subshell, a loop or a list gives $! of a subshell,
#      and a kill of that leaves the program it runs going: t_bg_func and
#      t_kill_tree are for those);
#   2. no test sets a trap on EXIT of its own (lib.sh's t_cleanup is the
#      one; a test's own clean-up is a t_atexit step).
# First the checker itself, on scripts that break each rule and on the
# forms that are allowed; then the test scripts.  (No network, ~1 s.)
. "$top_srcdir/tests/lib.sh"
t_need python3
LINT="$top_srcdir/tests/sh_lint.py"

# case NAME WANT: lint $T_DIR/NAME.sh (with lib.sh, for its functions);
# WANT is the number of breaches it must report, each naming NAME.sh.
case_() {
	local out n
	out=$(python3 "$LINT" "$top_srcdir/tests/lib.sh" "$T_DIR/$1.sh")
	n=$(printf '%s' "$out" | grep -c "$1.sh:")
	[ "$n" = "$2" ] || t_fail "sh_lint.py on $1.sh: $n breaches, want $2: ${out:-(none)}"
	[ -z "$out" ] || [ "$2" != 0 ] || t_fail "sh_lint.py on $1.sh said: $out"
	printf '%s\n' "$out" >"$T_DIR/$1.out"
}

# --- breaches -------------------------------------------------------------------------
cat >"$T_DIR/func.sh" <<'EOF'
rotator() { while :; do kmsctl group rotate g; done; }
rotator &
rotator \
	>"$T_DIR/x" 2>&1 &
kms_start &            # a function of a test library (kms_lib.sh)
t_free_port &          # one of lib.sh's
EOF
printf 'kms_start() { :; }\n' >>"$T_DIR/func.sh"
case_ func 4
grep -q 'func.sh:3-4: the shell function rotator' "$T_DIR/func.out" || t_fail "a continued line: $(cat "$T_DIR/func.out")"

cat >"$T_DIR/compound.sh" <<'EOF'
( while :; do probe; sleep 1; done ) >"$T_DIR/flood" 2>&1 &
{ sleep 1; echo x; } &
for i in 1 2; do sleep 1; done &
while read -r l; do echo "$l"; done <"$T_DIR/in" &
if true; then sleep 1; fi &
case $x in a) sleep 1 ;; esac &
sleep 1 && echo done &
eval "sleep 1" &
false || python3 -c 'print(1)' >"$T_DIR/o" &
EOF
case_ compound 9

cat >"$T_DIR/trap.sh" <<'EOF'
unmount() { umount "$T_DIR/m"; }
trap 'unmount; t_cleanup' EXIT
trap "t_cleanup" 0
trap cleanup INT EXIT TERM
EOF
case_ trap 3

# --- what is allowed -------------------------------------------------------------------
cat >"$T_DIR/ok.sh" <<'EOF'
#!/bin/bash
# a program, or a variable holding one: $! is the program
sleep 300 &
"$KMSD" --data-dir "$KMS_DIR" \
	--listen "127.0.0.1:$KMS_PORT" >>"$T_DIR/kmsd.log" 2>&1 &
env $(t_san_preload) "$MOSQUITTO" -c "$T_DIR/m.conf" >>"$T_DIR/m.log" 2>&1 3>&- &
FOO=bar python3 - "$port" <<'PY' &
import sys
def f(): pass   # a body is data: f &, ( x ) &, trap 'x' EXIT
f &
PY
exec python3 -m http.server 0 &
cat <(sleep 3) >/dev/null &
sleep 1 | cat &
# (a function, "f &" and trap ... EXIT in a comment or in a string)
echo "rotator & ( sleep 1 ) & trap 'x' EXIT" >"$T_DIR/x"
rotator() { while :; do sleep 1; done; }
t_bg_func R rotator >"$T_DIR/r" 2>&1
t_bg P sleep 300
# && and || and ; and a test are not a background
[ -n "$x" ] && [[ $a < $b && ( -n $c ) ]] && echo a || echo b; (( i++ < 3 )) && echo c
for i in 1 2; do sleep 1 & pids="$pids $!"; done
case $x in (a) sleep 1 & ;; b|c) python3 x & ;; esac
f() (
	sleep 1 &
)
x=$(case $y in a) echo 1 ;; esac)
trap '' PIPE
trap 'exit 0' TERM
cat >"$T_DIR/inner.sh" <<-'IN'
	. lib.sh
	f() { sleep 3; }
	f &
	trap 'x' EXIT
	IN
sleep 2 &
EOF
case_ ok 0
t_log "sh_lint.py finds a function, a compound command, a list and a builtin put in the background, and a test's own EXIT trap, and passes programs, here-documents, comments and strings"

# --- the test scripts ------------------------------------------------------------------
out=$(cd "$top_srcdir/tests" && python3 "$LINT" *.sh) ||
	t_fail "the tests break the harness rules (docs/ARCHITECTURE.md, Build and test):
$out"
t_log "$(ls "$top_srcdir"/tests/*.sh | wc -l) test scripts keep the harness rules"
exit 0
