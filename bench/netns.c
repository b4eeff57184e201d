/*
 * netns.c - scenario 3: the subscribers in two subnets.  Two network
 * namespaces, each joined to the root namespace by a veth pair with its own
 * /24 (10.201.1.0/24, 10.201.2.0/24) and a netem delay on both ends; the
 * brokers and the KMS listen on the root end of the first pair, which the
 * second subnet reaches through its default route.  Needs root and a
 * working `ip netns`; otherwise scenario 3 is skipped with the reason.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* Run a command line split on blanks (our arguments hold none): 0 or -1. */
static int sh(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
sh(struct bench *b, const char *fmt, ...)
{
	char line[512], *p, log[BENCH_PATH_MAX];
	const char *argv[24];
	va_list ap;
	int n = 0, w;

	va_start(ap, fmt);
	w = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= sizeof(line))
		return -1;
	p = line;
	while (*p != '\0' && n < 23) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p == '\0')
			break;
		argv[n++] = p;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	argv[n] = NULL;
	bench_fmt(log, sizeof(log), "%s/netns.log", b->env.dir);
	return n > 0 && bench_run(argv, log) == 0 ? 0 : -1;
}

void
netns_setup(struct bench *b)
{
	struct netns_info *s = &b->nsi;
	char vh[16], vn[16];
	int i, tag = (int)(getpid() % 100000);

	if (s->ok)
		return;
	memset(s, 0, sizeof(*s));
	if (geteuid() != 0) {
		bench_fmt(s->why, sizeof(s->why), "needs root (network namespaces and netem)");
		return;
	}
	for (i = 0; i < 2; i++) {
		bench_fmt(s->ns[i], sizeof(s->ns[i]), "mqb%d-%d", tag, i);
		bench_fmt(vh, sizeof(vh), "mqb%dh%d", tag, i);
		bench_fmt(vn, sizeof(vn), "mqb%dn%d", tag, i);
		bench_fmt(s->host_ip[i], sizeof(s->host_ip[i]), "10.201.%d.1", i + 1);
		if (sh(b, "ip netns add %s", s->ns[i]) != 0) {
			bench_fmt(s->why, sizeof(s->why), "'ip netns add' failed (see netns.log)");
			s->ns[i][0] = '\0';
			goto fail;
		}
		if (sh(b, "ip link add %s type veth peer name %s", vh, vn) == 0)
			bench_fmt(s->veth[i], sizeof(s->veth[i]), "%s", vh);
		if (s->veth[i][0] == '\0' ||
		    sh(b, "ip link set %s netns %s", vn, s->ns[i]) != 0 ||
		    sh(b, "ip addr add 10.201.%d.1/24 dev %s", i + 1, vh) != 0 ||
		    sh(b, "ip link set %s up", vh) != 0 ||
		    sh(b, "ip netns exec %s ip link set lo up", s->ns[i]) != 0 ||
		    sh(b, "ip netns exec %s ip addr add 10.201.%d.2/24 dev %s", s->ns[i], i + 1,
		    vn) != 0 ||
		    sh(b, "ip netns exec %s ip link set %s up", s->ns[i], vn) != 0 ||
		    sh(b, "ip netns exec %s ip route add default via 10.201.%d.1", s->ns[i],
		    i + 1) != 0) {
			bench_fmt(s->why, sizeof(s->why), "cannot set up veth %s (see netns.log)", vh);
			goto fail;
		}
		/* without netem (a kernel without sch_netem) the subnets stay,
		 * with no delay added: said in the results */
		if (b->netem_ms > 0 && i == 0)
			s->netem = 1;
		if (s->netem &&
		    (sh(b, "tc qdisc add dev %s root netem delay %.3fms", vh, b->netem_ms) != 0 ||
		    sh(b, "ip netns exec %s tc qdisc add dev %s root netem delay %.3fms", s->ns[i],
		    vn, b->netem_ms) != 0)) {
			s->netem = 0;
			bench_fmt(s->why, sizeof(s->why), "netem is not available in this kernel: "
			    "two subnets without added delay");
		}
	}
	s->ok = 1;
	if (s->netem)
		bench_log("scenario 3: namespaces %s (10.201.1.0/24) and %s (10.201.2.0/24), "
		    "netem %.1f ms on each veth end", s->ns[0], s->ns[1], b->netem_ms);
	else
		bench_log("scenario 3: namespaces %s (10.201.1.0/24) and %s (10.201.2.0/24); %s",
		    s->ns[0], s->ns[1], s->why[0] ? s->why : "no delay added");
	return;
fail:
	bench_log("scenario 3 not possible here: %s", s->why);
	netns_teardown(b);
}

void
netns_teardown(struct bench *b)
{
	struct netns_info *s = &b->nsi;
	int i;

	for (i = 0; i < 2; i++) {
		if (s->ns[i][0] == '\0')
			continue;
		/* the host end goes with the namespace, but asynchronously */
		if (s->veth[i][0] != '\0')
			(void)sh(b, "ip link del %s", s->veth[i]);
		s->veth[i][0] = '\0';
		(void)sh(b, "ip netns del %s", s->ns[i]);
		s->ns[i][0] = '\0';
	}
	s->ok = 0;
}
