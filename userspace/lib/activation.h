/* SPDX-License-Identifier: Apache-2.0 */
/* OpenWhisk activation records: the stored form (what nodes build and send) and the API's
 * extended form. Shared by the controller and the node. */
#ifndef XWHISK_ACTIVATION_H
#define XWHISK_ACTIVATION_H

#include <jansson.h>
#include <stdbool.h>

/* The runtime protocol's end-of-activation line, on both stdout and stderr. */
#define ACTIVATION_SENTINEL "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

/* The most records a node may send the controller in one batch. */
#define ACTIVATION_BATCH_MAX 1000

enum activation_status {
	ACTIVATION_SUCCESS = 0,
	ACTIVATION_APPLICATION_ERROR = 1,
	ACTIVATION_DEVELOPER_ERROR = 2,
	ACTIVATION_WHISK_ERROR = 3,
};

const char *activation_status_text(int code);
/* The extended JSON (response.status/success instead of statusCode; duration; no end=0).
 * A shallow copy: it shares stored's nested values, which neither may then change. */
json_t *activation_extended(const json_t *stored);
/* 32 lowercase hexadecimal digits, as activation ids are. */
bool activation_id_valid(const char *id);
/*
 * A new activation id into out (33 bytes): the wall clock in milliseconds (12 digits),
 * then 80 random bits. Ids that grow with time put a store's inserts at the end of its id
 * index instead of a random page each (with random ids the controller spent half as much
 * CPU again per record: docs/BENCHMARKS.md, "Activation ingest"); clients see 32 hex
 * digits as before.
 */
void activation_id_new(char *out);
/* NULL when a record from a node is acceptable, otherwise what is wrong with it. */
const char *activation_check(const json_t *stored);

#endif
