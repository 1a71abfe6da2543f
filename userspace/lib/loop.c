// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define LOOP_MAX_EVENTS 256

struct loop_handler {
	loop_fd_cb cb;
	void *data;
	uint32_t gen; /* guards against an fd reused within one batch of events */
	uint32_t events;
};

struct loop_timer {
	uint64_t when;
	uint64_t seq; /* ties broken in insertion order */
	size_t idx;
	loop_cb cb;
	void *data;
};

struct loop {
	int epfd;
	int stop;
	uint64_t now;
	uint64_t timer_seq;
	struct loop_handler *handlers;
	int nhandlers;
	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	struct loop_deferred *deferred, *deferred_tail;
	loop_cb before_sleep;
	void *before_sleep_data;
	int sigfd;
	void (*sig_cb)(struct loop *loop, int signo, void *data);
	void *sig_data;
	int wakefd;
	loop_cb wake_cb;
	void *wake_data;
};

uint64_t clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t clock_mono_ms(void)
{
	return clock_mono_us() / 1000;
}

uint64_t clock_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->sigfd = -1;
	loop->wakefd = -1;
	loop->now = clock_mono_ms();
	return loop;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	for (size_t i = 0; i < loop->heap_len; i++)
		free(loop->heap[i]);
	free(loop->heap);
	free(loop->handlers);
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	close(loop->epfd);
	free(loop);
}

static int loop_grow_handlers(struct loop *loop, int fd)
{
	struct loop_handler *h;
	int n;

	if (fd < loop->nhandlers)
		return 0;
	n = loop->nhandlers ? loop->nhandlers : 64;
	while (n <= fd)
		n *= 2;
	h = realloc(loop->handlers, (size_t)n * sizeof(*h));
	if (!h)
		return -ENOMEM;
	memset(h + loop->nhandlers, 0, (size_t)(n - loop->nhandlers) * sizeof(*h));
	loop->handlers = h;
	loop->nhandlers = n;
	return 0;
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *data)
{
	struct epoll_event ev = { 0 };
	struct loop_handler *h;
	int err;

	if (fd < 0)
		return -EBADF;
	err = loop_grow_handlers(loop, fd);
	if (err)
		return err;
	h = &loop->handlers[fd];
	h->gen++;
	ev.events = events;
	ev.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)h->gen << 32);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	h->cb = cb;
	h->data = data;
	h->events = events;
	return 0;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { 0 };
	struct loop_handler *h;

	if (fd < 0 || fd >= loop->nhandlers || !loop->handlers[fd].cb)
		return -ENOENT;
	h = &loop->handlers[fd];
	if (h->events == events)
		return 0;
	ev.events = events;
	ev.data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)h->gen << 32);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	h->events = events;
	return 0;
}

void loop_del_fd(struct loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nhandlers || !loop->handlers[fd].cb)
		return;
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->handlers[fd].cb = NULL;
	loop->handlers[fd].data = NULL;
	loop->handlers[fd].gen++;
}

static int timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(struct loop *loop, size_t i, struct loop_timer *t)
{
	loop->heap[i] = t;
	t->idx = i;
}

static void heap_up(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len && timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct loop *loop, struct loop_timer *t)
{
	size_t i = t->idx;
	struct loop_timer *last = loop->heap[--loop->heap_len];

	if (last == t)
		return;
	heap_set(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->idx);
}

struct loop_timer *loop_timer_add(struct loop *loop, uint64_t after_ms, loop_cb cb, void *data)
{
	struct loop_timer *t;

	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct loop_timer **heap = realloc(loop->heap, cap * sizeof(*heap));

		if (!heap)
			return NULL;
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	t = zalloc(sizeof(*t));
	if (!t)
		return NULL;
	t->when = clock_mono_ms() + after_ms;
	t->seq = loop->timer_seq++;
	t->cb = cb;
	t->data = data;
	loop->heap[loop->heap_len++] = t;
	heap_up(loop, loop->heap_len - 1);
	return t;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *timer)
{
	if (!timer)
		return;
	heap_remove(loop, timer);
	free(timer);
}

void loop_defer(struct loop *loop, struct loop_deferred *d, loop_cb cb, void *data)
{
	if (d->queued)
		return;
	d->cb = cb;
	d->data = data;
	d->next = NULL;
	d->queued = 1;
	if (loop->deferred_tail)
		loop->deferred_tail->next = d;
	else
		loop->deferred = d;
	loop->deferred_tail = d;
}

void loop_defer_cancel(struct loop *loop, struct loop_deferred *d)
{
	struct loop_deferred **pp = &loop->deferred, *prev = NULL;

	if (!d->queued)
		return;
	while (*pp != d) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = d->next;
	if (loop->deferred_tail == d)
		loop->deferred_tail = prev;
	d->queued = 0;
}

/* In order; what they defer in turn runs in the same pass. */
static void loop_run_deferred(struct loop *loop)
{
	struct loop_deferred *d;

	while ((d = loop->deferred)) {
		loop->deferred = d->next;
		if (!loop->deferred)
			loop->deferred_tail = NULL;
		d->queued = 0;
		d->cb(loop, d->data);
	}
}

void loop_set_before_sleep(struct loop *loop, loop_cb cb, void *data)
{
	loop->before_sleep = cb;
	loop->before_sleep_data = data;
}

static void loop_on_signal(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)data;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (loop->sig_cb)
			loop->sig_cb(loop, (int)si.ssi_signo, loop->sig_data);
}

int loop_add_signals(struct loop *loop, const int *signals, int n,
		     void (*cb)(struct loop *loop, int signo, void *data), void *data)
{
	sigset_t set;
	int err;

	sigemptyset(&set);
	for (int i = 0; i < n; i++)
		sigaddset(&set, signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	loop->sigfd = signalfd(loop->sigfd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (loop->sigfd < 0)
		return -errno;
	loop->sig_cb = cb;
	loop->sig_data = data;
	err = loop_add_fd(loop, loop->sigfd, EPOLLIN, loop_on_signal, NULL);
	return err == -EEXIST ? 0 : err;
}

static void loop_on_wake(struct loop *loop, int fd, uint32_t events, void *data)
{
	uint64_t v;

	(void)events;
	(void)data;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("loop: eventfd read: %s", strerror(errno));
	if (loop->wake_cb)
		loop->wake_cb(loop, loop->wake_data);
}

int loop_set_waker(struct loop *loop, loop_cb cb, void *data)
{
	if (loop->wakefd < 0) {
		loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (loop->wakefd < 0)
			return -errno;
		if (loop_add_fd(loop, loop->wakefd, EPOLLIN, loop_on_wake, NULL) < 0)
			return -errno;
	}
	loop->wake_cb = cb;
	loop->wake_data = data;
	return 0;
}

void loop_wake(struct loop *loop)
{
	uint64_t one = 1;

	if (loop->wakefd >= 0 && write(loop->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("loop: eventfd write: %s", strerror(errno));
}

static void loop_run_timers(struct loop *loop)
{
	while (loop->heap_len && loop->heap[0]->when <= loop->now) {
		struct loop_timer *t = loop->heap[0];

		heap_remove(loop, t);
		t->cb(loop, t->data);
		free(t);
	}
}

int loop_run(struct loop *loop)
{
	struct epoll_event events[LOOP_MAX_EVENTS];

	loop->stop = 0;
	while (!loop->stop) {
		int timeout = -1, n;

		if (loop->before_sleep)
			loop->before_sleep(loop, loop->before_sleep_data);
		if (loop->stop)
			break;
		if (loop->deferred) {
			timeout = 0;
		} else if (loop->heap_len) {
			uint64_t now = clock_mono_ms(), when = loop->heap[0]->when;

			timeout = when <= now ? 0 : (int)(when - now);
		}
		n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		loop->now = clock_mono_ms();
		for (int i = 0; i < n; i++) {
			int fd = (int)(uint32_t)events[i].data.u64;
			uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
			struct loop_handler *h;

			if (fd >= loop->nhandlers)
				continue;
			h = &loop->handlers[fd];
			if (!h->cb || h->gen != gen)
				continue;
			h->cb(loop, fd, events[i].events, h->data);
		}
		loop_run_timers(loop);
		loop_run_deferred(loop);
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	loop->stop = 1;
}

uint64_t loop_now_ms(struct loop *loop)
{
	return loop->now;
}
