// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

static const char *const ctrl_names[CG_NCTRL] = { "memory", "cpu", "pids" };

/* Writes a short string to dir/file. */
static int cg_write(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

static bool has_token(const char *list, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && !strncmp(p, token, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/*
 * From /proc/self/mountinfo: where the hierarchy holding ctrl (v1) or the unified
 * hierarchy (ctrl NULL) is mounted, and the cgroup path that mount shows as its root.
 */
static int find_mount(const char *ctrl, char *mnt, size_t mntlen, char *root, size_t rootlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char mroot[PATH_MAX], mpoint[PATH_MAX], fstype[64], super[512];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, mpoint) != 2 ||
		    sscanf(dash + 3, "%63s %*s %511s", fstype, super) != 2)
			continue;
		if (ctrl ? strcmp(fstype, "cgroup") || !has_token(super, ctrl) :
			   strcmp(fstype, "cgroup2"))
			continue;
		snprintf(mnt, mntlen, "%s", mpoint);
		snprintf(root, rootlen, "%s", mroot);
		err = 0;
		break;
	}
	free(line);
	fclose(f);
	return err;
}

/* Our own cgroup path in the hierarchy holding ctrl (v1) or the unified one (ctrl NULL). */
static int own_path(const char *ctrl, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (ctrl ? !has_token(c1 + 1, ctrl) : c1[1] != '\0')
			continue;
		snprintf(out, len, "%s", c2 + 1);
		err = 0;
		break;
	}
	free(line);
	fclose(f);
	return err;
}

/* mount point + (own path relative to the mount's root) or just the mount point. */
static int parent_dir(const char *ctrl, const char *parent, char *out, size_t len)
{
	char mnt[PATH_MAX], root[PATH_MAX], own[PATH_MAX];
	const char *rel = "";
	int err;

	err = find_mount(ctrl, mnt, sizeof(mnt), root, sizeof(root));
	if (err)
		return err;
	if (parent[0] != '/') {
		size_t rlen = strcmp(root, "/") ? strlen(root) : 0;

		err = own_path(ctrl, own, sizeof(own));
		if (err)
			return err;
		if (strncmp(own, root, rlen))
			return -EXDEV; /* our cgroup is outside what this mount shows */
		rel = own + rlen;
	}
	if ((size_t)snprintf(out, len, "%s%s/%s", mnt, strcmp(rel, "/") ? rel : "",
			     parent[0] == '/' ? parent + 1 : parent) >= len)
		return -ENAMETOOLONG;
	return mkdir_p(out, 0755);
}

/* v2: every level from the mount point down to dir delegates memory, cpu and pids. */
static int v2_enable(const char *mnt, const char *dir)
{
	char path[PATH_MAX];
	int err = 0;

	snprintf(path, sizeof(path), "%s", dir);
	for (size_t i = strlen(mnt);; i++) {
		char saved = path[i];

		if (saved != '/' && saved != '\0')
			continue;
		path[i] = '\0';
		for (int c = 0; c < CG_NCTRL; c++) {
			char cmd[16];

			snprintf(cmd, sizeof(cmd), "+%s", ctrl_names[c]);
			/* Only memory is essential; cpu and pids are best effort. */
			if (cg_write(path, "cgroup.subtree_control", cmd) && c == CG_MEMORY)
				err = -EBUSY;
		}
		path[i] = saved;
		if (!saved)
			break;
	}
	return err;
}

int cgroup_tree_init(struct cgroup_tree *tree, const char *parent)
{
	char mnt[PATH_MAX], root[PATH_MAX];
	int err;

	memset(tree, 0, sizeof(*tree));
	if (!parent || !*parent)
		parent = "xwhisk";
	/* A v1 memory hierarchy wins: on hybrid systems it is where the limits work. */
	if (!find_mount("memory", mnt, sizeof(mnt), root, sizeof(root))) {
		tree->version = 1;
		for (int c = 0; c < CG_NCTRL; c++) {
			err = parent_dir(ctrl_names[c], parent, tree->parent[c],
					 sizeof(tree->parent[c]));
			if (err) {
				tree->parent[c][0] = '\0';
				if (c == CG_MEMORY)
					return err;
			}
		}
		return 0;
	}
	err = find_mount(NULL, mnt, sizeof(mnt), root, sizeof(root));
	if (err)
		return -ENOTSUP;
	tree->version = 2;
	err = parent_dir(NULL, parent, tree->parent[0], sizeof(tree->parent[0]));
	if (err)
		return err;
	return v2_enable(mnt, tree->parent[0]);
}

void cgroup_from_name(const struct cgroup_tree *tree, const char *name, struct cgroup *cg)
{
	memset(cg, 0, sizeof(*cg));
	cg->version = tree->version;
	for (int c = 0; c < CG_NCTRL; c++)
		if (tree->parent[c][0])
			snprintf(cg->dir[c], sizeof(cg->dir[c]), "%s/%s", tree->parent[c], name);
}

int cgroup_create(const struct cgroup_tree *tree, const char *name, struct cgroup *cg)
{
	cgroup_from_name(tree, name, cg);
	for (int c = 0; c < CG_NCTRL; c++) {
		if (!cg->dir[c][0])
			continue;
		if (mkdir(cg->dir[c], 0755) < 0 && errno != EEXIST) {
			int err = -errno;

			(void)cgroup_destroy(cg);
			return err;
		}
	}
	return 0;
}

int cgroup_set_limits(const struct cgroup *cg, unsigned memory_mb, unsigned pids_max)
{
	unsigned long long bytes = (unsigned long long)memory_mb << 20;
	char val[32];
	int err;

	if (cg->version == 2) {
		const char *d = cg->dir[0];

		snprintf(val, sizeof(val), "%llu", bytes);
		err = cg_write(d, "memory.max", val);
		if (err)
			return err;
		(void)cg_write(d, "memory.swap.max", "0");
		/* 256 MB gets the default weight of 100, like OpenWhisk's memory-based shares. */
		snprintf(val, sizeof(val), "%u", memory_mb * 100 / 256 ? memory_mb * 100 / 256 : 1);
		(void)cg_write(d, "cpu.weight", val);
		snprintf(val, sizeof(val), "%u", pids_max);
		(void)cg_write(d, "pids.max", val);
		return 0;
	}
	snprintf(val, sizeof(val), "%llu", bytes);
	/* memsw must stay >= the limit: when raising, move memsw first. */
	err = cg_write(cg->dir[CG_MEMORY], "memory.limit_in_bytes", val);
	if (err == -EINVAL) {
		(void)cg_write(cg->dir[CG_MEMORY], "memory.memsw.limit_in_bytes", val);
		err = cg_write(cg->dir[CG_MEMORY], "memory.limit_in_bytes", val);
	}
	if (err)
		return err;
	(void)cg_write(cg->dir[CG_MEMORY], "memory.memsw.limit_in_bytes", val);
	/*
	 * v1 charges a socket's buffers to its cgroup only in a cgroup with a TCP limit (v2
	 * always does). Without one, what a sandbox's sockets hold (32 MB of receive buffer
	 * each, launch.c) is the host's. The kernel logs once that the file is deprecated.
	 */
	(void)cg_write(cg->dir[CG_MEMORY], "memory.kmem.tcp.limit_in_bytes", val);
	if (cg->dir[CG_CPU][0]) {
		unsigned shares = memory_mb * 1024 / 256;

		snprintf(val, sizeof(val), "%u", shares < 2 ? 2 : shares);
		(void)cg_write(cg->dir[CG_CPU], "cpu.shares", val);
	}
	if (cg->dir[CG_PIDS][0]) {
		snprintf(val, sizeof(val), "%u", pids_max);
		(void)cg_write(cg->dir[CG_PIDS], "pids.max", val);
	}
	return 0;
}

int cgroup_open_join(const struct cgroup *cg, int fds[CG_NCTRL])
{
	char path[PATH_MAX + 32];
	int n = 0;

	for (int c = 0; c < CG_NCTRL; c++) {
		int fd;

		if (!cg->dir[c][0])
			continue;
		if (cg->version == 2) {
			fd = open(cg->dir[c], O_PATH | O_DIRECTORY | O_CLOEXEC);
		} else {
			snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dir[c]);
			fd = open(path, O_WRONLY | O_CLOEXEC);
		}
		if (fd < 0) {
			int err = -errno;

			while (n)
				close(fds[--n]);
			return err;
		}
		fds[n++] = fd;
	}
	return n;
}

int cgroup_open_oom(const struct cgroup *cg)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cg->dir[CG_MEMORY],
		 cg->version == 2 ? "memory.events" : "memory.oom_control");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The counter named key ("oom_kill ", "oom ") in the file, -ENOENT when it has none. */
static long oom_counter(int fd, const char *key)
{
	char buf[512];
	const char *p;
	size_t klen = strlen(key);
	ssize_t n;

	if (fd < 0)
		return -EBADF;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen))
			return strtol(p + klen, NULL, 10);
	return -ENOENT;
}

long cgroup_oom_kills(int fd)
{
	long n = oom_counter(fd, "oom_kill ");

	return n == -ENOENT ? 0 : n;
}

bool cgroup_oom_was_host(int fd)
{
	/* v2 only: "oom" counts the times the group reached its own limit; v1 cannot tell. */
	return cgroup_oom_kills(fd) > 0 && oom_counter(fd, "oom ") == 0;
}

static void for_each_proc(const char *dir, void (*fn)(pid_t pid, void *data), void *data)
{
	char path[PATH_MAX + 32];
	FILE *f;
	long pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%ld", &pid) == 1)
		fn((pid_t)pid, data);
	fclose(f);
}

static void kill_one(pid_t pid, void *data)
{
	(void)data;
	(void)kill(pid, SIGKILL);
}

void cgroup_kill_all(const struct cgroup *cg)
{
	if (cg->version == 2 && !cg_write(cg->dir[0], "cgroup.kill", "1"))
		return;
	for (int c = 0; c < CG_NCTRL; c++)
		if (cg->dir[c][0])
			for_each_proc(cg->dir[c], kill_one, NULL);
}

/* rmdir of each non-empty path; the first error, gone ones not counted. */
static int remove_dirs(const char (*dirs)[PATH_MAX])
{
	int err = 0;

	for (int c = 0; c < CG_NCTRL; c++) {
		if (!dirs[c][0])
			continue;
		if (rmdir(dirs[c]) < 0 && errno != ENOENT && !err)
			err = -errno;
	}
	return err;
}

int cgroup_destroy(const struct cgroup *cg)
{
	return remove_dirs(cg->dir);
}

int cgroup_tree_remove(const struct cgroup_tree *tree)
{
	return remove_dirs(tree->parent);
}

void cgroup_tree_list(const struct cgroup_tree *tree, void (*cb)(const char *name, void *data),
		      void *data)
{
	DIR *d = opendir(tree->parent[0]);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		cb(de->d_name, data);
	}
	closedir(d);
}
