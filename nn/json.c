/* json.c: the strict, bounds-checked JSON reader and the string-escaping writer of json.h. */
#include "nn/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    json_doc_t *doc;
} parser_t;

static int fail(const parser_t *p, const char *what) {
    err_set("JSON: offset %zu: %s", p->pos, what);
    return -1;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes available), 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) k = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) k = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) k = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

int utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

static void skip_ws(parser_t *p) {
    while (p->pos < p->len &&
           (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int new_node(parser_t *p, json_type_t type) {
    json_doc_t *d = p->doc;
    if (d->n == d->cap) {
        if (d->cap > (1 << 24)) return fail(p, "too many values");
        int cap = d->cap ? 2 * d->cap : 64;
        json_node_t *nodes = realloc(d->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return fail(p, "out of memory");
        d->nodes = nodes, d->cap = cap;
    }
    json_node_t *nd = &d->nodes[d->n];
    memset(nd, 0, sizeof *nd);
    nd->type = type;
    nd->first = nd->next = -1;
    return d->n++;
}

static int hex4(parser_t *p, uint32_t *out) {
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[p->pos + i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return fail(p, "bad hex digit in \\u escape");
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static size_t utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At an opening quote: unescape the string into doc->strings. */
static int parse_string(parser_t *p, const char **out, size_t *out_len) {
    json_doc_t *d = p->doc;
    char *start = d->strings + d->strings_used, *o = start;
    p->pos++;
    for (;;) {
        if (p->pos >= p->len) return fail(p, "unterminated string");
        unsigned c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return fail(p, "control character in string");
        if (c == '\\') {
            if (p->len - p->pos < 2) return fail(p, "unterminated string");
            unsigned e = p->s[p->pos + 1];
            p->pos += 2;
            uint32_t cp;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u':
                if (hex4(p, &cp)) return -1;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "lone low surrogate in \\u escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return fail(p, "high surrogate without a low one");
                    p->pos += 2;
                    if (hex4(p, &lo)) return -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, "bad low surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) return fail(p, "\\u0000 is not supported");
                o += utf8_put(cp, o);
                break;
            default: p->pos--; return fail(p, "bad escape");
            }
            continue;
        }
        size_t k = utf8_seq(p->s + p->pos, p->len - p->pos);
        if (k == 0) return fail(p, "invalid UTF-8 in string");
        memcpy(o, p->s + p->pos, k);
        o += k, p->pos += k;
    }
    *o = '\0';
    *out = start, *out_len = (size_t)(o - start);
    d->strings_used += (size_t)(o - start) + 1;
    return 0;
}

static int is_digit(const parser_t *p) { return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9'; }

static int parse_number(parser_t *p, int node) {
    size_t start = p->pos;
    int plain = 1;
    if (p->s[p->pos] == '-') p->pos++, plain = 0;
    if (!is_digit(p)) return fail(p, "bad number");
    if (p->s[p->pos] == '0') p->pos++;
    else
        while (is_digit(p)) p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++, plain = 0;
        if (!is_digit(p)) return fail(p, "bad number: digits expected after '.'");
        while (is_digit(p)) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++, plain = 0;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (!is_digit(p)) return fail(p, "bad number: digits expected in the exponent");
        while (is_digit(p)) p->pos++;
    }
    char buf[128];
    size_t n = p->pos - start;
    if (n >= sizeof buf) return fail(p, "number too long");
    memcpy(buf, p->s + start, n);
    buf[n] = '\0';
    json_node_t *nd = &p->doc->nodes[node];
    nd->num = strtod(buf, NULL);
    if (!isfinite(nd->num)) return fail(p, "number out of range");
    if (plain) {
        uint64_t u = 0;
        int ok = 1;
        for (size_t i = 0; i < n; i++) {
            unsigned dgt = (unsigned)(buf[i] - '0');
            if (u > (UINT64_MAX - dgt) / 10) ok = 0;
            u = u * 10 + dgt;
        }
        nd->is_uint = ok, nd->u = ok ? u : 0;
    }
    return 0;
}

static int parse_value(parser_t *p, int depth);

/* Parse the members of an array or object after its opening bracket, linking them to node. */
static int parse_members(parser_t *p, int node, int depth, int object) {
    char close = object ? '}' : ']';
    int last = -1;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) return p->pos++, 0;
    for (;;) {
        const char *key = NULL;
        size_t key_len;
        if (object) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a string key");
            if (parse_string(p, &key, &key_len)) return -1;
            for (int c = p->doc->nodes[node].first; c >= 0; c = p->doc->nodes[c].next)
                if (strcmp(p->doc->nodes[c].key, key) == 0) return fail(p, "duplicate key");
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':'");
            p->pos++;
        }
        if (p->doc->nodes[node].count >= JSON_MAX_MEMBERS) return fail(p, "too many members");
        int child = parse_value(p, depth + 1);
        if (child < 0) return -1;
        json_node_t *nodes = p->doc->nodes;
        nodes[child].key = key;
        if (last < 0) nodes[node].first = child;
        else nodes[last].next = child;
        last = child;
        nodes[node].count++;
        skip_ws(p);
        if (p->pos >= p->len) return fail(p, object ? "unterminated object" : "unterminated array");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == (unsigned char)close) return p->pos++, 0;
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int literal(parser_t *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return fail(p, "unexpected character");
    p->pos += n;
    return 0;
}

/* Returns the new node's index, or -1. */
static int parse_value(parser_t *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end, expected a value");
    if (depth > JSON_MAX_DEPTH) return fail(p, "nested too deeply");
    unsigned c = p->s[p->pos];
    int node;
    switch (c) {
    case '{':
    case '[':
        if ((node = new_node(p, c == '{' ? JSON_OBJECT : JSON_ARRAY)) < 0) return -1;
        p->pos++;
        return parse_members(p, node, depth, c == '{') ? -1 : node;
    case '"': {
        if ((node = new_node(p, JSON_STRING)) < 0) return -1;
        const char *s;
        size_t n;
        if (parse_string(p, &s, &n)) return -1;
        p->doc->nodes[node].str = s, p->doc->nodes[node].len = n;
        return node;
    }
    case 't':
    case 'f':
        if ((node = new_node(p, JSON_BOOL)) < 0) return -1;
        p->doc->nodes[node].boolean = c == 't';
        return literal(p, c == 't' ? "true" : "false") ? -1 : node;
    case 'n':
        if ((node = new_node(p, JSON_NULL)) < 0) return -1;
        return literal(p, "null") ? -1 : node;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if ((node = new_node(p, JSON_NUMBER)) < 0) return -1;
            return parse_number(p, node) ? -1 : node;
        }
        return fail(p, "unexpected character, expected a value");
    }
}

int json_parse(const char *text, size_t len, json_doc_t *doc) {
    memset(doc, 0, sizeof *doc);
    parser_t p = {(const unsigned char *)text, len, 0, doc};
    /* Unescaped strings never outgrow their quoted source, and each NUL replaces a quote. */
    doc->strings = malloc(len + 1);
    if (!doc->strings) return fail(&p, "out of memory");
    if (parse_value(&p, 0) < 0) goto fail;
    skip_ws(&p);
    if (p.pos != len) {
        fail(&p, "trailing characters after the value");
        goto fail;
    }
    return 0;
fail:
    json_free(doc);
    return -1;
}

void json_free(json_doc_t *doc) {
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

int json_member(const json_doc_t *doc, int obj, const char *key) {
    if (obj < 0 || obj >= doc->n || doc->nodes[obj].type != JSON_OBJECT) return -1;
    for (int c = doc->nodes[obj].first; c >= 0; c = doc->nodes[c].next)
        if (strcmp(doc->nodes[c].key, key) == 0) return c;
    return -1;
}

static int buf_reserve(json_buf_t *b, size_t extra) {
    if (b->cap - b->len > extra) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        err_set("json: out of memory (%zu bytes)", cap);
        return -1;
    }
    b->data = d, b->cap = cap;
    return 0;
}

int json_buf_add(json_buf_t *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int json_buf_printf(json_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n)) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int json_buf_string(json_buf_t *b, const char *s, size_t n) {
    if (json_buf_add(b, "\"", 1)) return -1;
    size_t run = 0;   /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8] = "";
        if (c == '"') strcpy(esc, "\\\"");
        else if (c == '\\') strcpy(esc, "\\\\");
        else if (c == '\n') strcpy(esc, "\\n");
        else if (c == '\r') strcpy(esc, "\\r");
        else if (c == '\t') strcpy(esc, "\\t");
        else if (c < 0x20 || c == 0x7F) snprintf(esc, sizeof esc, "\\u%04x", c);
        if (!esc[0]) {
            run++;
            continue;
        }
        if (json_buf_add(b, s + i - run, run) || json_buf_add(b, esc, strlen(esc))) return -1;
        run = 0;
    }
    if (json_buf_add(b, s + n - run, run)) return -1;
    return json_buf_add(b, "\"", 1);
}

void json_buf_free(json_buf_t *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
