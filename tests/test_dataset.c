/* test_dataset.c: indexing a folder tree like Keras flow_from_directory (sorted classes and files,
 * ignored extensions, errors), file keys, and tools/gen_dataset (layout, determinism, decodable),
 * plus the preview pictures. Arguments: the gen_dataset program and a scratch folder. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "common/fsutil.h"
#include "image/dataset.h"
#include "image/image.h"
#include "image/preview.h"
#include "test.h"
#include "testlib.h"

static const char *gen, *dir;

/* Create dir/rel (and its folders) holding text. */
static void touch(const char *rel, const char *text) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    int made = mkdir_p(p);
    *slash = '/';
    if (made != 0 || tl_write_text(p, text) != 0) fprintf(stderr, "  cannot write %s\n", p);
}

static char *at(const char *rel) {
    static char p[2][2048];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, rel);
    return p[k];
}

TEST(keras_order_and_labels) {
    static const char *files[] = {
        "tree/train/b_dogs/x.jpg", "tree/train/a_cats/b.jpg", "tree/train/a_cats/A.JPG", "tree/train/a_cats/c.jpeg",
        "tree/train/a_cats/d.PNG", "tree/train/a_cats/notes.txt", "tree/train/a_cats/.hidden.jpg",
        "tree/train/a_cats/sub/e.jpg", "tree/train/a_cats/sub/zz/f.png", "tree/train/a_cats/a.bmp",
        "tree/train/c_birds/y.png", "tree/train/c_birds/z.gif", "tree/train/readme.txt",
        "tree/train/.cache/w.jpg",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) touch(files[i], files[i]);
    ds_split_t s;
    int64_t ignored = -1;
    REQUIRE(ds_index(at("tree"), "train", 2, &s, &ignored) == 0);
    EXPECT(s.n_classes == 3);
    EXPECT(strcmp(s.classes[0], "a_cats") == 0 && strcmp(s.classes[1], "b_dogs") == 0 &&
           strcmp(s.classes[2], "c_birds") == 0);
    EXPECT(s.class_count[0] == 6 && s.class_count[1] == 1 && s.class_count[2] == 1);
    EXPECT(ignored == 3);   /* notes.txt, a.bmp, z.gif; hidden entries are skipped, not counted */
    static const char *want[] = {"train/a_cats/A.JPG", "train/a_cats/b.jpg", "train/a_cats/c.jpeg",
                                 "train/a_cats/d.PNG", "train/a_cats/sub/e.jpg", "train/a_cats/sub/zz/f.png",
                                 "train/b_dogs/x.jpg", "train/c_birds/y.png"};
    REQUIRE(s.n_files == 8);
    for (int i = 0; i < 8; i++) {
        EXPECT(strcmp(s.files[i].rel, want[i]) == 0);
        EXPECT(s.files[i].label == (i < 6 ? 0 : i == 6 ? 1 : 2));
        EXPECT(s.files[i].size == (int64_t)strlen("tree/") + (int64_t)strlen(want[i]));
        EXPECT(strcmp(s.files[i].path, at("tree/")) > 0 && strstr(s.files[i].path, want[i]) != NULL);
    }
    /* Keys: stable for an unchanged file, different for another file or a new mtime. */
    uint64_t k0 = s.files[0].key, k1 = s.files[1].key;
    EXPECT(k0 != k1);
    ds_split_t again;
    REQUIRE(ds_index(at("tree"), "train", 1, &again, NULL) == 0);
    EXPECT(again.files[0].key == k0);
    ds_free(&again);
    struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};
    REQUIRE(utimensat(AT_FDCWD, s.files[0].path, ts, 0) == 0);
    REQUIRE(ds_index(at("tree"), "train", 1, &again, NULL) == 0);
    EXPECT(again.files[0].key != k0 && again.files[1].key == k1);
    ds_free(&again);

    /* Keras' summary line on stdout. */
    fflush(stdout);
    int saved = dup(1), fd = open(at("summary.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    ds_print_summary(&s);
    fflush(stdout);
    dup2(saved, 1);
    close(fd);
    close(saved);
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    REQUIRE(ds_read_file(at("summary.txt"), &buf, &cap, &len) == 0);
    REQUIRE(len < cap || (buf = realloc(buf, len + 1)) != NULL);
    buf[len] = '\0';
    EXPECT(strncmp((char *)buf, "Found 8 images belonging to 3 classes.\n", 39) == 0);
    EXPECT(strstr((char *)buf, "a_cats: 6") != NULL);
    free(buf);
    ds_free(&s);
    EXPECT(s.files == NULL && s.n_files == 0);
}

static int index_fails(const char *root, const char *split, int min_classes, const char *reason) {
    ds_split_t s;
    if (ds_index(at(root), split, min_classes, &s, NULL) == 0) {
        ds_free(&s);
        return 0;
    }
    if (!strstr(err_msg(), reason)) fprintf(stderr, "  \"%s\" lacks \"%s\"\n", err_msg(), reason);
    return strstr(err_msg(), reason) != NULL;
}

TEST(index_errors) {
    touch("flat/train/a.jpg", "x");
    touch("one/train/cats/a.jpg", "x");
    touch("noimg/train/cats/a.txt", "x");
    touch("noimg/train/dogs/b.csv", "x");
    EXPECT(index_fails("nowhere", "train", 1, "does not exist"));
    EXPECT(index_fails("flat", "train", 1, "no class folders"));
    EXPECT(index_fails("one", "train", 2, "need at least 2"));
    EXPECT(index_fails("noimg", "train", 1, "no images"));
    ds_split_t s;
    EXPECT(ds_index(at("one"), "train", 1, &s, NULL) == 0);   /* one class is fine when allowed */
    ds_free(&s);
    EXPECT(ds_index(at("one/train"), NULL, 1, &s, NULL) == 0 && s.n_files == 1);   /* no split level */
    EXPECT(s.n_files == 1 && strcmp(s.files[0].rel, "cats/a.jpg") == 0);
    ds_free(&s);
}

TEST(read_file_reuses_its_buffer) {
    touch("r/big.bin", "0123456789abcdef0123456789abcdef");
    touch("r/small.bin", "hi");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    REQUIRE(ds_read_file(at("r/big.bin"), &buf, &cap, &len) == 0);
    EXPECT(len == 32 && cap >= 32 && memcmp(buf, "0123456789abcdef", 16) == 0);
    uint8_t *first = buf;
    REQUIRE(ds_read_file(at("r/small.bin"), &buf, &cap, &len) == 0);
    EXPECT(len == 2 && buf == first && memcmp(buf, "hi", 2) == 0);
    EXPECT(ds_read_file(at("r/none.bin"), &buf, &cap, &len) == -1);
    EXPECT(ds_read_file(at("r"), &buf, &cap, &len) == -1);   /* a folder */
    free(buf);
}

/* Compare every file of two generated trees byte for byte (via cmp -s over the file list). */
static int same_tree(const char *a, const char *b) {
    return tl_system("cd '%s' && find . -type f | sort > '%s.list' && cd '%s' && find . -type f | sort | "
                     "cmp -s - '%s.list' && while read f; do cmp -s \"$f\" '%s'/\"$f\" || exit 1; done < '%s.list'",
                     a, a, b, a, a, a) == 0;
}

TEST(gen_dataset_layout_determinism_and_previews) {
    const char *flags = "--train 3 --validation 1 --test 2";
    for (int i = 0; i < 3; i++) {
        REQUIRE(tl_system("rm -rf '%s/gen%d' && '%s' --out '%s/gen%d' --seed %d %s 2>/dev/null", dir, i, gen, dir, i,
                          i == 2 ? 8 : 7, flags) == 0);
    }
    EXPECT(same_tree(at("gen0"), at("gen1")));    /* same seed: identical bytes */
    EXPECT(!same_tree(at("gen0"), at("gen2")));   /* another seed: other pictures */
    EXPECT(tl_system("'%s' --seed 1 2>/dev/null", gen) == 2);   /* --out is required */

    static const char *splits[] = {"train", "validation", "test"};
    static const int per_class[] = {3, 1, 2};
    img_decode_opts_t o;
    img_decode_opts_default(&o, 150, 150);
    o.max_scale = 1000;   /* decode at full size to check the sizes drawn */
    img_t im = {0};
    for (int k = 0; k < 3; k++) {
        ds_split_t s;
        REQUIRE(ds_index(at("gen0"), splits[k], 2, &s, NULL) == 0);
        EXPECT(s.n_classes == 2 && strcmp(s.classes[0], "cats") == 0 && strcmp(s.classes[1], "dogs") == 0);
        EXPECT(s.class_count[0] == per_class[k] && s.class_count[1] == per_class[k]);
        for (int64_t i = 0; i < s.n_files; i++) {
            EXPECT(strstr(s.files[i].rel, s.files[i].label ? "/dogs/dog." : "/cats/cat.") != NULL);
            REQUIRE(img_decode_file(s.files[i].path, &o, &im) == 0);
            EXPECT(im.width >= 120 && im.width <= 500 && im.height >= 120 && im.height <= 500);
        }
        ds_free(&s);
    }
    EXPECT(access(at("gen0/validation/cats/cat.4.jpg"), F_OK) == 0);   /* numbers run on across splits */
    EXPECT(access(at("gen0/test/dogs/dog.6.jpg"), F_OK) == 0);

    aug_params_t p = {1, 40, 0.2, 0.2, 0.2, 0.8, 1.2, 1, 0, FILL_NEAREST, 0};
    REQUIRE(preview_grid(at("gen0/train"), at("grid.png"), 4, 1, &p) == 0);
    REQUIRE(img_decode_file(at("grid.png"), &o, &im) == 0);
    EXPECT(im.width == 4 + 2 * 154 && im.height == 22 + 4 + 2 * (150 + 14 + 4));
    REQUIRE(preview_augment(at("gen0/train/cats/cat.1.jpg"), at("augment.png"), &p, 1) == 0);
    REQUIRE(img_decode_file(at("augment.png"), &o, &im) == 0);
    EXPECT(im.width == 4 + 5 * 154 && im.height == 22 + 4 + 5 * 154);
    EXPECT(preview_augment(at("gen0/none.jpg"), at("x.png"), &p, 1) == -1);
    img_free(&im);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_dataset GEN_DATASET SCRATCH_DIR\n");
        return 2;
    }
    gen = argv[1];
    dir = argv[2];
    if (tl_rm_rf(dir) != 0 || mkdir_p(dir) != 0 || img_init(argv[0]) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    RUN(keras_order_and_labels);
    RUN(index_errors);
    RUN(read_file_reuses_its_buffer);
    RUN(gen_dataset_layout_determinism_and_previews);
    return TEST_SUMMARY();
}
