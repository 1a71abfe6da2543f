// SPDX-License-Identifier: Apache-2.0
/*
 * One sandbox object: its allocation in the manager's list, its state record, its
 * output (delivered to the owner's log callback), the accessors and sandbox_destroy().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sandbox_internal.h"

struct sandbox *sb_alloc(struct sandbox_manager *m, struct kind_pool *kp)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return NULL;
	sb->m = m;
	sb->kp = kp;
	sb->pidfd = sb->status_fd = sb->probe_fd = sb->oom_fd = sb->net_gate_fd = -1;
	sb->out.fd = sb->err.fd = -1;
	for (int i = 0; i < ZYGOTE_NFDS; i++)
		sb->zfds[i] = -1;
	sb->next = m->all;
	if (m->all)
		m->all->prev = sb;
	m->all = sb;
	return sb;
}

void sb_unlink(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;

	if (sb->prev)
		sb->prev->next = sb->next;
	else
		m->all = sb->next;
	if (sb->next)
		sb->next->prev = sb->prev;
}

void sb_forget(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;

	cancel_timer(m, &sb->start_timer);
	cancel_timer(m, &sb->probe_timer);
	cancel_timer(m, &sb->cleanup_timer);
	unwatch_fd(m, &sb->probe_fd);
	unwatch_fd(m, &sb->pidfd);
	unwatch_fd(m, &sb->status_fd);
	logpipe_close(&sb->out);
	logpipe_close(&sb->err);
	close_fd(&sb->oom_fd);
	close_fd(&sb->net_gate_fd); /* a start waiting at it fails: the next manager cleans up */
	for (int i = 0; i < ZYGOTE_NFDS; i++)
		close_fd(&sb->zfds[i]);
	sb_unlink(sb);
	free(sb->st.label);
	free(sb);
}

void sb_save_state(struct sandbox *sb)
{
	int err = state_write(sb->dir, &sb->st);

	if (err)
		pr_warn("sandbox %s: cannot write its state: %s", sb->st.id, strerror(-err));
}

/* ---- output ---- */

static void on_log(void *owner, int stream, const char *line, size_t len, uint64_t ts,
		   bool sentinel)
{
	struct sandbox *sb = owner;
	struct sandbox_manager *m = sb->m;

	if (sb->owned && !sb->handing && !sb->unclaimed && sb->phase == SB_READY && m->cb.log)
		m->cb.log(sb, (enum sandbox_stream)stream, line, len, ts, sentinel, m->cb_data);
	else
		pr_debug("sandbox %s %s: %.*s", sb->st.id, stream == 1 ? "stdout" : "stderr",
			 (int)len, line);
}

int sb_watch_logs(struct sandbox *sb, int out_fd, int err_fd)
{
	int err;

	err = logpipe_open(&sb->out, sb->m->loop, out_fd, SANDBOX_STDOUT, on_log, sb);
	if (err) {
		close(err_fd);
		sb->err.fd = -1;
		return err;
	}
	return logpipe_open(&sb->err, sb->m->loop, err_fd, SANDBOX_STDERR, on_log, sb);
}

/* ---- the public sandbox ---- */

void sandbox_destroy(struct sandbox *sb)
{
	if (!sb || sb->in_exit_cb || sb->phase == SB_DYING)
		return;
	sb->owned = false;
	sb_kill(sb);
}

void sandbox_read_logs(struct sandbox *sb)
{
	logpipe_drain(&sb->out);
	logpipe_drain(&sb->err);
}

const char *sandbox_id(const struct sandbox *sb)
{
	return sb->st.id;
}

const char *sandbox_kind(const struct sandbox *sb)
{
	return sb->st.kind;
}

unsigned sandbox_memory_mb(const struct sandbox *sb)
{
	return sb->st.memory_mb;
}

const char *sandbox_ip(const struct sandbox *sb)
{
	return sb->st.ip;
}

int sandbox_port(const struct sandbox *sb)
{
	(void)sb;
	return SANDBOX_PORT;
}

pid_t sandbox_pid(const struct sandbox *sb)
{
	return sb->pid;
}

int sandbox_set_label(struct sandbox *sb, const char *label)
{
	char *copy = label ? strdup(label) : NULL;

	if (label && !copy)
		return -ENOMEM;
	free(sb->st.label);
	sb->st.label = copy;
	return state_write(sb->dir, &sb->st);
}

const char *sandbox_label(const struct sandbox *sb)
{
	return sb->st.label;
}

void sandbox_set_data(struct sandbox *sb, void *data)
{
	sb->data = data;
}

void *sandbox_data(const struct sandbox *sb)
{
	return sb->data;
}
