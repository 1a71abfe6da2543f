// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "log.h"
#include "offload.h"

struct job {
	offload_fn work, done;
	void *arg;
	struct job *next;
};

/* A FIFO of jobs. */
struct queue {
	struct job *head, *tail;
};

struct offload {
	struct loop *loop;
	pthread_t thread;
	bool thread_up, stopping;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct queue todo, finished; /* under lock */
	int efd;                     /* the thread tells the loop of finished jobs */
};

static void push(struct queue *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *pop(struct queue *q)
{
	struct job *j = q->head;

	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
	}
	return j;
}

static void *offload_main(void *data)
{
	struct offload *o = data;
	uint64_t one = 1;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		struct job *j = pop(&o->todo);

		if (!j) {
			if (o->stopping)
				break;
			pthread_cond_wait(&o->wake, &o->lock);
			continue;
		}
		pthread_mutex_unlock(&o->lock);
		j->work(j->arg);
		pthread_mutex_lock(&o->lock);
		push(&o->finished, j);
		if (write(o->efd, &one, sizeof(one)) < 0)
			pr_warn("offload: cannot wake the loop: %m");
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* On the loop: the done halves of finished jobs. */
static void run_finished(struct offload *o)
{
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&o->lock);
		j = pop(&o->finished);
		pthread_mutex_unlock(&o->lock);
		if (!j)
			return;
		j->done(j->arg);
		free(j);
	}
}

static void on_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	uint64_t n;

	(void)loop;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pr_warn("offload: %m");
	run_finished(data);
}

struct offload *offload_new(struct loop *loop)
{
	struct offload *o = calloc(1, sizeof(*o));
	sigset_t all, old;

	if (!o)
		return NULL;
	o->loop = loop;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->wake, NULL);
	o->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (o->efd < 0 || loop_add_fd(loop, o->efd, EPOLLIN, on_event, o))
		goto fail;
	/* (no signals on the thread: they are the loop's) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	o->thread_up = !pthread_create(&o->thread, NULL, offload_main, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (o->thread_up)
		return o;
fail:
	offload_free(o);
	return NULL;
}

void offload_free(struct offload *o)
{
	if (!o)
		return;
	if (o->thread_up) {
		pthread_mutex_lock(&o->lock);
		o->stopping = true;
		pthread_cond_signal(&o->wake);
		pthread_mutex_unlock(&o->lock);
		pthread_join(o->thread, NULL);
	}
	run_finished(o);
	if (o->efd >= 0) {
		loop_del_fd(o->loop, o->efd);
		close(o->efd);
	}
	pthread_cond_destroy(&o->wake);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

int offload_run(struct offload *o, offload_fn work, offload_fn done, void *arg)
{
	struct job *j;

	if (!o)
		return -ENOSYS;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&o->lock);
	push(&o->todo, j);
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	return 0;
}
