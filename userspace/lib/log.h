/* SPDX-License-Identifier: Apache-2.0 */
/* The one logging module: every program and library logs through here. */
#ifndef XWHISK_LOG_H
#define XWHISK_LOG_H

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Program name prefix and level; the level also comes from XWHISK_LOG_LEVEL. */
void log_init(const char *prog);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_parse_level(const char *s);
/* Sets the level by its name (--log-level); -EINVAL for a name it does not know. */
int log_set_level_name(const char *s);

void log_print(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...) log_print(LOG_LEVEL_ERR, __VA_ARGS__)
#define pr_warn(...) log_print(LOG_LEVEL_WARN, __VA_ARGS__)
#define pr_info(...) log_print(LOG_LEVEL_INFO, __VA_ARGS__)
#define pr_debug(...)                                                                              \
	do {                                                                                       \
		if (log_get_level() >= LOG_LEVEL_DEBUG)                                            \
			log_print(LOG_LEVEL_DEBUG, __VA_ARGS__);                                   \
	} while (0)

#endif
