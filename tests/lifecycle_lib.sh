# tests/lifecycle_lib.sh - helpers for the lifecycle_*.sh tests (key
# rotation, revocation, grace, offline catch-up).  Source after lib.sh.
. "$top_srcdir/tests/client_lib.sh"

# sub NAME [args...]: run mqe2e-sub as client NAME in the foreground.
sub() {
	local name=$1
	shift
	# shellcheck disable=SC2046
	"$SUB" $(client_args "$name") "$@"
}

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

# fetches NAME: key fetches of client NAME so far (KMS audit log).
fetches() {
	grep -c "\"actor\":\"client:$1\".*\"keys.fetch\"" "$KMS_DIR/audit.log"
}

# check_stream OUT N: OUT holds exactly the lines m-1 .. m-N, in order;
# prints "lost dup" counts and fails with them otherwise.
check_stream() {
	local out=$1 n=$2
	python3 - "$out" "$n" <<'PY'
import sys
lines = [l.rstrip("\n") for l in open(sys.argv[1])]
n = int(sys.argv[2])
want = ["m-%d" % i for i in range(1, n + 1)]
seen = set(lines)
lost = [w for w in want if w not in seen]
dup = len(lines) - len(seen)
extra = [l for l in seen if l not in set(want)]
print("%d %d %d %d" % (len(lost), dup, len(extra), int(lines == want)))
PY
}

# epochs_seen ERR: the distinct epochs of the messages a -d subscriber got.
epochs_seen() {
	sed -n "s/.*(group '[^']*', epoch \([0-9]*\),.*/\1/p" "$1" | sort -n | uniq | tr '\n' ' '
}

# drops ERR: messages the library refused (error callback lines).
drops() {
	grep -c "dropped a message" "$1"
}
