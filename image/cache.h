/* cache.h: decoded images kept in memory between epochs, keyed by a 64-bit content key
 * (ds_file_t.key), so later epochs skip the JPEG decode.
 *
 * Over the byte limit the cache stops inserting: what is in stays in, later images are decoded
 * every epoch (counted as refused inserts). No eviction: with a fixed epoch order an LRU would
 * evict every image just before it is needed again and only add churn. Not thread-safe: one cache
 * per augmenter process. */
#ifndef PAWPIPE_IMAGE_CACHE_H
#define PAWPIPE_IMAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

typedef struct img_cache img_cache_t;

typedef struct {
    int64_t hits;        /* lookups that found the image                              */
    int64_t misses;      /* lookups that did not                                      */
    int64_t refused;     /* inserts refused because the cache was at its byte limit   */
    int64_t entries;
    size_t bytes;        /* pixel bytes held                                          */
    size_t max_bytes;
} img_cache_stats_t;

/* max_bytes: limit on the pixel bytes held (0: cache nothing). NULL with err_msg() on failure. */
img_cache_t *img_cache_new(size_t max_bytes);
void img_cache_destroy(img_cache_t **c);   /* frees everything, nulls *c */

/* The cached image for key, or NULL (a miss). The pointer stays valid until the cache is destroyed. */
const img_t *img_cache_get(img_cache_t *c, uint64_t key);

/* Copy im into the cache under key, in memory allocated once for this entry. Returns 0 when
 * inserted (or already present), 1 when refused because it would pass the byte limit, -1 with
 * err_msg() when out of memory. */
int img_cache_put(img_cache_t *c, uint64_t key, const img_t *im);

void img_cache_stats(const img_cache_t *c, img_cache_stats_t *s);

#endif
