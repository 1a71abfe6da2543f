/* SPDX-License-Identifier: Apache-2.0 */
/* Runs closures on another thread's event loop: post from anywhere, run on the owner. */
#ifndef XWHISK_MAILBOX_H
#define XWHISK_MAILBOX_H

#include "loop.h"

struct mailbox;

typedef void (*mailbox_fn)(void *arg);

/* Takes over the loop's waker. */
struct mailbox *mailbox_new(struct loop *loop);
void mailbox_free(struct mailbox *mb);
/* Thread-safe; fn(arg) runs later on the mailbox's loop. -ENOMEM when it cannot queue. */
int mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg);

#endif
