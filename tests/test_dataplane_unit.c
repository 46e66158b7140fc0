/* test_dataplane_unit.c: the data plane's parts without sockets: the sample plan (Keras' shuffled
 * infinite iterator), the order of the stream's items, the loader's window bookkeeping, and the
 * augmenter's work on one job (cache, bad inputs replaced and counted, determinism). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "augmenter/augmenter.h"
#include "augmenter/shcache.h"
#include "common/check.h"
#include "common/rng.h"
#include "dataplane_fixtures.h"
#include "image/image.h"
#include "loader/internal.h"
#include "test.h"
#include "testlib.h"

TEST(plan_passes_are_permutations_cut_keras_style) {
    plan_t p;
    REQUIRE(plan_init(&p, 45, 8, 1234) == 0);
    EXPECT(p.per_pass == 6);
    uint32_t ids[8];
    uint64_t seeds[8];
    int seen[3][45];
    memset(seen, 0, sizeof seen);
    uint32_t first_of_pass[3] = {0};
    for (uint64_t x = 0; x < 18; x++) {
        int n = plan_batch(&p, x, ids, seeds);
        int64_t pass = plan_pass_of(&p, x);
        EXPECT(n == (x % 6 == 5 ? 5 : 8));   /* the last batch of each pass is partial */
        for (int k = 0; k < n; k++) {
            EXPECT(ids[k] < 45);
            if (ids[k] < 45) seen[pass][ids[k]]++;
            EXPECT(seeds[k] == rng_derive3(1234, (uint64_t)pass, ids[k]));
        }
        if (x % 6 == 0) first_of_pass[pass] = ids[0] * 1000 + ids[1];
    }
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < 45; i++) EXPECT(seen[pass][i] == 1);
    EXPECT(first_of_pass[0] != first_of_pass[1] || first_of_pass[1] != first_of_pass[2]);   /* reshuffled */
    plan_free(&p);
}

TEST(plan_is_a_pure_function_of_seed_and_batch) {
    plan_t a, b, c;
    REQUIRE(plan_init(&a, 100, 7, 5) == 0);
    REQUIRE(plan_init(&b, 100, 7, 5) == 0);
    REQUIRE(plan_init(&c, 100, 7, 6) == 0);
    uint32_t ia[7], ib[7], ic[7];
    uint64_t sa[7], sb[7], sc[7];
    /* random access in another order gives the same batch */
    plan_batch(&b, 40, ib, sb);
    plan_batch(&b, 3, ib, sb);
    int na = plan_batch(&a, 3, ia, sa), nb = plan_batch(&b, 3, ib, sb);
    EXPECT(na == nb && memcmp(ia, ib, sizeof ia) == 0 && memcmp(sa, sb, sizeof sa) == 0);
    plan_batch(&c, 3, ic, sc);
    EXPECT(memcmp(ia, ic, sizeof ia) != 0);   /* another seed, another order */
    plan_free(&a), plan_free(&b), plan_free(&c);
}

static void expect_order(const geom_t *g, uint64_t start, const char *want) {
    char got[256] = "";
    pos_t p = pos_first(g, start);
    for (int i = 0; i < 30 && p.kind != ITEM_DONE; i++, p = pos_next(g, &p)) {
        char one[32];
        const char *k = p.kind == ITEM_BATCH ? "B" : p.kind == ITEM_END_EPOCH ? "E" : "R";
        snprintf(one, sizeof one, "%s%s%llu/%u", got[0] ? " " : "", k, (unsigned long long)p.seq,
                 p.kind == ITEM_BATCH ? p.step : p.epoch);
        strcat(got, one);
    }
    if (strcmp(got, want) != 0) fprintf(stderr, "  order from %llu: got '%s', want '%s'\n", (unsigned long long)start, got, want);
    EXPECT(strcmp(got, want) == 0);
}

TEST(stream_order_batches_then_markers) {
    geom_t g = {2, 3};   /* B<seq>/<step>, E<seq>/<epoch>, R<seq>/<epoch> */
    expect_order(&g, 0, "B0/0 B1/1 B2/2 E3/0 B3/0 B4/1 B5/2 E6/1 R6/1");
    expect_order(&g, 4, "B4/1 B5/2 E6/1 R6/1");
    expect_order(&g, 3, "B3/0 B4/1 B5/2 E6/1 R6/1");   /* a START at an epoch's first batch skips its END_EPOCH */
    expect_order(&g, 6, "R6/1");
    geom_t one = {2, 1};
    expect_order(&one, 0, "B0/0 E1/0 B1/0 E2/1 R2/1");
}

TEST(flight_holds_at_most_window_jobs) {
    flight_t f;
    REQUIRE(flight_init(&f, 3) == 0);
    geom_t g = {5, 2};
    pos_t p = pos_first(&g, 0);
    int pushed = 0;
    while (flight_push(&f, &p)) pushed++, p = pos_next(&g, &p);
    EXPECT(flight_batches(&f) == 3);   /* B0 B1 E2 B2: the fourth batch finds no frame */
    EXPECT(pushed == 4);
    EXPECT(flight_find(&f, ITEM_END_EPOCH, 2) != NULL);
    EXPECT(flight_find(&f, ITEM_BATCH, 1) != NULL);
    flight_find(&f, ITEM_BATCH, 1)->acked = 1;
    EXPECT(flight_pop_acked(&f) == 0);   /* the oldest is not acknowledged yet */
    flight_find(&f, ITEM_BATCH, 0)->acked = 1;
    EXPECT(flight_pop_acked(&f) == 2);
    EXPECT(flight_batches(&f) == 1);
    EXPECT(flight_push(&f, &p) != NULL);
    flight_clear(&f);
    EXPECT(f.count == 0 && flight_batches(&f) == 0);
    flight_free(&f);
}

static uint8_t *enc(int w, int h, int bands, int cmyk, const char *fmt, uint32_t pat, size_t *len) {
    uint8_t *p = NULL;
    if (dpf_encode(w, h, bands, cmyk, fmt, pat, &p, len) != 0) return NULL;
    return p;
}

/* One job over in-memory files: good ones, then every bad case. */
static dpf_job_t *make_job(void) {
    dpf_job_t *t = calloc(1, sizeof *t);
    t->seed = 99, t->key = 777;
    t->job.seq = 5;
    t->job.height = t->job.width = 24;
    t->job.aug = (aug_params_t){.enabled = 1, .rotation_range = 40, .width_shift_range = 0.2,
                                .height_shift_range = 0.2, .shear_range = 0.2, .zoom_lo = 0.8, .zoom_hi = 1.2,
                                .horizontal_flip = 1, .fill_mode = FILL_NEAREST};
    size_t len;
    uint8_t *p;
    p = enc(60, 40, 3, 0, "jpg", 1, &len), dpf_job_add(t, "good0.jpg", p, len, 0);
    dpf_job_add(t, "bad_empty.jpg", NULL, 0, 1);                                  /* empty      */
    p = enc(60, 40, 3, 0, "jpg", 2, &len), dpf_job_add(t, "bad_truncated.jpg", p, len / 3, 2);   /* truncated */
    p = (uint8_t *)strdup("plain text, not a JPEG"), dpf_job_add(t, "bad_text.jpg", p, strlen((char *)p), 3);
    p = enc(400, 300, 3, 0, "jpg", 3, &len), dpf_job_add(t, "bad_big.jpg", p, len, 4);    /* over the limit */
    p = enc(50, 40, 1, 0, "jpg", 4, &len), dpf_job_add(t, "grey.jpg", p, len, 5);
    p = enc(50, 40, 4, 1, "jpg", 5, &len), dpf_job_add(t, "cmyk.jpg", p, len, 6);
    p = enc(50, 40, 4, 0, "png", 6, &len), dpf_job_add(t, "rgba.png", p, len, 7);
    p = enc(50, 40, 3, 0, "png", 7, &len), dpf_job_add(t, "png_named.jpg", p, len, 8);
    p = enc(1, 1, 3, 0, "jpg", 8, &len), dpf_job_add(t, "one.jpg", p, len, 9);
    p = enc(60, 40, 3, 0, "jpg", 9, &len), dpf_job_add(t, "good10.jpg", p, len, 10);
    return t;
}

TEST(worker_replaces_bad_members_and_says_so_once) {
    dpf_job_t *t = make_job();
    for (uint32_t i = 0; i < t->job.n_members; i++)
        if (i != 1) REQUIRE(t->job.members[i].data != NULL);
    worker_t *w = NULL;
    REQUIRE(worker_new(64 << 20, NULL, 100000, &w) == 0);   /* 400x300 = 120000 pixels: over */
    proto_batch_t b;
    REQUIRE(worker_do_job(w, &t->job, &b) == 0);
    EXPECT(b.n == 11);                 /* the batch stays full */
    EXPECT(b.skipped == 4);            /* empty, truncated, text, over the limit */
    EXPECT(b.images_len == 11u * 24 * 24 * 3);
    /* each bad member is replaced by the next usable one: 1..4 -> 5 (grey) */
    uint32_t want_ids[11] = {0, 5, 5, 5, 5, 5, 6, 7, 8, 9, 10};
    for (int i = 0; i < 11; i++) {
        EXPECT(b.ids[i] == want_ids[i]);
        EXPECT(b.labels[i] == want_ids[i] % 2);
    }
    /* replaced members keep their own seed: slot 1 and slot 5 show the same image differently */
    EXPECT(memcmp(b.images + 1 * 24 * 24 * 3, b.images + 5 * 24 * 24 * 3, 24 * 24 * 3) != 0);
    worker_stats_t s;
    worker_stats(w, &s);
    EXPECT(s.decode_failures == 4);
    /* the next epoch: the bad files are neither decoded nor warned about again; the rest is cached */
    REQUIRE(worker_do_job(w, &t->job, &b) == 0);
    worker_stats(w, &s);
    EXPECT(s.decode_failures == 4);
    EXPECT(s.decodes == 11);           /* one attempt per file, all in the first job */
    EXPECT(s.cache.hits >= 7);
    EXPECT(s.skipped == 8);
    worker_destroy(&w);
    dpf_job_free(t);
}

TEST(worker_output_does_not_depend_on_the_cache) {
    dpf_job_t *t = make_job();
    worker_t *cached = NULL, *uncached = NULL, *tiny = NULL;
    REQUIRE(worker_new(64 << 20, NULL, 100000, &cached) == 0);
    REQUIRE(worker_new(0, NULL, 100000, &uncached) == 0);
    REQUIRE(worker_new(8000, NULL, 100000, &tiny) == 0);   /* room for one or two images: over its limit */
    size_t bytes = (size_t)t->job.n_members * 24 * 24 * 3;
    uint8_t *ref = malloc(bytes);
    proto_batch_t b;
    REQUIRE(worker_do_job(cached, &t->job, &b) == 0);
    memcpy(ref, b.images, bytes);
    REQUIRE(worker_do_job(cached, &t->job, &b) == 0);   /* from the cache */
    EXPECT(memcmp(ref, b.images, bytes) == 0);
    REQUIRE(worker_do_job(uncached, &t->job, &b) == 0);
    EXPECT(memcmp(ref, b.images, bytes) == 0);
    for (int k = 0; k < 2; k++) {
        REQUIRE(worker_do_job(tiny, &t->job, &b) == 0);
        EXPECT(memcmp(ref, b.images, bytes) == 0);
    }
    worker_stats_t s;
    worker_stats(tiny, &s);
    EXPECT(s.cache.refused > 0);
    EXPECT(s.cache.bytes <= 8000);
    /* another seed for one member changes that member's image only */
    t->job.members[0].seed ^= 1;
    REQUIRE(worker_do_job(uncached, &t->job, &b) == 0);
    EXPECT(memcmp(ref, b.images, 24 * 24 * 3) != 0);
    EXPECT(memcmp(ref + 24 * 24 * 3, b.images + 24 * 24 * 3, bytes - 24 * 24 * 3) == 0);
    free(ref);
    worker_destroy(&cached), worker_destroy(&uncached), worker_destroy(&tiny);
    dpf_job_free(t);
}

TEST(worker_marks_the_whole_batch_skipped_when_nothing_is_usable) {
    dpf_job_t *t = calloc(1, sizeof *t);
    t->seed = 99, t->key = 777;
    t->job.height = t->job.width = 16;
    dpf_job_add(t, "a.jpg", NULL, 0, 0);
    dpf_job_add(t, "b.jpg", (uint8_t *)strdup("nope"), 4, 1);
    worker_t *w = NULL;
    REQUIRE(worker_new(1 << 20, NULL, 1000000, &w) == 0);
    proto_batch_t b;
    REQUIRE(worker_do_job(w, &t->job, &b) == 0);
    EXPECT(b.n == 2);
    EXPECT(b.skipped == 2);   /* all of them: the trainer's stream drops it */
    EXPECT(b.images_len == 2u * 16 * 16 * 3);
    EXPECT(b.ids[0] == 0 && b.ids[1] == 1);
    worker_destroy(&w);
    dpf_job_free(t);
}

static img_t pattern_image(int w, int h, uint8_t seed) {
    img_t im = {w, h, malloc((size_t)w * h * 3), (size_t)w * h * 3};
    for (size_t i = 0; i < im.cap; i++) im.pixels[i] = (uint8_t)(i * 7 + seed);
    return im;
}

static int shm_exists(const char *name) {
    char path[200];
    snprintf(path, sizeof path, "/dev/shm%s", name);
    return access(path, F_OK) == 0;
}

TEST(shared_cache_is_shared_between_processes_and_removed_by_the_last) {
    char name[64];
    snprintf(name, sizeof name, "/pawpipe-unit-%d", (int)getpid());
    shcache_t *a = NULL;
    REQUIRE(shcache_open(name, 1 << 20, &a) == 0);
    img_t im = pattern_image(40, 30, 3), view;
    EXPECT(shcache_get(a, 42, &view) == 0);
    pid_t child = fork();
    if (child == 0) {   /* another augmenter: attaches, inserts, detaches */
        shcache_t *b = NULL;
        int ok = shcache_open(name, 1 << 20, &b) == 0 && shcache_put(b, 42, &im) == 0;
        shcache_close(&b);
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    EXPECT(child > 0 && tl_wait(child, 30000, &status) == 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT(shm_exists(name));   /* still attached here */
    REQUIRE(shcache_get(a, 42, &view) == 1);
    EXPECT(view.width == 40 && view.height == 30 && memcmp(view.pixels, im.pixels, im.cap) == 0);
    EXPECT(shcache_put(a, 42, &im) == 0);   /* already in */
    shcache_stats_t st;
    shcache_stats(a, &st);
    EXPECT(st.entries == 1 && st.hits == 1 && st.misses == 1 && st.inserted == 0);
    shcache_close(&a);
    EXPECT(!shm_exists(name));   /* the last one out removed it */
    free(im.pixels);
}

/* A cache asked for more than /dev/shm can spare (a container's is 64 MiB) gets at most half of what
 * is free there, and still works. */
TEST(shared_cache_fits_a_small_dev_shm) {
    struct statvfs vfs;
    REQUIRE(statvfs("/dev/shm", &vfs) == 0);
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    char name[64];
    snprintf(name, sizeof name, "/pawpipe-unit-big-%d", (int)getpid());
    shcache_t *c = NULL;
    size_t asked = (size_t)(avail + (1ull << 30));   /* more than there is */
    REQUIRE(shcache_open(name, asked, &c) == 0);
    shcache_stats_t st;
    shcache_stats(c, &st);
    EXPECT(st.max_bytes <= avail / 2 && st.max_bytes >= avail / 4);
    img_t im = pattern_image(40, 30, 3), view;
    EXPECT(shcache_put(c, 7, &im) == 0 && shcache_get(c, 7, &view) == 1);
    shcache_close(&c);
    free(im.pixels);
}

TEST(shared_cache_refuses_over_its_limit) {
    char name[64];
    snprintf(name, sizeof name, "/pawpipe-unit-full-%d", (int)getpid());
    shcache_t *c = NULL;
    REQUIRE(shcache_open(name, 8000, &c) == 0);   /* two 40x30 images (3648 bytes each, aligned) */
    img_t im = pattern_image(40, 30, 5), view;
    EXPECT(shcache_put(c, 1, &im) == 0);
    EXPECT(shcache_put(c, 2, &im) == 0);
    EXPECT(shcache_put(c, 3, &im) == 1);
    EXPECT(shcache_get(c, 1, &view) == 1 && shcache_get(c, 2, &view) == 1 && shcache_get(c, 3, &view) == 0);
    shcache_stats_t st;
    shcache_stats(c, &st);
    EXPECT(st.entries == 2 && st.refused == 1 && st.bytes <= 8000);
    shcache_close(&c);
    free(im.pixels);
}

TEST(shared_cache_replaces_a_segment_its_creator_never_finished) {
    char name[64];
    snprintf(name, sizeof name, "/pawpipe-unit-stale-%d", (int)getpid());
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);   /* a creator killed before laying it out */
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 8192) == 0);
    close(fd);
    shcache_t *c = NULL;
    REQUIRE(shcache_open(name, 1 << 20, &c) == 0);
    img_t im = pattern_image(8, 8, 1), view;
    EXPECT(shcache_put(c, 9, &im) == 0 && shcache_get(c, 9, &view) == 1);
    shcache_close(&c);
    EXPECT(!shm_exists(name));
    free(im.pixels);
}

TEST(worker_with_a_shared_cache_gives_the_same_bytes) {
    char name[64];
    snprintf(name, sizeof name, "/pawpipe-unit-worker-%d", (int)getpid());
    dpf_job_t *t = make_job();
    worker_t *priv = NULL, *sh1 = NULL, *sh2 = NULL;
    REQUIRE(worker_new(64 << 20, NULL, 100000, &priv) == 0);
    REQUIRE(worker_new(64 << 20, name, 100000, &sh1) == 0);
    REQUIRE(worker_new(64 << 20, name, 100000, &sh2) == 0);
    size_t bytes = (size_t)t->job.n_members * 24 * 24 * 3;
    uint8_t *ref = malloc(bytes);
    proto_batch_t b;
    REQUIRE(worker_do_job(priv, &t->job, &b) == 0);
    memcpy(ref, b.images, bytes);
    REQUIRE(worker_do_job(sh1, &t->job, &b) == 0);
    EXPECT(memcmp(ref, b.images, bytes) == 0);
    REQUIRE(worker_do_job(sh2, &t->job, &b) == 0);   /* every usable image from sh1's decodes */
    EXPECT(memcmp(ref, b.images, bytes) == 0);
    worker_stats_t s1, s2;
    worker_stats(sh1, &s1);
    worker_stats(sh2, &s2);
    EXPECT(s1.shared && s2.shared);
    EXPECT(s1.decodes == 11);
    EXPECT(s2.decodes == 4);   /* only the unusable files, which each augmenter finds out (and says) itself */
    free(ref);
    worker_destroy(&priv), worker_destroy(&sh1), worker_destroy(&sh2);
    EXPECT(!shm_exists(name));
    dpf_job_free(t);
}

int main(int argc, char **argv) {
    (void)argc;
    if (img_init(argv[0]) != 0) {
        fprintf(stderr, "img_init: %s\n", err_msg());
        return 1;
    }
    RUN(plan_passes_are_permutations_cut_keras_style);
    RUN(plan_is_a_pure_function_of_seed_and_batch);
    RUN(stream_order_batches_then_markers);
    RUN(flight_holds_at_most_window_jobs);
    RUN(worker_replaces_bad_members_and_says_so_once);
    RUN(worker_output_does_not_depend_on_the_cache);
    RUN(worker_marks_the_whole_batch_skipped_when_nothing_is_usable);
    RUN(shared_cache_is_shared_between_processes_and_removed_by_the_last);
    RUN(shared_cache_fits_a_small_dev_shm);
    RUN(shared_cache_refuses_over_its_limit);
    RUN(shared_cache_replaces_a_segment_its_creator_never_finished);
    RUN(worker_with_a_shared_cache_gives_the_same_bytes);
    return TEST_SUMMARY();
}
