// SPDX-License-Identifier: Apache-2.0
/*
 * Starting one sandbox: its directory, address, cgroup and pipes, the spawn (launch.c),
 * then watching it until it is ready (ready.c) or has failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "sandbox_internal.h"
#include "util.h"

/* What sb_start() opens and makes along the way; closed whatever happens. */
struct start_fds {
	int status[2], lin[2], lout[2];
	int cap_out[2], cap_err[2]; /* a zygote-made loop's stdout and stderr, to the proxy */
	int out_rd, out_wr, err_rd, err_wr;
	int join[CG_NCTRL], njoin;
	struct rtnl hostnl;
	char **env;
	int gate; /* the child's end of the network policy's gate */
};

void sb_ready(struct sandbox *sb)
{
	struct kind_pool *kp = sb->kp;
	struct sandbox_manager *m = sb->m;
	struct sandbox_request *req;

	if (sb->phase != SB_STARTING)
		return;
	sb->phase = SB_READY;
	cancel_timer(m, &sb->start_timer);
	cancel_timer(m, &sb->probe_timer);
	unwatch_fd(m, &sb->probe_fd);
	kp->nstarting--;
	m->nstarting--;
	kp->failures = 0;
	m->stats.started++;
	if (!sb->net_filtered)
		m->stats.net_unfiltered++;
	/*
	 * Recorded only now (request_assign() records it too): a restarted node must not hand
	 * out a sandbox that was still starting. One found without a record is killed and
	 * cleaned up by its id.
	 */
	req = request_dequeue(kp, NULL);
	if (req) {
		request_assign(sb, req);
	} else if (m->draining) {
		sb_kill(sb);
	} else {
		sb_save_state(sb);
		kind_pool_push(sb);
	}
	manager_schedule(m);
}

void sb_fail(struct sandbox *sb, int err)
{
	struct kind_pool *kp = sb->kp;

	if (sb->phase != SB_STARTING)
		return;
	if (sb->child_step)
		pr_warn("sandbox %s (%s): setup failed at %s: %s", sb->st.id, kp->rt->kind,
			spawn_step_name(sb->child_step), strerror(sb->child_errno));
	else
		pr_warn("sandbox %s (%s): did not start: %s", sb->st.id, kp->rt->kind,
			strerror(-err));
	kind_start_failed(kp, err);
	sb_kill(sb);
}

static void on_start_timeout(struct loop *loop, void *data)
{
	struct sandbox *sb = data;

	(void)loop;
	sb->start_timer = NULL;
	sb_fail(sb, -ETIMEDOUT);
}

/* The sandbox environment: the kind's base plus the fds the command finds. */
static char **build_env(struct sandbox_manager *m, struct kind_pool *kp, bool loop_fds)
{
	size_t n = 0, extra = 0;
	char **env;

	while (kp->rt->env[extra])
		extra++;
	env = calloc(extra + 10, sizeof(*env));
	if (!env)
		return NULL;
	env[n++] = strdup("PATH=" SANDBOX_PATH);
	env[n++] = strdup("HOME=/tmp");
	env[n++] = strdup("LANG=C.UTF-8");
	if (m->api_host && asprintf(&env[n++], "__OW_API_HOST=%s", m->api_host) < 0)
		env[n - 1] = NULL;
	if (kp->rt->notify)
		env[n++] = strdup("XWHISK_READY_FD=3");
	if (loop_fds)
		env[n++] = strdup("XWHISK_LOOP_FDS=4,5,7,8");
	env[n++] = strdup("XWHISK_OOM_FD=6");
	for (size_t i = 0; i < extra; i++)
		env[n++] = strdup(kp->rt->env[i]);
	for (size_t i = 0; i < n; i++) {
		if (!env[i]) {
			for (size_t j = 0; j < n; j++)
				free(env[j]);
			free(env);
			return NULL;
		}
	}
	return env;
}

/* A pipe whose write end is a read-write open of it: its holder never gets EPIPE. */
static int log_pipe(int *rd, int *wr)
{
	char path[64];
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
	*wr = open(path, O_RDWR | O_CLOEXEC);
	close(p[1]);
	if (*wr < 0) {
		int err = -errno;

		close(p[0]);
		return err;
	}
	(void)fcntl(p[0], F_SETPIPE_SZ, LOG_PIPE_SIZE);
	*rd = p[0];
	return 0;
}

/* A fresh id whose state directory did not exist yet. */
static int start_claim_dir(struct sandbox *sb)
{
	for (int tries = 0;; tries++) {
		/* random_hex reseeds after a fork; mkdir() below refuses a live id anyway */
		random_hex(sb->st.id, SANDBOX_ID_LEN);
		snprintf(sb->dir, sizeof(sb->dir), "%s/%s", sb->m->state_dir, sb->st.id);
		if (!mkdir(sb->dir, 0700))
			return 0;
		if (errno != EEXIST || tries > 8) {
			sb->dir[0] = '\0';
			return -errno;
		}
	}
}

/* The action directory, the address, the veth's name and the cgroup. */
static int start_resources(struct sandbox *sb, struct start_fds *f)
{
	struct sandbox_manager *m = sb->m;
	struct in_addr ia;
	int err;

	snprintf(sb->st.kind, sizeof(sb->st.kind), "%s", sb->kp->rt->kind);
	sb->st.memory_mb = sb->kp->rt->memory_mb;
	sb->st.pooled = true;
	sb->ip = ipam_alloc(&m->ipam);
	if (!sb->ip)
		return -ENOSPC;
	ia.s_addr = sb->ip;
	inet_ntop(AF_INET, &ia, sb->st.ip, sizeof(sb->st.ip));
	snprintf(sb->st.veth, sizeof(sb->st.veth), "xw%s", sb->st.id);
	err = cgroup_create(&m->cgtree, sb->st.id, &sb->st.cgroup);
	if (!err)
		err = cgroup_set_limits(&sb->st.cgroup, sb->st.memory_mb, m->pids_max);
	if (err)
		return err;
	f->njoin = cgroup_open_join(&sb->st.cgroup, f->join);
	if (f->njoin < 0) {
		err = f->njoin;
		f->njoin = 0;
		return err;
	}
	sb->oom_fd = cgroup_open_oom(&sb->st.cgroup);
	return 0;
}

/* The status and log pipes, the language loop's pipes, the host netlink socket, env. */
static int start_pipes(struct sandbox *sb, struct start_fds *f)
{
	struct kind_pool *kp = sb->kp;
	int err, gate_peer;

	if (pipe2(f->status, O_CLOEXEC) < 0)
		return -errno;
	(void)fcntl(f->status[0], F_SETFL, O_NONBLOCK);
	err = log_pipe(&f->out_rd, &f->out_wr);
	if (!err)
		err = log_pipe(&f->err_rd, &f->err_wr);
	if (err)
		return err;
	sb->use_zygote = zygote_ready(kp->zygote);
	/* The loop's output goes to the proxy, which answers its logs in band. */
	if (sb->use_zygote && (pipe2(f->lin, O_CLOEXEC) < 0 || pipe2(f->lout, O_CLOEXEC) < 0 ||
			       pipe2(f->cap_out, O_CLOEXEC) < 0 || pipe2(f->cap_err, O_CLOEXEC) < 0))
		return -errno;
	err = rtnl_open(&f->hostnl);
	if (!err)
		err = sb_net_gate_open(sb, &f->gate, &gate_peer);
	if (err)
		return err;
	f->env = build_env(sb->m, kp, sb->use_zygote);
	return f->env ? 0 : -ENOMEM;
}

static void start_plan(struct sandbox *sb, const struct start_fds *f, struct spawn_plan *plan)
{
	struct sandbox_manager *m = sb->m;

	plan->rootfs = &m->rootfs;
	plan->seccomp = &m->filter.prog;
	plan->tmp_mb = sb->st.memory_mb;
	plan->hostname = "sandbox";
	plan->workdir = sb->kp->rt->workdir;
	plan->host_nl_fd = f->hostnl.fd;
	plan->veth_host = sb->st.veth;
	plan->bridge_ifindex = m->bridge_ifindex;
	plan->ip = sb->ip;
	plan->gw = ipam_gateway(&m->ipam);
	plan->prefix = m->ipam.prefix;
	plan->rps_mask = m->rps_mask;
	/*
	 * The address a function of the IP: addresses are reused, and the node's neighbour
	 * entry for one may outlive its previous holder. With a random MAC that entry would
	 * point to a dead sandbox and stall traffic to the new one for seconds.
	 */
	plan->net_gate_fd = f->gate;
	plan->net_gate_peer_fd = sb->net_gate_fd;
	plan->mac[0] = 0x02;
	plan->mac[1] = 0x78;
	memcpy(plan->mac + 2, &sb->ip, 4);
	plan->cgroup_version = m->cgtree.version;
	memcpy(plan->join_fds, f->join, sizeof(f->join));
	plan->njoin = f->njoin;
	plan->out_fd = f->out_wr;
	plan->err_fd = f->err_wr;
	plan->status_fd = f->status[1];
	plan->notify = sb->kp->rt->notify;
	plan->loop_in_fd = sb->use_zygote ? f->lin[1] : -1;
	plan->loop_out_fd = sb->use_zygote ? f->lout[0] : -1;
	plan->loop_log_fds[0] = sb->use_zygote ? f->cap_out[0] : -1;
	plan->loop_log_fds[1] = sb->use_zygote ? f->cap_err[0] : -1;
	plan->oom_fd = sb->oom_fd;
	plan->uid = m->uid;
	plan->gid = m->gid;
	plan->cap_last = m->cap_last;
	plan->argv = sb->kp->rt->command;
	plan->envp = f->env;
}

/* After the spawn: the fds the zygote gets later, and the watches on the loop. */
static int start_watch(struct sandbox *sb, struct start_fds *f)
{
	struct sandbox_manager *m = sb->m;
	int err;

	sb->st.pid = sb->pid;
	sb->st.start_time = proc_start_time(sb->pid);
	sb->st.created_ms = clock_real_ms();
	if (sb->use_zygote) {
		/* The loop's ends and the log writers go to the zygote once setup is done. */
		sb->zfds[1] = f->lin[0], f->lin[0] = -1;
		sb->zfds[2] = f->lout[1], f->lout[1] = -1;
		sb->zfds[3] = f->cap_out[1], f->cap_out[1] = -1;
		sb->zfds[4] = f->cap_err[1], f->cap_err[1] = -1;
	}
	sb->status_fd = f->status[0];
	f->status[0] = -1;
	err = loop_add_fd(m->loop, sb->pidfd, EPOLLIN, sb_on_death, sb);
	if (!err)
		err = loop_add_fd(m->loop, sb->status_fd, EPOLLIN, sb_on_status, sb);
	if (!err)
		err = sb_watch_logs(sb, f->out_rd, f->err_rd);
	f->out_rd = f->err_rd = -1;
	if (err)
		return err;
	sb->start_timer = loop_timer_add(m->loop, m->start_timeout_ms, on_start_timeout, sb);
	return sb->start_timer ? 0 : -ENOMEM;
}

static void start_fds_close(struct start_fds *f)
{
	for (int i = 0; i < f->njoin; i++)
		close(f->join[i]);
	close_fd(&f->status[0]);
	close_fd(&f->status[1]);
	close_fd(&f->out_rd);
	close_fd(&f->out_wr);
	close_fd(&f->err_rd);
	close_fd(&f->err_wr);
	for (int i = 0; i < 2; i++) {
		close_fd(&f->lin[i]);
		close_fd(&f->lout[i]);
		close_fd(&f->cap_out[i]);
		close_fd(&f->cap_err[i]);
	}
	rtnl_close(&f->hostnl);
	strv_free(f->env);
	close_fd(&f->gate);
}

int sb_start(struct kind_pool *kp)
{
	struct sandbox_manager *m = kp->m;
	struct start_fds f = {
		.status = { -1, -1 }, .lin = { -1, -1 }, .lout = { -1, -1 },
		.cap_out = { -1, -1 }, .cap_err = { -1, -1 },
		.out_rd = -1, .out_wr = -1, .err_rd = -1, .err_wr = -1,
		.hostnl = { .fd = -1 }, .gate = -1,
	};
	struct spawn_plan plan = { 0 };
	struct sandbox *sb;
	int err;

	sb = sb_alloc(m, kp);
	if (!sb)
		return -ENOMEM;
	sb->phase = SB_STARTING;
	kp->nstarting++;
	m->nstarting++;
	err = start_claim_dir(sb);
	if (!err)
		err = start_resources(sb, &f);
	if (!err)
		err = start_pipes(sb, &f);
	if (!err) {
		start_plan(sb, &f, &plan);
		err = spawn_sandbox(&plan, &sb->pid, &sb->pidfd);
	}
	if (!err)
		err = start_watch(sb, &f);
	start_fds_close(&f);
	if (err) {
		pr_warn("sandbox (%s): cannot start one: %s", kp->rt->kind, strerror(-err));
		if (sb->pidfd >= 0) {
			sb->phase = SB_STARTING;
			sb_fail(sb, err);
		} else {
			kind_start_failed(kp, err);
			sb->phase = SB_DYING;
			sb_cleanup(sb);
		}
	}
	return err;
}
