// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "retention.h"

/* Batches of a pass that has more to do follow each other this closely, so the loop
 * serves requests in between. */
#define RETENTION_FIRST_MS 5000
#define RETENTION_PERIOD_DEFAULT_MS 60000
#define RETENTION_NEXT_BATCH_MS 20

struct retention {
	struct loop *loop;
	struct store *st;
	int64_t default_ms;
	unsigned period_ms;
	struct loop_timer *timer;
	int64_t pass_deleted;
	bool failing; /* the last step failed: logged once */
};

int retention_parse_age(const char *text, int64_t *ms)
{
	char *end;
	long long n;
	int64_t unit = 1000;

	if (!text || !*text)
		return -EINVAL;
	if (!strcmp(text, "off")) {
		*ms = 0;
		return 0;
	}
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno || end == text || n < 0)
		return -EINVAL;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		unit = 60 * 1000LL;
		break;
	case 'h':
		unit = 3600 * 1000LL;
		break;
	case 'd':
		unit = 86400 * 1000LL;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (n > INT64_MAX / unit)
		return -ERANGE;
	*ms = n * unit;
	return 0;
}

/* Namespaces whose limits set their own period: names into *names, periods into *ms. */
static int load_overrides(struct store *st, json_t **list, const char ***names, int64_t **ms,
			  size_t *n)
{
	json_t *subj;
	size_t i, k = 0;
	int err;

	err = st->ops->subject_list(st, list);
	if (err)
		return err;
	*names = calloc(json_array_size(*list) + 1, sizeof(**names));
	*ms = calloc(json_array_size(*list) + 1, sizeof(**ms));
	if (!*names || !*ms)
		return -ENOMEM;
	json_array_foreach(*list, i, subj) {
		json_t *v = json_object_get(json_object_get(subj, "limits"), RETENTION_LIMIT_KEY);

		if (!json_is_integer(v) || json_integer_value(v) < 0)
			continue;
		(*names)[k] = json_string_value(json_object_get(subj, "namespace"));
		(*ms)[k] = json_integer_value(v) * 1000;
		if ((*names)[k])
			k++;
	}
	*n = k;
	return 0;
}

int retention_step(struct store *st, int64_t default_ms, int64_t now_ms, int64_t *deleted,
		   bool *more)
{
	const char **names = NULL;
	int64_t *ms = NULL, n;
	json_t *list = NULL;
	size_t count = 0;
	int err;

	*deleted = 0;
	*more = false;
	err = load_overrides(st, &list, &names, &ms, &count);
	if (err)
		goto out;
	if (default_ms > 0) {
		err = st->ops->activation_expire(st, NULL, now_ms - default_ms, names, count,
						 RETENTION_BATCH, &n);
		if (err)
			goto out;
		*deleted += n;
		*more |= n >= RETENTION_BATCH;
	}
	for (size_t i = 0; i < count; i++) {
		if (!ms[i]) /* 0: this namespace keeps its records */
			continue;
		err = st->ops->activation_expire(st, names[i], now_ms - ms[i], NULL, 0,
						 RETENTION_BATCH, &n);
		if (err)
			goto out;
		*deleted += n;
		*more |= n >= RETENTION_BATCH;
	}
out:
	free(names);
	free(ms);
	json_decref(list);
	return err;
}

static void retention_tick(struct loop *loop, void *data)
{
	struct retention *r = data;
	int64_t deleted = 0;
	bool more = false;
	int err;

	r->timer = NULL;
	err = retention_step(r->st, r->default_ms, (int64_t)clock_real_ms(), &deleted, &more);
	if (err) {
		if (!r->failing)
			pr_warn("retention: cannot delete expired activations: %s", strerror(-err));
		r->failing = true;
		more = false;
	} else {
		r->failing = false;
		r->pass_deleted += deleted;
	}
	if (!more && r->pass_deleted) {
		pr_info("retention: %lld expired activation records deleted",
			(long long)r->pass_deleted);
		r->pass_deleted = 0;
	}
	r->timer = loop_timer_add(loop, more ? RETENTION_NEXT_BATCH_MS : r->period_ms,
				  retention_tick, r);
}

struct retention *retention_start(struct loop *loop, struct store *st, int64_t default_ms,
				  unsigned period_ms)
{
	struct retention *r = calloc(1, sizeof(*r));
	unsigned first;

	if (!r)
		return NULL;
	r->loop = loop;
	r->st = st;
	r->default_ms = default_ms;
	/* 0 would spin the loop: the default instead. */
	r->period_ms = period_ms ? period_ms : RETENTION_PERIOD_DEFAULT_MS;
	first = r->period_ms < RETENTION_FIRST_MS ? r->period_ms : RETENTION_FIRST_MS;
	r->timer = loop_timer_add(loop, first, retention_tick, r);
	if (!r->timer) {
		free(r);
		return NULL;
	}
	return r;
}

void retention_free(struct retention *r)
{
	if (!r)
		return;
	if (r->timer)
		loop_timer_cancel(r->loop, r->timer);
	free(r);
}
