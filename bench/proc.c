/*
 * proc.c - starting and stopping the processes of the bench (KMS, brokers,
 * sub hosts, openssl, ip), and reading a broker's CPU time and memory from
 * /proc.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

pid_t
bench_spawn(const char *const argv[], const char *log, int in_fd, int out_fd)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) < 0)
		return -1;
	if (pid > 0)
		return pid;
	/* child: only async-signal-safe calls until exec */
	if (in_fd >= 0)
		dup2(in_fd, 0);
	else if ((fd = open("/dev/null", O_RDONLY)) >= 0)
		dup2(fd, 0);
	if (log != NULL && (fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		if (out_fd < 0)
			dup2(fd, 1);
		dup2(fd, 2);
	}
	if (out_fd >= 0)
		dup2(out_fd, 1);
	/* execvp's prototype predates const; it does not write to argv */
	execvp(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

void
bench_stop_pid(pid_t pid, int ms)
{
	int i, st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		bench_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

int
bench_run(const char *const argv[], const char *log)
{
	pid_t pid;
	int st;

	if ((pid = bench_spawn(argv, log != NULL ? log : "/dev/null", -1, -1)) < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

long
bench_clk_tck(void)
{
	long t = sysconf(_SC_CLK_TCK);

	return t > 0 ? t : 100;
}

/* Read a small file into buf (NUL-terminated): 0 or -1. */
static int
read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The unsigned decimal at s (skipping blanks); *end after it. */
static int
next_u64(const char *s, const char **end, uint64_t *v)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &e, 10);
	if (errno != 0)
		return -1;
	*end = e;
	return 0;
}

/* utime + stime (*ticks) and utime (*user): fields 14 and 15 of
 * /proc/PID/stat, counted after the command name, which is in parentheses
 * and may hold anything. */
static int
stat_ticks(pid_t pid, uint64_t *ticks, uint64_t *user)
{
	char path[64], buf[2048];
	const char *p;
	uint64_t v, sum = 0;
	int field;

	bench_fmt(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) != 0 || (p = strrchr(buf, ')')) == NULL)
		return -1;
	p++;
	/* after ")": field 3 (state) onwards, separated by single spaces */
	for (field = 3; field <= 15; field++) {
		while (*p == ' ')
			p++;
		if (field >= 14) {
			if (next_u64(p, &p, &v) != 0)
				return -1;
			if (field == 14)
				*user = v;
			sum += v;
			continue;
		}
		while (*p != ' ' && *p != '\0')
			p++;
		if (*p == '\0')
			return -1;
	}
	*ticks = sum;
	return 0;
}

/* The process's run time in ns: its CPU-time clock, which keeps the time
 * of threads that have exited (a KMS's connection threads come and go: a
 * sum over the threads alive at each reading lost theirs and once printed
 * a negative difference as 18446744073709 ms); else the sum of the first
 * field of /proc/PID/task/.../schedstat. */
static int
sched_ns(pid_t pid, uint64_t *ns)
{
	char path[300], buf[256];
	struct dirent *d;
	struct timespec ts;
	const char *end;
	uint64_t v, sum = 0;
	clockid_t cid;
	DIR *dir;

	if (clock_getcpuclockid(pid, &cid) == 0 && clock_gettime(cid, &ts) == 0) {
		*ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		return 0;
	}
	bench_fmt(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		bench_fmt(path, sizeof(path), "/proc/%d/task/%.32s/schedstat", (int)pid,
		    d->d_name);
		if (read_small(path, buf, sizeof(buf)) == 0 && next_u64(buf, &end, &v) == 0)
			sum += v;
	}
	closedir(dir);
	*ns = sum;
	return 0;
}

/* The number after field `name` of a /proc/PID/status text (kB for the
 * memory fields, a count for the others), 0 if it has none. */
static uint64_t
status_u64(const char *status, const char *name)
{
	const char *p = strstr(status, name), *end;
	uint64_t v;

	if (p == NULL || next_u64(p + strlen(name), &end, &v) != 0)
		return 0;
	return v;
}

int
bench_procstat(pid_t pid, struct bench_procstat *out)
{
	char path[64], buf[4096];

	memset(out, 0, sizeof(*out));
	if (pid <= 0 || stat_ticks(pid, &out->cpu_ticks, &out->user_ticks) != 0)
		return -1;
	(void)sched_ns(pid, &out->cpu_ns);
	bench_fmt(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof(buf)) == 0) {
		out->rss_kib = status_u64(buf, "VmRSS:");
		out->hwm_kib = status_u64(buf, "VmHWM:");
		out->rss_anon_kib = status_u64(buf, "RssAnon:");
		/* "\nvoluntary": not the "nonvoluntary_ctxt_switches:" line */
		out->vcsw = status_u64(buf, "\nvoluntary_ctxt_switches:");
	}
	return 0;
}

int
bench_wait_port(const char *host, int port, int ms)
{
	struct sockaddr_in sa;
	int i, fd, ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	for (i = 0; i < ms / 50 + 1; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return 0;
		bench_sleep_ms(50);
	}
	return -1;
}

int
bench_free_port(const char *host)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}
