// SPDX-License-Identifier: Apache-2.0
/* A store decorator that publishes an event for every entity write, whatever API path
 * made it, so node caches never miss a change. */
#include <stdlib.h>

#include "events.h"
#include "store_events.h"

struct observed_store {
	struct store base;
	struct store *inner;
	struct event_log *log;
	/* Following other controllers' writes: the descriptor watched, the retry timer. */
	struct loop *loop;
	int follow_fd;
	struct loop_timer *follow_timer;
};

#define INNER(st) (((struct observed_store *)(st))->inner)

static void publish(struct store *st, const char *op, const char *docid, int type)
{
	struct observed_store *o = (struct observed_store *)st;

	json_t *ev = json_pack("{s:s,s:s}", "op", op, "docid", docid);

	/* A delete knows only the document id. */
	if (ev && type >= 0)
		json_object_set_new(ev, "collection",
				    json_string(entity_type_collection((enum entity_type)type)));
	event_log_publish(o->log, "entity", ev);
}

static void obs_close(struct store *st)
{
	struct observed_store *o = (struct observed_store *)st;

	if (o->follow_fd >= 0)
		loop_del_fd(o->loop, o->follow_fd);
	if (o->follow_timer)
		loop_timer_cancel(o->loop, o->follow_timer);
	store_close(INNER(st));
	free(st);
}

static int obs_begin(struct store *st)
{
	return INNER(st)->ops->begin(INNER(st));
}

static int obs_commit(struct store *st)
{
	return INNER(st)->ops->commit(INNER(st));
}

static void obs_rollback(struct store *st)
{
	INNER(st)->ops->rollback(INNER(st));
}

static int obs_entity_get(struct store *st, const char *docid, struct entity_rec *out)
{
	return INNER(st)->ops->entity_get(INNER(st), docid, out);
}

/* A rolled-back write still publishes: a spurious invalidation only costs a refetch. */
static int obs_entity_put(struct store *st, struct entity_rec *rec, int64_t expect_rev)
{
	int err = INNER(st)->ops->entity_put(INNER(st), rec, expect_rev);

	if (!err)
		publish(st, "put", rec->docid, rec->type);
	return err;
}

static void obs_entity_put_elsewhere(struct store *st, const struct entity_rec *rec)
{
	if (INNER(st)->ops->entity_put_elsewhere)
		INNER(st)->ops->entity_put_elsewhere(INNER(st), rec);
	publish(st, "put", rec->docid, rec->type);
}

static int obs_entity_delete(struct store *st, const char *docid, int64_t expect_rev)
{
	int err = INNER(st)->ops->entity_delete(INNER(st), docid, expect_rev);

	if (!err)
		publish(st, "delete", docid, -1);
	return err;
}

static int obs_entity_list(struct store *st, const struct entity_query *q, json_t **out)
{
	return INNER(st)->ops->entity_list(INNER(st), q, out);
}

static int obs_entity_count(struct store *st, const struct entity_query *q, int64_t *out)
{
	return INNER(st)->ops->entity_count(INNER(st), q, out);
}

static int obs_subject_get(struct store *st, const char *ns, struct subject *out)
{
	return INNER(st)->ops->subject_get(INNER(st), ns, out);
}

static int obs_subject_by_uuid(struct store *st, const char *uuid, struct subject *out)
{
	return INNER(st)->ops->subject_by_uuid(INNER(st), uuid, out);
}

static int obs_subject_put(struct store *st, const struct subject *s, bool create)
{
	/* No event: nodes take identities with an expiry (XWHISK_AUTH_TTL_S), and
	 * xwhisk-admin, the usual writer, works on the store directly anyway. */
	return INNER(st)->ops->subject_put(INNER(st), s, create);
}

static int obs_subject_delete(struct store *st, const char *ns)
{
	return INNER(st)->ops->subject_delete(INNER(st), ns);
}

static int obs_subject_list(struct store *st, json_t **out)
{
	return INNER(st)->ops->subject_list(INNER(st), out);
}

static int obs_node_subnet_list(struct store *st, json_t **out)
{
	return INNER(st)->ops->node_subnet_list(INNER(st), out);
}

static int obs_node_subnet_add(struct store *st, const char *node, const char *subnet)
{
	return INNER(st)->ops->node_subnet_add(INNER(st), node, subnet);
}

static int obs_activation_put(struct store *st, const struct activation_batch *batch)
{
	return INNER(st)->ops->activation_put(INNER(st), batch);
}

static int obs_activation_get(struct store *st, const char *ns, const char *id, json_t **out)
{
	return INNER(st)->ops->activation_get(INNER(st), ns, id, out);
}

static int obs_activation_list(struct store *st, const struct activation_query *q, json_t **out)
{
	return INNER(st)->ops->activation_list(INNER(st), q, out);
}

static int obs_activation_count(struct store *st, const struct activation_query *q,
				int64_t *out)
{
	return INNER(st)->ops->activation_count(INNER(st), q, out);
}

static int obs_activation_expire(struct store *st, const char *ns, int64_t before,
				 const char *const *skip, size_t nskip, unsigned max,
				 int64_t *deleted)
{
	return INNER(st)->ops->activation_expire(INNER(st), ns, before, skip, nskip, max, deleted);
}

static const struct store_ops observed_ops = {
	.close = obs_close,
	.begin = obs_begin,
	.commit = obs_commit,
	.rollback = obs_rollback,
	.entity_get = obs_entity_get,
	.entity_put = obs_entity_put,
	.entity_delete = obs_entity_delete,
	.entity_put_elsewhere = obs_entity_put_elsewhere,
	.entity_list = obs_entity_list,
	.entity_count = obs_entity_count,
	.subject_get = obs_subject_get,
	.subject_by_uuid = obs_subject_by_uuid,
	.subject_put = obs_subject_put,
	.subject_delete = obs_subject_delete,
	.subject_list = obs_subject_list,
	.node_subnet_list = obs_node_subnet_list,
	.node_subnet_add = obs_node_subnet_add,
	.activation_put = obs_activation_put,
	.activation_get = obs_activation_get,
	.activation_list = obs_activation_list,
	.activation_count = obs_activation_count,
	.activation_expire = obs_activation_expire,
};

struct store *store_with_events(struct store *inner, struct event_log *log)
{
	struct observed_store *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->base.ops = &observed_ops;
	o->inner = inner;
	o->log = log;
	o->follow_fd = -1;
	return &o->base;
}

static void on_change(const struct store_change *c, void *data)
{
	publish(data, c->op, c->docid, c->type);
}

static void follow_read(struct observed_store *o);

static void on_follow_fd(struct loop *loop, int fd, uint32_t events, void *data)
{
	follow_read(data);
}

static void on_follow_timer(struct loop *loop, void *data)
{
	struct observed_store *o = data;

	o->follow_timer = NULL;
	follow_read(o);
}

/* Reads what arrived, then watches the feed's descriptor, which a reconnection changes;
 * without one (the feed is down), tries again in a second. */
static void follow_read(struct observed_store *o)
{
	struct store *in = o->inner;
	int fd;

	(void)in->ops->changes_read(in, on_change, o);
	fd = in->ops->changes_fd(in);
	if (fd != o->follow_fd) {
		if (o->follow_fd >= 0)
			loop_del_fd(o->loop, o->follow_fd);
		o->follow_fd = -1;
		if (fd >= 0 && !loop_add_fd(o->loop, fd, EPOLLIN, on_follow_fd, o))
			o->follow_fd = fd;
	}
	if (o->follow_fd < 0 && !o->follow_timer)
		o->follow_timer = loop_timer_add(o->loop, 1000, on_follow_timer, o);
}

int store_events_follow(struct store *observed, struct loop *loop)
{
	struct observed_store *o = (struct observed_store *)observed;

	if (!o->inner->ops->changes_fd || !o->inner->ops->changes_read)
		return 0;
	o->loop = loop;
	follow_read(o);
	return 0;
}
