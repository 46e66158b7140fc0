/* spec_ini.h: the first pass over a model spec: INI text -> sections of key/value entries, each with
 * the line it came from (internal to nn/: spec.c turns the entries into an nn_model_t). */
#ifndef PAWPIPE_SPEC_INI_H
#define PAWPIPE_SPEC_INI_H

#include "nn/model.h"

#define SPEC_MAX_SECTIONS (NN_MAX_LAYERS + 8)
#define SPEC_MAX_KEYS 16
#define SPEC_NAME_MAX 48      /* section names; inih itself truncates at 50 */
#define SPEC_KEY_MAX 48
#define SPEC_VALUE_MAX 160

typedef struct {
    char key[SPEC_KEY_MAX];
    char value[SPEC_VALUE_MAX];
    int line;
} spec_entry_t;

typedef struct {
    char name[SPEC_NAME_MAX];
    int line;                 /* line of the [name] header */
    int n;
    spec_entry_t e[SPEC_MAX_KEYS];
} spec_section_t;

typedef struct {
    int n;
    int n_lines;
    spec_section_t s[SPEC_MAX_SECTIONS];
} spec_ini_t;

/* Read text into ini (sections in file order). Refuses, with "LABEL:LINE: problem": syntax errors,
 * keys outside a section, duplicate sections or keys, bad section names, indented (continuation)
 * lines, over-long lines or values, invalid UTF-8. 0 / -1. */
int spec_ini_read(const char *text, const char *label, spec_ini_t *ini);

/* err_set("LABEL:LINE: ...") and return -1. */
int spec_error(const char *label, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Shapes, parameter offsets and the loss/output check over m's layers (model.c). 0 / -1. */
int nn_model_infer(nn_model_t *m, const char *label);

#endif
