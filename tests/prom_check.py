#!/usr/bin/env python3
"""prom_check.py - a strict parser of the Prometheus text exposition format
0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).

  prom_check.py FILE [NAME ...]

Parses FILE ("-": stdin) and fails (exit 1, with the line) on anything a
Prometheus server would refuse or that breaks the format's rules: bad metric
or label names, bad escapes, values that are not floats, a TYPE after the
family's samples or twice, samples of one family not together, duplicate
series, histograms whose buckets are not cumulative or lack +Inf = _count.
Each NAME must be a family present in the file.  On success prints
"name{labels} value" for every sample, sorted, so tests can grep values.
"""
import math
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', s):
        raise Bad("value %r is not a float" % s)
    return float(s)


def parse_labels(s, i):
    """s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i:i + 1] == '}':
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise Bad("bad label name at column %d" % i)
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise Bad("expected =\" after label %s" % name)
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise Bad("unterminated label value")
            c = s[i]
            if c == '\\':
                nxt = s[i + 1:i + 2]
                if nxt not in ('\\', '"', 'n'):
                    raise Bad("bad escape \\%s in label value" % nxt)
                val.append('\n' if nxt == 'n' else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise Bad("label %s twice" % name)
        labels[name] = ''.join(val)
        if s[i:i + 1] == ',':
            i += 1
        elif s[i:i + 1] != '}':
            raise Bad("expected , or } after label %s" % name)


def family_of(name, types):
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in ("histogram", "summary"):
            return name[:-len(suf)]
    return name


def check(text):
    types, helps, seen_series, done_families = {}, {}, set(), set()
    samples = []
    current = None
    if text and not text.endswith("\n"):
        raise Bad("the exposition must end with a newline")
    for no, line in enumerate(text.split("\n")[:-1], 1):
        try:
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                    if len(parts) < 3 or not NAME.fullmatch(parts[2]):
                        raise Bad("bad metric name in %s" % parts[1])
                    name = parts[2]
                    if parts[1] == "TYPE":
                        if name in types:
                            raise Bad("TYPE of %s twice" % name)
                        if any(family_of(s[0], types) == name for s in samples):
                            raise Bad("TYPE of %s after its samples" % name)
                        if len(parts) != 4 or parts[3] not in TYPES:
                            raise Bad("bad type for %s" % name)
                        types[name] = parts[3]
                    else:
                        if name in helps:
                            raise Bad("HELP of %s twice" % name)
                        helps[name] = parts[3] if len(parts) > 3 else ""
                continue
            if line.strip() == "":
                continue
            m = NAME.match(line)
            if not m:
                raise Bad("bad metric name")
            name = m.group(0)
            i = m.end()
            labels = {}
            if line[i:i + 1] == '{':
                labels, i = parse_labels(line, i)
            rest = line[i:]
            if not rest.startswith(" "):
                raise Bad("expected a space before the value")
            fields = rest.split()
            if len(fields) not in (1, 2):
                raise Bad("expected value [timestamp]")
            value = parse_value(fields[0])
            if len(fields) == 2 and not re.fullmatch(r'-?\d+', fields[1]):
                raise Bad("bad timestamp")
            fam = family_of(name, types)
            if fam != current:
                if fam in done_families:
                    raise Bad("samples of %s are not together" % fam)
                if current is not None:
                    done_families.add(current)
                current = fam
            key = (name, tuple(sorted(labels.items())))
            if key in seen_series:
                raise Bad("series %s%s twice" % (name, labels))
            seen_series.add(key)
            if types.get(fam) == "counter" and (value < 0 or math.isnan(value)):
                raise Bad("counter %s is negative" % name)
            samples.append((name, labels, value))
        except Bad as e:
            raise Bad("line %d: %s: %s" % (no, e, line))
    # histograms: cumulative buckets, +Inf == _count
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for name, labels, value in samples:
            if family_of(name, types) != fam:
                continue
            base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            g = groups.setdefault(base, {"buckets": [], "count": None, "sum": None})
            if name == fam + "_bucket":
                if "le" not in labels:
                    raise Bad("%s_bucket without le" % fam)
                g["buckets"].append((parse_value(labels["le"]), value))
            elif name == fam + "_count":
                g["count"] = value
            elif name == fam + "_sum":
                g["sum"] = value
            else:
                raise Bad("sample %s in histogram %s" % (name, fam))
        for base, g in groups.items():
            b = sorted(g["buckets"])
            if not b or b[-1][0] != math.inf:
                raise Bad("histogram %s%s has no +Inf bucket" % (fam, dict(base)))
            if any(b[k][1] > b[k + 1][1] for k in range(len(b) - 1)):
                raise Bad("histogram %s%s buckets are not cumulative" % (fam, dict(base)))
            if g["count"] is None or g["sum"] is None or g["count"] != b[-1][1]:
                raise Bad("histogram %s%s: _count must equal the +Inf bucket" % (fam, dict(base)))
    return types, samples


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    text = sys.stdin.read() if sys.argv[1] == "-" else open(sys.argv[1]).read()
    try:
        types, samples = check(text)
        for want in sys.argv[2:]:
            if want not in types:
                raise Bad("no metric family %s" % want)
    except Bad as e:
        print("prom_check: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(1)
    out = []
    for name, labels, value in samples:
        lab = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        out.append("%s{%s} %s" % (name, lab, repr(value) if value != int(value) else int(value)))
    print("\n".join(sorted(out)))


if __name__ == "__main__":
    main()
