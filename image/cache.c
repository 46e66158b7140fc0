/* cache.c: an open-addressing hash table of decoded images, one allocation per entry, no eviction. */
#include "image/cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/check.h"

typedef struct {
    uint64_t key;
    img_t *im;          /* NULL: empty slot. Points at one block: the img_t, then its pixels */
} slot_t;

struct img_cache {
    slot_t *slots;
    size_t n_slots;     /* a power of two, kept at most half full */
    img_cache_stats_t st;
};

static size_t slot_of(uint64_t key, size_t n) { return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (n - 1); }

img_cache_t *img_cache_new(size_t max_bytes) {
    img_cache_t *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->n_slots = 1024;
    c->slots = calloc(c->n_slots, sizeof *c->slots);
    if (!c->slots) goto oom;
    c->st.max_bytes = max_bytes;
    return c;
oom:
    free(c);
    err_set("out of memory for the image cache");
    return NULL;
}

void img_cache_destroy(img_cache_t **cp) {
    img_cache_t *c = *cp;
    if (!c) return;
    for (size_t i = 0; i < c->n_slots; i++) free(c->slots[i].im);
    free(c->slots);
    free(c);
    *cp = NULL;
}

static slot_t *find(const img_cache_t *c, uint64_t key) {
    for (size_t i = slot_of(key, c->n_slots);; i = (i + 1) & (c->n_slots - 1))
        if (!c->slots[i].im || c->slots[i].key == key) return &c->slots[i];
}

const img_t *img_cache_get(img_cache_t *c, uint64_t key) {
    slot_t *s = find(c, key);
    if (s->im) c->st.hits++;
    else c->st.misses++;
    return s->im;
}

static int grow(img_cache_t *c) {
    size_t n = c->n_slots * 2;
    slot_t *old = c->slots, *fresh = calloc(n, sizeof *fresh);
    CHECK(fresh != NULL, "out of memory growing the image cache to %zu slots", n);
    size_t old_n = c->n_slots;
    c->slots = fresh;
    c->n_slots = n;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].im) *find(c, old[i].key) = old[i];
    free(old);
    return 0;
}

int img_cache_put(img_cache_t *c, uint64_t key, const img_t *im) {
    slot_t *s = find(c, key);
    if (s->im) return 0;
    size_t n = (size_t)im->width * im->height * 3;
    if (c->st.bytes + n > c->st.max_bytes) {
        c->st.refused++;
        return 1;
    }
    if ((size_t)(c->st.entries + 1) * 2 > c->n_slots) {
        TRY(grow(c));
        s = find(c, key);
    }
    img_t *e = malloc(sizeof *e + n);
    CHECK(e != NULL, "out of memory caching a %dx%d image", im->width, im->height);
    e->width = im->width;
    e->height = im->height;
    e->pixels = (uint8_t *)(e + 1);
    e->cap = n;
    memcpy(e->pixels, im->pixels, n);
    s->key = key;
    s->im = e;
    c->st.entries++;
    c->st.bytes += n;
    return 0;
}

void img_cache_stats(const img_cache_t *c, img_cache_stats_t *s) { *s = c->st; }
