/* json.h: a small strict JSON reader (for safetensors headers) and string escaping (for writing them).
 *
 * The reader builds a flat array of nodes linked by index. It follows RFC 8259 strictly: no trailing
 * commas, no comments, no NaN, no leading zeros, strings must be valid UTF-8 without raw control
 * characters, duplicate object keys are refused, nesting and member counts are bounded. Strings are
 * unescaped into one buffer and NUL-terminated (so a string holding "\u0000" is refused). */
#ifndef PAWPIPE_JSON_H
#define PAWPIPE_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32
#define JSON_MAX_MEMBERS 4096   /* per object or array */

typedef enum { JSON_NULL = 0, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type_t;

typedef struct {
    json_type_t type;
    int boolean;              /* JSON_BOOL                                                         */
    double num;               /* JSON_NUMBER                                                       */
    int is_uint;              /* JSON_NUMBER written as a plain non-negative integer < 2^64: in u  */
    uint64_t u;
    const char *str;          /* JSON_STRING: the unescaped text, NUL-terminated                   */
    size_t len;
    const char *key;          /* member name when the parent is an object, else NULL               */
    int first, next, count;   /* children of arrays and objects: first child, next sibling (-1)    */
} json_node_t;

typedef struct {
    json_node_t *nodes;       /* nodes[0] is the root                                              */
    int n, cap;
    char *strings;            /* storage for unescaped strings and keys                            */
    size_t strings_used;
} json_doc_t;

/* Parse text[0..len). 0, or -1 with err_msg() "JSON: offset N: problem". doc is freed on failure. */
int json_parse(const char *text, size_t len, json_doc_t *doc);
void json_free(json_doc_t *doc);

/* Index of the member `key` of object node `obj`, or -1. */
int json_member(const json_doc_t *doc, int obj, const char *key);

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF), else 0. */
int utf8_valid(const char *s, size_t n);

/* A growable output buffer for writing JSON. Functions return 0, or -1 when out of memory. */
typedef struct {
    char *data;
    size_t len, cap;
} json_buf_t;

int json_buf_add(json_buf_t *b, const char *s, size_t n);
int json_buf_printf(json_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s[0..n) as a quoted JSON string: '"', '\\' and control characters escaped, other bytes as is
 * (the caller makes sure the text is UTF-8). */
int json_buf_string(json_buf_t *b, const char *s, size_t n);
void json_buf_free(json_buf_t *b);

#endif
