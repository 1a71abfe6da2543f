// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool is_inner(char c)
{
	return is_word(c) || c == '@' || c == ' ' || c == '.' || c == '&' || c == '-';
}

/* \A([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])\z */
const char *name_check(const char *name)
{
	size_t len = strlen(name);

	if (len > NAME_MAX_LEN) {
		static __thread char msg[96];

		snprintf(msg, sizeof(msg), "Name segement longer than allowed: %zu > %d.", len,
			 NAME_MAX_LEN);
		return msg;
	}
	if (!len || !is_word(name[0]))
		return "The name of the entity contains illegal characters.";
	for (size_t i = 1; i < len; i++)
		if (!is_inner(name[i]))
			return "The name of the entity contains illegal characters.";
	if (len > 1 && name[len - 1] == ' ')
		return "The name of the entity contains illegal characters.";
	return NULL;
}

bool name_valid(const char *name)
{
	return !name_check(name);
}

bool namespace_valid(const char *ns)
{
	return name_valid(ns);
}

static int copy_seg(char *dst, const char *src, size_t len)
{
	if (!len || len > NAME_MAX_LEN)
		return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return name_valid(dst) || !strcmp(dst, "_") ? 0 : -EINVAL;
}

int fqn_parse(const char *s, const char *default_ns, bool allow_short, struct fqn *out)
{
	const char *segs[3];
	size_t lens[3];
	int n = 0;
	struct fqn f = { 0 };

	if (*s == '/')
		s++;
	while (*s) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);

		if (n == 3)
			return -EINVAL;
		segs[n] = s;
		lens[n++] = len;
		if (!slash)
			break;
		s = slash + 1;
		if (!*s)
			return -EINVAL;
	}
	if (n == 0 || (n == 1 && !allow_short))
		return -EINVAL;
	if (n == 1) {
		snprintf(f.ns, sizeof(f.ns), "%s", default_ns);
		if (copy_seg(f.name, segs[0], lens[0]))
			return -EINVAL;
	} else {
		if (copy_seg(f.ns, segs[0], lens[0]) || copy_seg(f.name, segs[n - 1], lens[n - 1]))
			return -EINVAL;
		if (n == 3 && copy_seg(f.pkg, segs[1], lens[1]))
			return -EINVAL;
	}
	if (!strcmp(f.name, "_") || !strcmp(f.pkg, "_"))
		return -EINVAL;
	if (!strcmp(f.ns, "_"))
		snprintf(f.ns, sizeof(f.ns), "%s", default_ns);
	*out = f;
	return 0;
}

void fqn_format(const struct fqn *f, char *out, unsigned size)
{
	if (f->pkg[0])
		snprintf(out, size, "/%s/%s/%s", f->ns, f->pkg, f->name);
	else
		snprintf(out, size, "/%s/%s", f->ns, f->name);
}

void fqn_docid(const struct fqn *f, char *out, unsigned size)
{
	if (f->pkg[0])
		snprintf(out, size, "%s/%s/%s", f->ns, f->pkg, f->name);
	else
		snprintf(out, size, "%s/%s", f->ns, f->name);
}
