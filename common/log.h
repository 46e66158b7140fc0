/* log.h: levelled logging to stderr, each line tagged with time, process name and level. */
#ifndef PAWPIPE_LOG_H
#define PAWPIPE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_ERROR = 3 } log_level_t;

/* Name the process (e.g. "loader") and the lowest level printed. Reads PAWPIPE_LOG_LEVEL
 * (debug|info|warn|error) when level_name is NULL. Safe to call again (tests run stages as threads). */
void log_init(const char *process_name, const char *level_name);
int log_parse_level(const char *name, log_level_t *out);   /* 0, or -1 for an unknown name */

/* For main(): log_init with the value of --log-level, refusing an unknown level: then prints
 * "error: --log-level: ..." to stderr and returns -1 (main exits with status 2); 0 otherwise. */
int log_setup(const char *process_name, const char *level_name);
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log the error being handled: err_msg() at error level, and at debug level where it came from
 * (err_trail(): the source locations of the CHECK and the TRYs it went through). */
void log_error(void);

/* Per-thread name override, so stages run as threads in one test process keep their own tags. */
void log_set_thread_name(const char *name);

#define LOG_D(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_I(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_W(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_E(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
