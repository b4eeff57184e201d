/*
 * selfline.c - the line of client/hold.c, seen from inside a test program
 * (selfline.h).
 */
#include "config.h"

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "selfline.h"

int
self_lines(unsigned long long *bytes)
{
	return self_lines_nodelay(bytes, NULL);
}

int
self_lines_nodelay(unsigned long long *bytes, int *nodelay)
{
	struct end { unsigned lport, pport; unsigned long long rx; int nd; } v[256];
	struct sockaddr_in a, b;
	struct tcp_info ti;
	struct dirent *d;
	socklen_t al, bl, tl, ol;
	unsigned long long sum = 0;
	size_t n = 0, i, j;
	int lines = 0, nd = 0, opt;
	DIR *dir;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -1;
	while (n < sizeof(v) / sizeof(v[0]) && (d = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(d->d_name, &end, 10);

		if (*end != '\0' || d->d_name[0] == '.' || fd < 0 || fd > 65535)
			continue;
		al = sizeof(a);
		bl = sizeof(b);
		tl = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockname((int)fd, (struct sockaddr *)&a, &al) != 0 || a.sin_family != AF_INET ||
		    getpeername((int)fd, (struct sockaddr *)&b, &bl) != 0 ||
		    a.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
		    b.sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
		    getsockopt((int)fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0)
			continue;
		ol = sizeof(opt);
		v[n].nd = getsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &opt, &ol) == 0 && opt != 0;
		v[n].lport = ntohs(a.sin_port);
		v[n].pport = ntohs(b.sin_port);
		v[n++].rx = ti.tcpi_bytes_received;
	}
	closedir(dir);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (v[i].lport == v[j].pport && v[i].pport == v[j].lport) {
				lines++;
				nd += v[i].nd || v[j].nd;
				sum += v[i].rx + v[j].rx;
			}
	if (bytes != NULL)
		*bytes = sum;
	if (nodelay != NULL)
		*nodelay = nd;
	return lines;
}

double
self_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
self_threads_named(const char *name, int *sched_idle)
{
	char path[300], comm[64];
	struct dirent *d;
	DIR *dir;
	FILE *f;
	int n = 0;

	if (sched_idle != NULL)
		*sched_idle = 0;
	if ((dir = opendir("/proc/self/task")) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.64s/comm", d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL) {
			comm[strcspn(comm, "\n")] = '\0';
			if (strcmp(comm, name) == 0) {
				n++;
				/* Linux: a thread id names that thread alone */
				if (sched_idle != NULL &&
				    sched_getscheduler((pid_t)atoi(d->d_name)) == SCHED_IDLE)
					(*sched_idle)++;
			}
		}
		fclose(f);
	}
	closedir(dir);
	return n;
}
