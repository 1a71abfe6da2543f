// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "persist.h"
#include "util.h"

int state_write(const char *dir, const struct sandbox_state *st)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	json_t *o = json_object(), *cgs = json_array();
	char *text = NULL;
	int fd = -1, err = -ENOMEM;
	size_t len;

	if (!o || !cgs)
		goto out;
	for (int c = 0; c < CG_NCTRL; c++)
		json_array_append_new(cgs, json_string(st->cgroup.dir[c]));
	json_object_set_new(o, "id", json_string(st->id));
	json_object_set_new(o, "kind", json_string(st->kind));
	json_object_set_new(o, "memory", json_integer(st->memory_mb));
	json_object_set_new(o, "pid", json_integer(st->pid));
	json_object_set_new(o, "startTime", json_integer((json_int_t)st->start_time));
	json_object_set_new(o, "ip", json_string(st->ip));
	json_object_set_new(o, "veth", json_string(st->veth));
	json_object_set_new(o, "cgroupVersion", json_integer(st->cgroup.version));
	json_object_set_new(o, "cgroups", cgs);
	cgs = NULL;
	json_object_set_new(o, "label", st->label ? json_string(st->label) : json_null());
	json_object_set_new(o, "pooled", json_boolean(st->pooled));
	json_object_set_new(o, "created", json_integer((json_int_t)st->created_ms));
	text = json_dump(o);
	if (!text)
		goto out;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	snprintf(tmp, sizeof(tmp), "%s/.state.json.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len) {
		err = errno ? -errno : -EIO;
		goto out;
	}
	err = rename(tmp, path) ? -errno : 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(cgs);
	json_decref(o);
	return err;
}

int state_read(const char *dir, struct sandbox_state *st)
{
	char path[PATH_MAX], errbuf[128];
	json_t *o, *cgs, *v;
	size_t len, i;
	char *text;
	const char *s;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	text = file_read_all(path, &len);
	if (!text)
		return -errno;
	o = json_parse(text, len, errbuf, sizeof(errbuf));
	free(text);
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	snprintf(st->id, sizeof(st->id), "%s", (s = json_obj_str(o, "id")) ? s : "");
	snprintf(st->kind, sizeof(st->kind), "%s", (s = json_obj_str(o, "kind")) ? s : "");
	snprintf(st->ip, sizeof(st->ip), "%s", (s = json_obj_str(o, "ip")) ? s : "");
	snprintf(st->veth, sizeof(st->veth), "%s", (s = json_obj_str(o, "veth")) ? s : "");
	st->memory_mb = (unsigned)json_integer_value(json_object_get(o, "memory"));
	st->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	st->start_time = (uint64_t)json_integer_value(json_object_get(o, "startTime"));
	st->created_ms = (uint64_t)json_integer_value(json_object_get(o, "created"));
	st->cgroup.version = (int)json_integer_value(json_object_get(o, "cgroupVersion"));
	st->pooled = json_is_true(json_object_get(o, "pooled"));
	cgs = json_object_get(o, "cgroups");
	json_array_foreach(cgs, i, v)
		if (i < CG_NCTRL && json_is_string(v))
			snprintf(st->cgroup.dir[i], sizeof(st->cgroup.dir[i]), "%s",
				 json_string_value(v));
	if ((s = json_obj_str(o, "label")))
		st->label = strdup(s);
	json_decref(o);
	return st->id[0] && st->kind[0] ? 0 : -EINVAL;
}

uint64_t proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* Field 3 is the state; the start time is field 22, i.e. the 20th after ')'. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
			  "%*d %llu",
		   &start) != 1)
		return 0;
	return start;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) && errno != ENOENT ? -1 : 0;
}

int remove_tree(const char *path)
{
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		return -errno;
	return 0;
}
