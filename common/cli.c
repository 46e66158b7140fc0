/* cli.c: getopt_long driven by a cli_opt_t table; --help text generated from the same table. */
#include "common/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_value(const cli_opt_t *o, const char *val, const char *source) {
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case CLI_STR:
        *(const char **)o->target = val;
        return 0;
    case CLI_BOOL:
        if (val == NULL || strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0) {
            *(int *)o->target = 1;
            return 0;
        }
        if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0) {
            *(int *)o->target = 0;
            return 0;
        }
        break;
    case CLI_INT: {
        long v = strtol(val, &end, 10);
        if (errno == 0 && end != val && *end == '\0' && v >= -2147483647L && v <= 2147483647L) {
            *(int *)o->target = (int)v;
            return 0;
        }
        break;
    }
    case CLI_I64: {
        long long v = strtoll(val, &end, 10);
        if (errno == 0 && end != val && *end == '\0') {
            *(int64_t *)o->target = (int64_t)v;
            return 0;
        }
        break;
    }
    case CLI_F64: {
        double v = strtod(val, &end);
        if (errno == 0 && end != val && *end == '\0') {
            *(double *)o->target = v;
            return 0;
        }
        break;
    }
    }
    fprintf(stderr, "error: %s --%s: '%s' is not a valid %s\n", source, o->name, val ? val : "",
            o->type == CLI_F64 ? "number" : o->type == CLI_BOOL ? "boolean" : "integer");
    return -1;
}

static void print_default(const cli_opt_t *o) {
    switch (o->type) {
    case CLI_STR:
        if (*(const char **)o->target) printf(" (default: %s)", *(const char **)o->target);
        break;
    case CLI_INT: printf(" (default: %d)", *(int *)o->target); break;
    case CLI_I64: printf(" (default: %" PRId64 ")", *(int64_t *)o->target); break;
    case CLI_F64: printf(" (default: %g)", *(double *)o->target); break;
    case CLI_BOOL: break;
    }
}

static void print_help(const char *prog, const cli_opt_t *opts, int n, const char *usage,
                       const char *description) {
    const char *slash = strrchr(prog, '/');   /* the program's name, not the path it was started by */
    printf("usage: %s %s\n\n%s\n\noptions:\n", slash ? slash + 1 : prog, usage, description);
    for (int i = 0; i < n; i++) {
        const cli_opt_t *o = &opts[i];
        char head[96];
        if (o->type == CLI_BOOL)
            snprintf(head, sizeof head, "--%s", o->name);
        else
            snprintf(head, sizeof head, "--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
        printf("  %-30s %s", head, o->help);
        print_default(o);
        if (o->env) printf(" [env %s]", o->env);
        printf("\n");
    }
    printf("  %-30s %s\n", "--help", "show this help and exit");
}

int cli_parse(int argc, char **argv, const cli_opt_t *opts, int n_opts, const char *usage,
              const char *description, int *first_positional) {
    struct option *lo = calloc((size_t)n_opts + 2, sizeof *lo);
    if (!lo) return -1;
    for (int i = 0; i < n_opts; i++) {
        lo[i].name = opts[i].name;
        lo[i].has_arg = opts[i].type == CLI_BOOL ? no_argument : required_argument;
        lo[i].val = 1000 + i;
    }
    lo[n_opts].name = "help";
    lo[n_opts].val = 'h';
    char *seen = calloc((size_t)n_opts + 1, 1);
    int rc = 0;
    optind = 1;
    opterr = 0;
    for (;;) {
        int li = -1;
        int c = getopt_long(argc, argv, "h", lo, &li);
        if (c == -1) break;
        if (c == 'h') {
            print_help(argv[0], opts, n_opts, usage, description);
            rc = 1;
            goto done;
        }
        if (c == '?' || c == ':') {
            if (optopt >= 1000)
                fprintf(stderr, "error: --%s needs a value (see --help)\n", opts[optopt - 1000].name);
            else
                fprintf(stderr, "error: unknown flag '%s' (see --help)\n", argv[optind - 1]);
            rc = -1;
            goto done;
        }
        int i = c - 1000;
        if (set_value(&opts[i], optarg, "flag") != 0) {
            rc = -1;
            goto done;
        }
        seen[i] = 1;
    }
    for (int i = 0; i < n_opts; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (!seen[i] && v && *v && set_value(&opts[i], v, opts[i].env) != 0) {
            rc = -1;
            goto done;
        }
    }
    if (first_positional)
        *first_positional = optind;
    else if (optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s' (see --help)\n", argv[optind]);
        rc = -1;
    }
done:
    free(lo);
    free(seen);
    return rc;
}
