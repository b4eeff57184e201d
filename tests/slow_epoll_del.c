/*
 * slow_epoll_del.so - an LD_PRELOAD shim for tests/kms_stop_watch.sh: the
 * process's main thread waits 300 ms before each epoll_ctl(EPOLL_CTL_DEL).
 *
 * mqe2e-kmsd stops on its main thread (kms_httpd_stop).  With
 * libmicrohttpd's epoll loop, MHD_quiesce_daemon reads that the listening
 * socket is in a worker's epoll set and then removes it; a worker woken
 * in between removes it too, and whichever comes second aborts the process
 * ("Failed to remove listen FD from epoll set").  On an idle machine the
 * window is a few instructions wide; this shim holds it open for 300 ms so
 * that a daemon which quiesces an epoll loop fails every time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);

int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	static int (*real_ctl)(int, int, int, struct epoll_event *);

	if (real_ctl == NULL)
		*(void **)&real_ctl = dlsym(RTLD_NEXT, "epoll_ctl");
	if (real_ctl == NULL)
		return -1;
	if (op == EPOLL_CTL_DEL && (pid_t)syscall(SYS_gettid) == getpid()) {
		struct timespec ts = { 0, 300 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	return real_ctl(epfd, op, fd, ev);
}
