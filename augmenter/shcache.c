/* shcache.c: the host-wide decoded-image cache: one POSIX shared-memory segment holding a header, an
 * insert-only open-addressing table of entries and a bump-allocated pixel arena.
 *
 * Concurrency without locks: a process claims an empty slot by compare-and-swap of its key, takes
 * arena space with fetch-and-add, reserves the pages (fallocate, so a full /dev/shm refuses the
 * image instead of raising SIGBUS later), copies the pixels, and publishes the entry with a release
 * store of its state; readers use it only after an acquire load sees it ready. A process killed
 * while writing leaves its entry "writing" for ever: a permanent miss for that key, nothing worse.
 * Lifetime: every process holds a shared flock on the segment; the one that can upgrade to an
 * exclusive lock on detaching is the last one and unlinks it. */
#define _GNU_SOURCE
#include "augmenter/shcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/check.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/timeutil.h"

#define SHC_MAGIC 0x5041575043414348ull   /* "PAWPCACH" */
#define SHC_VERSION 1
#define HEADER_BYTES 4096
#define ALIGN 64
#define SHM_RESERVE_BYTES (64ull << 20)    /* left free in /dev/shm when the cache gets its full size */
#define SHM_MIN_BYTES ((size_t)8 << 20)     /* smaller than this: no shared cache                     */
#define MIN_ENTRY_BYTES (64 * 64 * 3)       /* sizes the table: at most max_bytes / this images */

enum { EMPTY = 0, WRITING, READY, REFUSED };

typedef struct {
    _Atomic uint64_t key;
    _Atomic uint32_t state;
    uint32_t width, height;
    uint32_t pad;
    uint64_t offset;          /* in the arena */
} slot_t;

typedef struct {
    _Atomic uint64_t magic;   /* written last by the creator */
    uint32_t version, slot_bytes;
    uint64_t n_slots;         /* a power of two */
    uint64_t arena_bytes;
    _Atomic uint64_t used;    /* bump pointer of the arena */
    _Atomic int64_t entries;
} header_t;

struct shcache {
    char name[128];
    int fd;
    uint8_t *base;
    size_t size;
    header_t *h;
    slot_t *slots;
    uint8_t *arena;
    shcache_stats_t st;
};

void shcache_default_name(const char *jobs_endpoint, char *out, size_t cap) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = jobs_endpoint ? jobs_endpoint : ""; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    snprintf(out, cap, "/pawpipe-cache-%u-%016llx", (unsigned)getuid(), (unsigned long long)h);
}

static uint64_t pow2_at_least(uint64_t v) {
    uint64_t p = 1024;
    while (p < v) p <<= 1;
    return p;
}

static size_t total_size(uint64_t n_slots, uint64_t arena) { return HEADER_BYTES + n_slots * sizeof(slot_t) + arena; }

/* Lay out a segment we just created (and hold exclusively by O_EXCL). */
static int init_segment(shcache_t *c, size_t max_bytes) {
    uint64_t n_slots = pow2_at_least(2 * (max_bytes / MIN_ENTRY_BYTES + 1));
    c->size = total_size(n_slots, max_bytes);
    CHECK(ftruncate(c->fd, (off_t)c->size) == 0, "ftruncate(%s, %zu): %s", c->name, c->size, strerror(errno));
    /* the header and the table are touched by everyone: reserve them now */
    size_t meta = HEADER_BYTES + n_slots * sizeof(slot_t);
    int rc = posix_fallocate(c->fd, 0, (off_t)meta);
    CHECK(rc == 0, "posix_fallocate(%s, %zu): %s", c->name, meta, strerror(rc));
    c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
    CHECK(c->base != MAP_FAILED, "mmap(%s): %s", c->name, strerror(errno));
    header_t *h = (header_t *)c->base;
    h->version = SHC_VERSION;
    h->slot_bytes = sizeof(slot_t);
    h->n_slots = n_slots;
    h->arena_bytes = max_bytes;
    atomic_store(&h->used, 0);
    atomic_store(&h->entries, 0);
    atomic_store_explicit(&h->magic, SHC_MAGIC, memory_order_release);
    return 0;
}

/* Map a segment someone else created, once its creator has finished laying it out. */
static int attach_segment(shcache_t *c) {
    struct stat sb;
    header_t *h = NULL;
    for (int t = 0; t < 50; t++) {   /* up to 0.5 s: its creator lays it out in a few ms */
        CHECK(fstat(c->fd, &sb) == 0, "fstat(%s): %s", c->name, strerror(errno));
        if ((size_t)sb.st_size >= HEADER_BYTES) {
            if (!c->base) {
                c->size = (size_t)sb.st_size;
                c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
                CHECK(c->base != MAP_FAILED, "mmap(%s): %s", c->name, strerror(errno));
            }
            h = (header_t *)c->base;
            if (atomic_load_explicit(&h->magic, memory_order_acquire) == SHC_MAGIC) break;
        }
        h = NULL;
        sleep_ms(10);
    }
    CHECK(h != NULL, "%s: not initialised by its creator within 0.5 s", c->name);
    CHECK(h->version == SHC_VERSION && h->slot_bytes == sizeof(slot_t) &&
              c->size == total_size(h->n_slots, h->arena_bytes),
          "%s has another layout (version %u)", c->name, h->version);
    return 0;
}

int shcache_open(const char *name, size_t max_bytes, shcache_t **out) {
    CHECK(name && name[0] == '/' && strlen(name) < 128, "bad shared-memory name '%s'", name ? name : "");
    CHECK(max_bytes >= ALIGN, "a shared cache of %zu bytes", max_bytes);
    shcache_t *c = calloc(1, sizeof *c);
    CHECK(c != NULL, "out of memory");
    snprintf(c->name, sizeof c->name, "%s", name);
    c->fd = -1;
    int created = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        c->fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        created = c->fd >= 0;
        if (!created && errno == EEXIST) c->fd = shm_open(name, O_RDWR, 0600);
        CHECK_GOTO(c->fd >= 0, fail, "shm_open(%s): %s", name, strerror(errno));
        CHECK_GOTO(flock(c->fd, LOCK_SH) == 0, fail, "flock(%s): %s", name, strerror(errno));
        /* the last user may have removed it between our open and our lock: then open again */
        struct stat mine, now;
        char path[160];
        snprintf(path, sizeof path, "/dev/shm%s", name);
        if (fstat(c->fd, &mine) != 0 || stat(path, &now) != 0 || mine.st_ino != now.st_ino) {
            close(c->fd);
            c->fd = -1;
            continue;
        }
        if (created) break;
        if (attach_segment(c) == 0) break;
        /* a segment its creator never finished (killed), or of another layout: remove it when nobody
         * else uses it, and start again; otherwise give up (the caller keeps a private cache) */
        if (c->base) munmap(c->base, c->size);
        c->base = NULL;
        if (flock(c->fd, LOCK_EX | LOCK_NB) != 0) goto fail;
        LOG_W("%s: %s; removing it", name, err_msg());
        err_clear();
        shm_unlink(name);
        close(c->fd);
        c->fd = -1;
    }
    CHECK_GOTO(c->fd >= 0, fail, "could not open %s", name);
    if (created) {
        /* Leave /dev/shm room for others: the cache takes what it was given when that leaves 64 MiB
         * free, else half of what is free (a container's /dev/shm is 64 MiB), and below
         * SHM_MIN_BYTES a shared cache is not worth it (the caller keeps a private one). */
        struct statvfs vfs;
        if (statvfs("/dev/shm", &vfs) == 0) {
            uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
            if (avail < max_bytes + SHM_RESERVE_BYTES && max_bytes > avail / 2) {
                size_t fit = (size_t)(avail / 2);
                if (fit < SHM_MIN_BYTES) {
                    err_set("/dev/shm has %llu MiB free, too little for a shared cache",
                            (unsigned long long)(avail >> 20));
                    goto fail;
                }
                LOG_I("/dev/shm has %llu MiB free: the shared cache takes %zu MiB of the %zu asked for",
                      (unsigned long long)(avail >> 20), fit >> 20, max_bytes >> 20);
                max_bytes = fit;
            }
        }
        if (init_segment(c, max_bytes) != 0) goto fail;
    }
    c->h = (header_t *)c->base;
    c->slots = (slot_t *)(c->base + HEADER_BYTES);
    c->arena = c->base + HEADER_BYTES + c->h->n_slots * sizeof(slot_t);
    c->st.max_bytes = c->h->arena_bytes;
    LOG_I("%s the shared image cache %s (%llu MiB, %lld images in it)", created ? "created" : "attached to",
          name, (unsigned long long)(c->h->arena_bytes >> 20), (long long)atomic_load(&c->h->entries));
    *out = c;
    return 0;
fail:
    if (c->base && c->base != MAP_FAILED) munmap(c->base, c->size);
    if (c->fd >= 0) {
        if (created) shm_unlink(name);
        close(c->fd);
    }
    err_prepend("shared image cache");
    free(c);
    return -1;
}

void shcache_close(shcache_t **pc) {
    shcache_t *c = *pc;
    if (!c) return;
    munmap(c->base, c->size);
    if (flock(c->fd, LOCK_EX | LOCK_NB) == 0) {   /* nobody else holds it: the last one out */
        shm_unlink(c->name);
        LOG_D("removed the shared image cache %s", c->name);
    }
    close(c->fd);
    free(c);
    *pc = NULL;
}

static uint64_t fix_key(uint64_t key) { return key ? key : 0x9E3779B97F4A7C15ull; }   /* 0 marks empty */

static uint64_t first_slot(const shcache_t *c, uint64_t key) {
    return (key * 0x9E3779B97F4A7C15ull >> 17) & (c->h->n_slots - 1);
}

int shcache_get(shcache_t *c, uint64_t key, img_t *view) {
    key = fix_key(key);
    uint64_t n = c->h->n_slots;
    for (uint64_t i = first_slot(c, key), probes = 0; probes < n; i = (i + 1) & (n - 1), probes++) {
        slot_t *s = &c->slots[i];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == 0) break;
        if (k != key) continue;
        if (atomic_load_explicit(&s->state, memory_order_acquire) != READY) break;
        view->width = (int)s->width;
        view->height = (int)s->height;
        view->pixels = c->arena + s->offset;
        view->cap = 0;
        c->st.hits++;
        return 1;
    }
    c->st.misses++;
    return 0;
}

int shcache_put(shcache_t *c, uint64_t key, const img_t *im) {
    key = fix_key(key);
    uint64_t n = c->h->n_slots;
    slot_t *s = NULL;
    for (uint64_t i = first_slot(c, key), probes = 0; probes < n && !s; i = (i + 1) & (n - 1), probes++) {
        slot_t *t = &c->slots[i];
        uint64_t k = atomic_load_explicit(&t->key, memory_order_acquire);
        if (k == 0) {
            uint64_t expect = 0;
            if (atomic_compare_exchange_strong(&t->key, &expect, key)) s = t;
            else k = expect;
        }
        if (!s && k == key) return 0;   /* there already, or on its way in from another process */
    }
    if (!s) return c->st.refused++, 1;   /* the table is full */
    size_t bytes = (size_t)im->width * (size_t)im->height * 3, room = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    uint64_t off = atomic_fetch_add(&c->h->used, room);
    if (off + room > c->h->arena_bytes ||
        posix_fallocate(c->fd, (off_t)(c->arena - c->base + off), (off_t)room) != 0) {
        atomic_store_explicit(&s->state, REFUSED, memory_order_release);
        return c->st.refused++, 1;
    }
    memcpy(c->arena + off, im->pixels, bytes);
    s->width = (uint32_t)im->width;
    s->height = (uint32_t)im->height;
    s->offset = off;
    atomic_fetch_add(&c->h->entries, 1);
    atomic_store_explicit(&s->state, READY, memory_order_release);
    c->st.inserted++;
    return 0;
}

void shcache_stats(const shcache_t *c, shcache_stats_t *s) {
    *s = c->st;
    s->entries = atomic_load(&c->h->entries);
    uint64_t used = atomic_load(&c->h->used);
    s->bytes = used < c->h->arena_bytes ? used : c->h->arena_bytes;
    s->max_bytes = c->h->arena_bytes;
}
