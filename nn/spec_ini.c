/* spec_ini.c: reads a spec's INI text with inih, through our own line reader so that every section
 * header and every entry keeps its line number (inih only reports lines of the errors it sees). */
#include "nn/spec_ini.h"

#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "common/check.h"

typedef struct {
    const char *pos;          /* next unread byte of the text                         */
    int line;                 /* number of the line last handed to inih               */
    spec_ini_t *ini;
    int err_line;             /* the first problem found (0: none yet)                */
    char err[256];
} reader_t;

int spec_error(const char *label, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set("%s:%d: %s", label, line, msg);
    return -1;
}

static void problem(reader_t *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(reader_t *r, int line, const char *fmt, ...) {
    if (r->err_line) return;   /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->err_line = line;
}

/* 1 if s[0..n) is UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF, as the JSON of
 * checkpoint headers (the spec text goes there) wants it. Our own, not jansson's: the stages that
 * read specs but never checkpoints (the loader, the augmenters) then need no JSON library. */
static int utf8_valid(const char *s, size_t n) {
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};   /* by sequence length */
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (k == 0 || n - i < k) return 0;
        uint32_t cp = k == 1 ? c : c & (0x7Fu >> k);
        for (size_t j = 1; j < k; j++) {
            if ((u[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (u[i + j] & 0x3F);
        }
        if (cp < least[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k;
    }
    return 1;
}

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A "[name]" line: validate it and record the section. 0, or -1 after recording a problem. */
static int section_header(reader_t *r, const char *line, size_t len) {
    const char *end = memchr(line, ']', len);
    if (!end) return problem(r, r->line, "section header without a closing ']'"), -1;
    for (const char *t = end + 1; t < line + len; t++) {
        if (*t == ';' || *t == '#') break;
        if (*t != ' ' && *t != '\t') return problem(r, r->line, "text after the section header's ']'"), -1;
    }
    size_t n = (size_t)(end - line - 1);
    const char *name = line + 1;
    if (n == 0) return problem(r, r->line, "empty section name"), -1;
    if (n >= SPEC_NAME_MAX)
        return problem(r, r->line, "section name longer than %d characters", SPEC_NAME_MAX - 1), -1;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(name[i]))
            return problem(r, r->line, "bad section name '[%.*s]': use letters, digits and '_'", (int)n, name),
                   -1;
    spec_ini_t *ini = r->ini;
    for (int i = 0; i < ini->n; i++)
        if (strlen(ini->s[i].name) == n && memcmp(ini->s[i].name, name, n) == 0)
            return problem(r, r->line, "duplicate section [%.*s] (first at line %d)", (int)n, name, ini->s[i].line),
                   -1;
    if (ini->n == SPEC_MAX_SECTIONS)
        return problem(r, r->line, "too many sections (at most %d)", SPEC_MAX_SECTIONS), -1;
    spec_section_t *s = &ini->s[ini->n++];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, n);
    s->line = r->line;
    return 0;
}

/* inih's fgets-like reader: hands over one line per call, and an empty line in place of any line
 * with a problem (the problem is recorded and reported once inih is done). */
static char *next_line(char *str, int num, void *stream) {
    reader_t *r = stream;
    if (*r->pos == '\0') return NULL;
    const char *line = r->pos, *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    r->pos += len + (nl ? 1 : 0);
    r->line++;
    r->ini->n_lines = r->line;
    if (len && line[len - 1] == '\r') len--;
    if (r->line == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) line += 3, len -= 3;  /* BOM */
    str[0] = '\0';
    if (!utf8_valid(line, len)) return problem(r, r->line, "not valid UTF-8"), str;
    if (num < 4 || len > (size_t)num - 3)
        return problem(r, r->line, "line longer than %d characters", num - 3), str;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    int blank_or_comment = i == len || line[i] == ';' || line[i] == '#';
    if (!blank_or_comment && i > 0)
        return problem(r, r->line, "indented line: continuation lines are not supported"), str;
    if (!blank_or_comment && line[0] == '[' && section_header(r, line, len)) return str;
    memcpy(str, line, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

static int on_entry(void *user, const char *section, const char *name, const char *value) {
    reader_t *r = user;
    spec_ini_t *ini = r->ini;
    (void)section;   /* our own record of the current section (inih's may be one we refused) */
    if (ini->n == 0) return problem(r, r->line, "'%s' is outside any section", name), 1;
    spec_section_t *s = &ini->s[ini->n - 1];
    if (!name[0]) return problem(r, r->line, "empty key"), 1;
    if (strlen(name) >= SPEC_KEY_MAX) return problem(r, r->line, "unknown key '%s' in [%s]", name, s->name), 1;
    if (strlen(value) >= SPEC_VALUE_MAX)
        return problem(r, r->line, "value of '%s' longer than %d characters", name, SPEC_VALUE_MAX - 1), 1;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->e[i].key, name) == 0)
            return problem(r, r->line, "duplicate key '%s' in [%s] (first at line %d)", name, s->name, s->e[i].line),
                   1;
    if (s->n == SPEC_MAX_KEYS) return problem(r, r->line, "too many keys in [%s]", s->name), 1;
    spec_entry_t *e = &s->e[s->n++];
    snprintf(e->key, sizeof e->key, "%s", name);
    snprintf(e->value, sizeof e->value, "%s", value);
    e->line = r->line;
    return 1;
}

int spec_ini_read(const char *text, const char *label, spec_ini_t *ini) {
    memset(ini, 0, sizeof *ini);
    reader_t r = {.pos = text, .ini = ini};
    int rc = ini_parse_stream(next_line, &r, on_entry, &r);
    if (rc == -2) return spec_error(label, r.line, "out of memory");
    /* on_entry never fails, so a positive rc is inih's own complaint about a line's syntax */
    if (rc > 0 && (r.err_line == 0 || rc < r.err_line))
        return spec_error(label, rc, "syntax error: expected '[section]', 'key = value' or a comment");
    if (r.err_line) return spec_error(label, r.err_line, "%s", r.err);
    if (rc != 0) return spec_error(label, r.line, "inih failed (%d)", rc);
    return 0;
}
