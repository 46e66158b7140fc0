/* log.c: one formatted line per call, written with a single write() so lines never interleave. */
#include "common/log.h"

#include "common/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char g_name[32] = "pawpipe";
static log_level_t g_level = LOG_LEVEL_INFO;
static _Thread_local char t_name[32];

int log_parse_level(const char *name, log_level_t *out) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    return -1;
}

void log_init(const char *process_name, const char *level_name) {
    snprintf(g_name, sizeof g_name, "%s", process_name);
    if (!level_name) level_name = getenv("PAWPIPE_LOG_LEVEL");
    if (level_name && log_parse_level(level_name, &g_level) != 0) g_level = LOG_LEVEL_INFO;
}

int log_setup(const char *process_name, const char *level_name) {
    log_level_t level;
    if (level_name && log_parse_level(level_name, &level) != 0) {
        fprintf(stderr, "error: --log-level: '%s' is not debug, info, warn or error\n", level_name);
        return -1;
    }
    log_init(process_name, level_name);
    return 0;
}

void log_set_thread_name(const char *name) { snprintf(t_name, sizeof t_name, "%s", name); }

void log_msg(log_level_t level, const char *fmt, ...) {
    static const char *tags[] = {"debug", "info", "WARN", "ERROR"};
    if (level < g_level) return;
    char line[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, t_name[0] ? t_name : g_name, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void log_error(void) {
    log_msg(LOG_LEVEL_ERROR, "%s", err_msg());
    if (err_trail()[0]) log_msg(LOG_LEVEL_DEBUG, "where: %s", err_trail());
}
