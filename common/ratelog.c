/* ratelog.c: rate-limited logging of counted events (see ratelog.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"
#include "common/ratelog.h"
#include "common/timeutil.h"

void ratelog_note(ratelog_t *r, const char *fmt, ...) {
    r->count++;
    double now = now_s();
    int full = r->count <= RATELOG_FULL;
    if (!full && now - r->t_line < RATELOG_INTERVAL_S) return;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (full)
        LOG_W("%s: %s%s", r->what, detail, r->count == RATELOG_FULL ? " (further ones are summed up periodically)" : "");
    else
        LOG_W("%s: %" PRIu64 " more in the last %.0f s (%" PRIu64 " in all; latest: %s)", r->what, r->count - r->reported,
              now - r->t_line, r->count, detail);
    r->reported = r->count;
    r->t_line = now;
}

void ratelog_flush(ratelog_t *r) {
    if (r->count == r->reported) return;
    LOG_W("%s: %" PRIu64 " more since the last line (%" PRIu64 " in all)", r->what, r->count - r->reported, r->count);
    r->reported = r->count;
}
