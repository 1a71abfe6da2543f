// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "mailbox.h"

struct letter {
	mailbox_fn fn;
	void *arg;
	struct letter *next;
};

struct mailbox {
	struct loop *loop;
	pthread_mutex_t lock;
	struct letter *head, *tail;
	bool woken; /* a wake is pending: later posts need not wake again */
};

static void mailbox_drain(struct loop *loop, void *data)
{
	struct mailbox *mb = data;
	struct letter *l;

	pthread_mutex_lock(&mb->lock);
	l = mb->head;
	mb->head = mb->tail = NULL;
	mb->woken = false;
	pthread_mutex_unlock(&mb->lock);
	while (l) {
		struct letter *next = l->next;

		l->fn(l->arg);
		free(l);
		l = next;
	}
}

struct mailbox *mailbox_new(struct loop *loop)
{
	struct mailbox *mb = calloc(1, sizeof(*mb));

	if (!mb)
		return NULL;
	mb->loop = loop;
	pthread_mutex_init(&mb->lock, NULL);
	if (loop_set_waker(loop, mailbox_drain, mb)) {
		free(mb);
		return NULL;
	}
	return mb;
}

void mailbox_free(struct mailbox *mb)
{
	if (!mb)
		return;
	while (mb->head) {
		struct letter *l = mb->head;

		mb->head = l->next;
		free(l);
	}
	pthread_mutex_destroy(&mb->lock);
	free(mb);
}

int mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg)
{
	struct letter *l = malloc(sizeof(*l));
	bool wake;

	if (!l)
		return -ENOMEM;
	l->fn = fn;
	l->arg = arg;
	l->next = NULL;
	pthread_mutex_lock(&mb->lock);
	if (mb->tail)
		mb->tail->next = l;
	else
		mb->head = l;
	mb->tail = l;
	wake = !mb->woken;
	mb->woken = true;
	pthread_mutex_unlock(&mb->lock);
	if (wake)
		loop_wake(mb->loop);
	return 0;
}
