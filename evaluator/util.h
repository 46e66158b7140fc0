/* util.h: small helpers of the evaluator's files: TRY with a cleanup label. */
#ifndef PAWPIPE_EVAL_UTIL_H
#define PAWPIPE_EVAL_UTIL_H

#include "common/check.h"

/* TRY_GOTO: as TRY (keeps the callee's message and adds the call site), but jumps to a cleanup
 * label instead of returning. CHECK_GOTO would replace the callee's message with its own. */
#define TRY_GOTO(call, label)                                                              \
    do {                                                                                   \
        if ((call) != 0) {                                                                 \
            err_prepend("%s:%d: %s", __FILE__, __LINE__, #call);                           \
            goto label;                                                                    \
        }                                                                                  \
    } while (0)

#endif
