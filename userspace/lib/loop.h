/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small event loop in the style of redis ae.c: fd-indexed handlers on epoll,
 * one-shot timers on a heap, a before-sleep hook for batched work. One loop
 * per thread; nothing here is thread-safe except loop_wake().
 */
#ifndef XWHISK_LOOP_H
#define XWHISK_LOOP_H

#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(struct loop *loop, int fd, uint32_t events, void *data);
typedef void (*loop_cb)(struct loop *loop, void *data);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* events are EPOLLIN/EPOLLOUT; EPOLLERR and EPOLLHUP are always reported. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *data);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
/* Removes the handler; events already fetched for fd are dropped. */
void loop_del_fd(struct loop *loop, int fd);

/* A one-shot timer. It is freed after it fires: the owner forgets it in its callback. */
struct loop_timer *loop_timer_add(struct loop *loop, uint64_t after_ms, loop_cb cb, void *data);
void loop_timer_cancel(struct loop *loop, struct loop_timer *timer);

/*
 * A callback for the end of this loop turn (after its events and timers, before the
 * before-sleep hook): "not on my caller's stack, but now", without a timer's allocation,
 * clock reading and possible extra epoll_wait. The owner embeds the struct; it is queued
 * at most once, and may be cancelled until it runs.
 */
struct loop_deferred {
	loop_cb cb;
	void *data;
	struct loop_deferred *next;
	int queued;
};
void loop_defer(struct loop *loop, struct loop_deferred *d, loop_cb cb, void *data);
void loop_defer_cancel(struct loop *loop, struct loop_deferred *d);

/* Runs before every epoll_wait: the place for batched writes. */
void loop_set_before_sleep(struct loop *loop, loop_cb cb, void *data);

/* Delivers the given signals through signalfd to cb (blocks them in the caller). */
int loop_add_signals(struct loop *loop, const int *signals, int n,
		     void (*cb)(struct loop *loop, int signo, void *data), void *data);

/* Wakes the loop from another thread; cb runs on the loop's thread. */
int loop_set_waker(struct loop *loop, loop_cb cb, void *data);
void loop_wake(struct loop *loop);

int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/* Monotonic milliseconds, refreshed each iteration. */
uint64_t loop_now_ms(struct loop *loop);
uint64_t clock_mono_ms(void);
uint64_t clock_mono_us(void);
uint64_t clock_real_ms(void);

#endif
