/* shcache.h: a decoded-image cache shared by the augmenter processes of one host (POSIX shared
 * memory), so that K augmenters decode each image once between them instead of K times: jobs reach
 * augmenters in turn, so with private caches every augmenter would have to decode every image.
 *
 * Insert-only (no eviction, as the private cache): an entry, once ready, never moves or changes,
 * so readers need no lock. Over its byte limit it refuses further images, which are then decoded
 * every epoch. Keys are content fingerprints at a given output size, so processes of another run
 * that happen to use the same segment read correct images. */
#ifndef PAWPIPE_SHCACHE_H
#define PAWPIPE_SHCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

typedef struct shcache shcache_t;

typedef struct {
    int64_t hits, misses, inserted, refused;   /* by this process                   */
    int64_t entries;                           /* in the segment, by all processes  */
    size_t bytes, max_bytes;                   /* pixel bytes used, limit           */
} shcache_stats_t;

/* Attach to the segment `name` ("/pawpipe-..."), creating it with room for max_bytes of pixels when
 * it does not exist (an existing one keeps its own size). A new segment is smaller when /dev/shm is
 * (a container's 64 MiB): at most half of what is free there, when the full size would leave under
 * 64 MiB.
 * Fails (-1, err_msg()) when shared memory is unavailable or under 16 MiB free, or the segment has
 * another layout; the caller then keeps a private cache. */
int shcache_open(const char *name, size_t max_bytes, shcache_t **out);

/* Detach; the last process attached removes the segment. */
void shcache_close(shcache_t **c);

/* 1 and *view (pixels point into the segment: never write or free them) when key is cached, 0 when not. */
int shcache_get(shcache_t *c, uint64_t key, img_t *view);

/* Copy im in under key: 0 inserted (or being inserted by another process), 1 refused (full). */
int shcache_put(shcache_t *c, uint64_t key, const img_t *im);

void shcache_stats(const shcache_t *c, shcache_stats_t *s);

/* The default segment name of the augmenters that take jobs from `jobs_endpoint` as this user. */
void shcache_default_name(const char *jobs_endpoint, char *out, size_t cap);

#endif
