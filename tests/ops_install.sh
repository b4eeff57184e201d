#!/bin/sh
# ops_install.sh - `make install DESTDIR=...` gives a tree an operator can
# run: daemons in sbin, the units pass `systemd-analyze verify` without a
# warning, the sysusers file creates the service user, the installed
# mqe2e-kmsd runs as that user from the installed configuration (state
# files owned by it, mode 0600), its /metrics parses as Prometheus text and
# counts what was asked of it, the tools find libmqe2e and every program
# answers --version and --help.
. "$top_srcdir/tests/lib.sh"
t_need curl
t_need python3
t_need make

ROOT="$T_DIR/root"
make -s -C "$top_builddir" install DESTDIR="$ROOT" >"$T_DIR/install.log" 2>&1 ||
	{ cat "$T_DIR/install.log" >&2; t_fail "make install DESTDIR=$ROOT failed"; }

# Where configure put things (expanded by make, as in the units).
SBINDIR=; BINDIR=; LIBDIR=; SYSCONFDIR=; UNITDIR=; SYSUSERSDIR=
eval "$(make -s --no-print-directory -C "$top_builddir" print-install-dirs)"
[ -n "$SBINDIR" ] && [ -n "$UNITDIR" ] || t_fail "cannot read the install directories"

[ -x "$ROOT$SBINDIR/mqe2e-kmsd" ] || t_fail "mqe2e-kmsd is not in $SBINDIR"
[ -e "$ROOT$BINDIR/mqe2e-kmsd" ] && t_fail "mqe2e-kmsd is also in $BINDIR"
for f in "$UNITDIR/mqe2e-kmsd.service" "$UNITDIR/mosquitto.service.d/mqe2e.conf" \
	"$SYSUSERSDIR/mqe2e.conf" "$SYSCONFDIR/mqe2e/mqe2e-kmsd.conf"; do
	[ -s "$ROOT$f" ] || t_fail "$f was not installed"
done
grep -q "^ExecStart=$SBINDIR/mqe2e-kmsd --config $SYSCONFDIR/mqe2e/mqe2e-kmsd.conf\$" \
	"$ROOT$UNITDIR/mqe2e-kmsd.service" || t_fail "the unit does not start the installed daemon"
for d in ProtectSystem=strict User=mqe2e StateDirectory=mqe2e ConfigurationDirectory=mqe2e \
	NoNewPrivileges=yes CapabilityBoundingSet= PrivateTmp=yes ProtectHome=yes; do
	grep -q "^$d\$" "$ROOT$UNITDIR/mqe2e-kmsd.service" || t_fail "the unit lacks $d"
done

# A real install into a directory the dynamic linker does not search says
# what to do instead of leaving "cannot open shared object file" for later.
make -s --no-print-directory -C "$top_builddir" install-exec-hook libdir=/nonexistent/lib \
	>"$T_DIR/hook.out" 2>&1 || t_fail "the install hook failed"
grep -q -e "does not search /nonexistent/lib" -e "no ldconfig found" "$T_DIR/hook.out" ||
	{ cat "$T_DIR/hook.out" >&2; t_fail "the install hook does not explain the library path"; }

# Every program answers --version and --help (exit 0, on stdout); the
# tools find the installed libmqe2e.
for p in "$SBINDIR/mqe2e-kmsd" "$BINDIR/mqe2e-kmsctl" "$BINDIR/mqe2e-pub" \
	"$BINDIR/mqe2e-sub" "$BINDIR/mqe2e-bench"; do
	[ -x "$ROOT$p" ] || t_fail "$p not installed"
	LD_LIBRARY_PATH="$ROOT$LIBDIR" "$ROOT$p" --version >"$T_DIR/v" 2>"$T_DIR/v.err" ||
		{ cat "$T_DIR/v.err" >&2; t_fail "$p --version failed"; }
	grep -q "^$(basename "$p") [0-9]" "$T_DIR/v" || t_fail "$p --version printed '$(cat "$T_DIR/v")'"
	LD_LIBRARY_PATH="$ROOT$LIBDIR" "$ROOT$p" --help >"$T_DIR/h" 2>&1 || t_fail "$p --help failed"
	grep -qi "usage" "$T_DIR/h" || t_fail "$p --help printed no usage"
done
t_log "every installed program answers --version and --help"

# The installed bash completion, in plain bash against the installed
# programs: commands, verbs, options.
COMPDIR=$(find "$ROOT" -type d -path '*/bash-completion/completions' | head -1)
[ -n "$COMPDIR" ] && [ -s "$COMPDIR/mqe2e-kmsctl" ] && [ -L "$COMPDIR/mqe2e-pub" ] ||
	t_fail "the bash completion was not installed"
LD_LIBRARY_PATH="$ROOT$LIBDIR" bash -c '
	. "$1/mqe2e-kmsctl" || exit 1
	c() { local fn=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));
	      "$fn" "${COMP_WORDS[0]}"; echo "${COMPREPLY[*]}"; }
	c _mqe2e_kmsctl "$2/mqe2e-kmsctl" ce
	c _mqe2e_kmsctl "$2/mqe2e-kmsctl" --json cert re
	c _mqe2e_tool "$2/mqe2e-pub" --repeat-
	c _mqe2e_tool "$3/mqe2e-kmsd" --dat
	complete -p mqe2e-sub' sh "$COMPDIR" "$ROOT$BINDIR" "$ROOT$SBINDIR" >"$T_DIR/comp" 2>&1 ||
	{ cat "$T_DIR/comp" >&2; t_fail "the bash completion does not load"; }
[ "$(cat "$T_DIR/comp")" = "cert
revoke renew
--repeat-delay
--data-dir
complete -F _mqe2e_tool mqe2e-sub" ] || { cat "$T_DIR/comp" >&2; t_fail "the bash completion completes wrongly"; }
t_log "bash completion: commands, verbs and options of the installed programs"

# systemd-analyze verify: the unit with its paths inside DESTDIR, and
# Debian's mosquitto.service with our drop-in.  Any output is a warning.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T_DIR/units/mosquitto.service.d"
	sed "s#^ExecStart=#ExecStart=$ROOT#" "$ROOT$UNITDIR/mqe2e-kmsd.service" \
		>"$T_DIR/units/mqe2e-kmsd.service"
	if [ -e /lib/systemd/system/mosquitto.service ]; then
		cp /lib/systemd/system/mosquitto.service "$T_DIR/units/"
	else
		printf '[Unit]\nDescription=Mosquitto\n[Service]\nExecStart=/bin/true\n' \
			>"$T_DIR/units/mosquitto.service"
	fi
	cp "$ROOT$UNITDIR/mosquitto.service.d/mqe2e.conf" "$T_DIR/units/mosquitto.service.d/"
	for u in mqe2e-kmsd.service mosquitto.service; do
		systemd-analyze verify --man=no "$T_DIR/units/$u" >"$T_DIR/verify" 2>&1 ||
			{ cat "$T_DIR/verify" >&2; t_fail "systemd-analyze verify $u failed"; }
		[ -s "$T_DIR/verify" ] && { cat "$T_DIR/verify" >&2; t_fail "systemd-analyze verify $u warns"; }
	done
	t_log "systemd-analyze verify: mqe2e-kmsd.service and the mosquitto drop-in are clean"
else
	t_log "systemd-analyze not installed: units not verified"
fi

# The service user, as systemd-sysusers makes it from our file (in a scratch
# root: the host's /etc/passwd is not touched).
if [ "$(id -u)" != 0 ]; then
	t_log "not root: cannot start the daemon as its service user; done"
	exit 0
fi
t_need setpriv
t_need systemd-sysusers
mkdir -p "$T_DIR/sysroot/etc" "$T_DIR/sysroot/usr/lib/sysusers.d"
cp "$ROOT$SYSUSERSDIR/mqe2e.conf" "$T_DIR/sysroot/usr/lib/sysusers.d/"
systemd-sysusers --root="$T_DIR/sysroot" >"$T_DIR/sysusers.log" 2>&1 ||
	{ cat "$T_DIR/sysusers.log" >&2; t_fail "systemd-sysusers refused mqe2e.conf"; }
ent=$(grep '^mqe2e:' "$T_DIR/sysroot/etc/passwd") || t_fail "sysusers created no user mqe2e"
SVC_UID=$(echo "$ent" | cut -d: -f3)
SVC_GID=$(echo "$ent" | cut -d: -f4)
echo "$ent" | grep -q ':/var/lib/mqe2e:' || t_fail "the service user's home is not /var/lib/mqe2e: $ent"
[ "$SVC_UID" -gt 0 ] && [ "$SVC_UID" -lt 1000 ] || t_fail "not a system uid: $ent"

# State directory as StateDirectory= makes it; configuration from the
# installed file with only data_dir and listen changed.
chmod 755 "$T_DIR"
STATE="$T_DIR/state"
mkdir -m 700 "$STATE"
chown "$SVC_UID:$SVC_GID" "$STATE"
PORT=$(t_free_port)
sed -e "s#^data_dir = .*#data_dir = $STATE#" -e "s#^listen = .*#listen = 127.0.0.1:$PORT#" \
	"$ROOT$SYSCONFDIR/mqe2e/mqe2e-kmsd.conf" >"$T_DIR/kmsd.conf"
grep -q "^data_dir = $STATE\$" "$T_DIR/kmsd.conf" || t_fail "the installed config has no data_dir line"
chmod 644 "$T_DIR/kmsd.conf"
setpriv --reuid="$SVC_UID" --regid="$SVC_GID" --clear-groups --no-new-privs --inh-caps=-all \
	"$ROOT$SBINDIR/mqe2e-kmsd" --config "$T_DIR/kmsd.conf" >"$T_DIR/kmsd.log" 2>&1 &
KPID=$!
t_track "$KPID"
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
	curl -sf "$URL/v1/health" >/dev/null 2>&1 && break
	kill -0 "$KPID" 2>/dev/null || { cat "$T_DIR/kmsd.log" >&2; t_fail "the installed mqe2e-kmsd exited"; }
	sleep 0.1
done
[ "$(stat -c %u "/proc/$KPID")" = "$SVC_UID" ] || t_fail "mqe2e-kmsd does not run as uid $SVC_UID"
for f in "$STATE"/*; do
	[ "$(stat -c %u "$f")" = "$SVC_UID" ] || t_fail "$f is not owned by the service user"
done
for f in master.key admin.token; do
	[ -e "$STATE/$f" ] || continue
	[ "$(stat -c %a "$STATE/$f")" = 600 ] || t_fail "$f has mode $(stat -c %a "$STATE/$f")"
done
t_log "installed mqe2e-kmsd runs as uid $SVC_UID with its state in a 0700 directory"

# A few requests through the installed kmsctl, which finds the KMS through
# MQE2E_KMS_URL alone, then the metrics.
MQE2E_KMS_URL=$URL MQE2E_KMS_TOKEN_FILE="$STATE/admin.token" "$ROOT$BINDIR/mqe2e-kmsctl" status \
	>"$T_DIR/status" 2>&1 || { cat "$T_DIR/status" >&2; t_fail "kmsctl status via MQE2E_KMS_URL failed"; }
MQE2E_KMS_URL=$URL MQE2E_KMS_TOKEN_FILE="$STATE/admin.token" "$ROOT$BINDIR/mqe2e-kmsctl" \
	group add g1 --filter 'a/#' --scheme 4 >/dev/null 2>&1 || t_fail "kmsctl group add failed"
MQE2E_KMS_URL=$URL MQE2E_KMS_TOKEN_FILE="$STATE/admin.token" "$ROOT$BINDIR/mqe2e-kmsctl" \
	group rotate g1 >/dev/null 2>&1 || t_fail "kmsctl group rotate failed"
curl -s -o /dev/null "$URL/v1/no-such-thing"
curl -s -D "$T_DIR/headers" "$URL/metrics" >"$T_DIR/metrics" || t_fail "GET /metrics failed"
grep -qi '^content-type: text/plain; version=0.0.4' "$T_DIR/headers" ||
	t_fail "/metrics Content-Type: $(grep -i content-type "$T_DIR/headers")"
python3 "$top_srcdir/tests/prom_check.py" "$T_DIR/metrics" \
	mqe2e_kms_http_requests_total mqe2e_kms_http_request_duration_seconds \
	mqe2e_kms_key_responses_total mqe2e_kms_rotations_total mqe2e_kms_revocations_total \
	mqe2e_kms_nonce_cache_entries mqe2e_kms_db_errors_total >"$T_DIR/samples" ||
	t_fail "/metrics is not valid Prometheus text"
want() { grep -qxF "$1" "$T_DIR/samples" || { cat "$T_DIR/samples" >&2; t_fail "no sample '$1'"; }; }
want 'mqe2e_kms_http_requests_total{code="404",endpoint="other"} 1'
want 'mqe2e_kms_http_requests_total{code="201",endpoint="groups"} 1'
want 'mqe2e_kms_rotations_total{cause="manual"} 1'
want 'mqe2e_kms_db_errors_total{} 0'
grep -q '^mqe2e_kms_http_request_duration_seconds_count{endpoint="health"} [1-9]' "$T_DIR/samples" ||
	t_fail "health requests were not timed"
t_log "/metrics: $(wc -l <"$T_DIR/samples") samples, valid, counting requests, codes and rotations"

kill -TERM "$KPID"
for _ in $(seq 1 50); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$KPID" 2>/dev/null && t_fail "mqe2e-kmsd did not stop within 5 s of SIGTERM"
wait "$KPID" || t_fail "mqe2e-kmsd exited with $? on SIGTERM"
exit 0
