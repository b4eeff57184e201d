#!/bin/bash
# mqe2e-bench --quick end to end: its own KMS, Mosquitto with the plugin and
# a stock Mosquitto (plain + TLS 1.3), every scheme and both baselines at 2
# and 5 subscribers (scenario 1) and 5 split over two processes (scenario 2),
# QoS 0 and 1.  No timing is checked:
# the CSV and JSON must exist with one row per run, and every paced and
# saturation message must have reached every subscriber verified (decrypted,
# MACs checked by libmqe2e, plaintext checked byte for byte by the bench).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/bench_lib.sh"
bench_brokers
t_need python3

OUT="$T_DIR/out"
"$BENCH" --quick -o "$OUT" --work-dir "$T_DIR/work" --kmsd "$KMSD" --plugin "$PLUGIN" \
	--mosquitto "$MOSQUITTO" 2>"$T_DIR/bench.err" || {
	cat "$T_DIR/bench.err" >&2
	for f in "$T_DIR"/work/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
	t_fail "mqe2e-bench --quick failed"
}
t_log "$(grep -c 'verified' "$T_DIR/bench.err") runs reported on stderr"

# every publish-to-receive run says where its connect window went (session 9):
# one "connect phases" line per "connect CPU" line, with figures that agree
python3 - "$T_DIR/bench.err" <<'PY' || t_fail "the connect phases lines are missing or inconsistent"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
cpu = [l for l in lines if "connect CPU:" in l]
ph = [l for l in lines if "connect phases:" in l]
assert cpu and len(ph) == len(cpu), "%d connect CPU lines, %d connect phases lines" % (len(cpu), len(ph))
rx = re.compile(r"first ready after ([\d.]+) ms; connect p50 ([\d.]+) p90 ([\d.]+) max ([\d.]+) ms; "
                r"subscribe p50 ([\d.]+) max ([\d.]+) ms; machine idle (\d+) of (\d+) CPU-ms$")
for l in ph:
    m = rx.search(l)
    assert m, "unreadable: " + l
    first, p50, p90, mx, sp50, smx, idle, tot = map(float, m.groups())
    assert p50 > 0 and p50 <= p90 <= mx and first <= mx, l
    assert 0 <= sp50 <= smx and 0 <= idle <= tot, l
print("# %d connect phases lines checked" % len(ph))
# and what the hypervisor took (session 10): one summary after the targets
st = [l for l in lines if "CPU stolen by the hypervisor:" in l]
assert len(st) == 1 and re.search(r"at most [\d.]+ % in one; \d+ of \d+ runs", st[0]), st
# and which runs fell behind the paced rate (session 13): one line, per QoS
fb = [l for l in lines if "fell behind the paced rate (latency grew" in l]
assert len(fb) == 1 and re.search(r"QoS 0: (none|[a-z0-9]+ \d+ of \d+).*; QoS 1: ", fb[0]), fb
PY

for f in connect.csv pubrecv.csv results.json; do
	[ -s "$OUT/$f" ] || t_fail "$f missing or empty"
done

python3 - "$OUT" <<'PY' || t_fail "the results do not show every message verified"
import csv, json, sys
out = sys.argv[1]
kinds = ["plain", "tls", "s1", "s2", "s3", "s4"]
must = {"plain", "tls", "s3", "s4"}          # schemes 1/2 may be "unavailable"
rows = list(csv.DictReader(open(out + "/pubrecv.csv")))
js = json.load(open(out + "/results.json"))
assert len(js["pubrecv"]) == len(rows), "CSV and JSON disagree"
bad = []
seen = set()
for r in rows:
    key = (r["scenario"], r["scheme"], r["n_subs"], r["qos"])
    seen.add(key)
    if r["status"] == "unavailable" and r["scheme"] not in must:
        print("# %s: not available: %s" % (r["scheme"], r["note"]))
        continue
    if r["status"] != "ok":
        bad.append("%s: status %s: %s" % (key, r["status"], r["note"]))
        continue
    exp, got = int(r["expected"]), int(r["delivered"])
    if exp == 0 or got != exp or int(r["bad"]) != 0 or int(r["dup"]) != 0:
        bad.append("%s: %d of %d delivered, %s bad, %s dup" % (key, got, exp, r["bad"], r["dup"]))
    # QoS 1 loses nothing, even at saturation
    if r["qos"] == "1" and r["burst_delivered"] != r["burst_expected"]:
        bad.append("%s: burst %s of %s" % (key, r["burst_delivered"], r["burst_expected"]))
    if float(r["lat_p50_ms"]) <= 0 or float(r["broker_cpu_us_per_delivery"]) <= 0:
        bad.append("%s: no latency or broker CPU figure" % (key,))
    # the broker loop wakes at least once per paced message (its PUBLISH
    # arrives), and the stolen share of the CPU is a share
    if not 0 < float(r["broker_wakeups_per_delivery"]) <= 50:
        bad.append("%s: broker wake-ups %s per delivery" % (key, r["broker_wakeups_per_delivery"]))
    for f in ("steal_pct", "steal_pct_burst"):
        if not 0 <= float(r[f]) <= 100:
            bad.append("%s: %s %s" % (key, f, r[f]))
    # the subscribers' CPU: over the paced phase alone, over ready..burst, and
    # the set-up before the first paced delivery, which is part of the latter
    paced, window = float(r["sub_cpu_us_per_delivery"]), float(r["sub_cpu_window_us_per_delivery"])
    setup_us = float(r["sub_cpu_setup_ms"]) * 1e3
    if paced <= 0 or window <= 0 or setup_us < 0 or setup_us > window * got + 100:
        bad.append("%s: subscriber CPU %s us/delivery paced, %s over the window, set-up %s ms"
                   % (key, r["sub_cpu_us_per_delivery"], r["sub_cpu_window_us_per_delivery"],
                      r["sub_cpu_setup_ms"]))
# how far each run's subscribers fell behind, and the verdict drawn from it
# (the growth over 5 sending periods; bench_fell_behind)
for x in js["pubrecv"]:
    if x["status"] != "ok":
        continue
    g, fb, rate = x["lag_growth_ms"], x["fell_behind"], x["rate"]
    if not isinstance(fb, bool) or fb != (g > 5 * 1000.0 / rate):
        bad.append("%s %s: lag_growth_ms %s, fell_behind %s at %s/s" % (x["scheme"], x["n_subs"],
                   g, fb, rate))
for scen, sizes in (("1", ("2", "5")), ("2", ("5",))):
    for k in kinds:
        for n in sizes:
            for q in ("0", "1"):
                if (scen, k, n, q) not in seen:
                    bad.append("missing run %s" % ((scen, k, n, q),))
conn = list(csv.DictReader(open(out + "/connect.csv")))
for k in must:
    c = [x for x in conn if x["scheme"] == k and x["n_subs"] == "5" and x["reps"] == "3"
         and x["role"] == "sub"]
    if not c or c[0]["status"] != "ok" or int(c[0]["samples"]) != 15:
        bad.append("connect 1+5 x3 of %s missing or incomplete" % k)
for b in bad:
    print("FAIL:", b, file=sys.stderr)
print("# %d runs, %d connection rows checked" % (len(rows), len(conn)))
sys.exit(1 if bad else 0)
PY
t_log "ok"
