/* cli.h: declarative command-line flags on top of getopt_long, with environment-variable fallbacks.
 *
 * A program lists its flags once, in a table; cli_parse() fills the targets, prints --help from the
 * same table (so every flag is documented), rejects unknown flags and malformed values, and applies
 * precedence: flag > environment variable > the default already stored in the target. */
#ifndef PAWPIPE_CLI_H
#define PAWPIPE_CLI_H

#include <stdint.h>

typedef enum {
    CLI_STR,    /* const char **  */
    CLI_INT,    /* int *          */
    CLI_I64,    /* int64_t *      */
    CLI_F64,    /* double *       */
    CLI_BOOL,   /* int *, flag without a value, sets 1 */
} cli_type_t;

typedef struct {
    const char *name;     /* long name without dashes, e.g. "jobs" */
    cli_type_t type;
    void *target;
    const char *env;      /* environment variable consulted when the flag is absent, or NULL */
    const char *metavar;  /* shown in --help, e.g. "ENDPOINT"; NULL for CLI_BOOL */
    const char *help;
} cli_opt_t;

/* Returns 0 to go on, 1 when --help was printed (the caller exits 0), -1 on an error already
 * printed to stderr (the caller exits 2). After success, *first_positional (if not NULL) is the
 * index into argv of the first non-flag argument (argc when there is none). */
int cli_parse(int argc, char **argv, const cli_opt_t *opts, int n_opts, const char *usage,
              const char *description, int *first_positional);

#endif
