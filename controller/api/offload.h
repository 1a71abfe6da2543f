/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Long work off the controller's loop: one thread runs work(arg) (parsing or dumping a
 * large JSON document: seconds for tens of MB), then done(arg) runs on the loop. Jobs run
 * in order. Whatever work touches must not be touched by the loop until done.
 */
#ifndef XWHISK_OFFLOAD_H
#define XWHISK_OFFLOAD_H

#include "loop.h"

typedef void (*offload_fn)(void *arg);
struct offload;

struct offload *offload_new(struct loop *loop);
/* Waits for the jobs queued, runs their done on the caller (the loop's thread), stops. */
void offload_free(struct offload *o);
/* 0, or -errno when it cannot queue (o NULL too): the caller does the work itself. */
int offload_run(struct offload *o, offload_fn work, offload_fn done, void *arg);

#endif
