/* featuremaps.c: --feature-maps: every channel of the first conv and pooling layers for one image,
 * normalised as the tutorial does and coloured with viridis, one grid (16 channels a row) per layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/check.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "evaluator/eval.h"
#include "evaluator/featuremaps.h"
#include "image/grid.h"
#include "image/image.h"

/* The tutorial's display transform of one channel, in place:
 * x -= mean; x /= std (+1e-5); x *= 64; x += 128; clip to 0..255. */
static void normalise_channel(float *x, int n) {
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; i++) sum += x[i];
    double mean = sum / n;
    for (int i = 0; i < n; i++) sq += (x[i] - mean) * (x[i] - mean);
    double scale = 64.0 / (sqrt(sq / n) + 1e-5);
    for (int i = 0; i < n; i++) {
        double v = (x[i] - mean) * scale + 128.0;
        x[i] = (float)(v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : v);
    }
}

/* One layer's grid: channels of the NHWC map (n = 1) as tiles, FM_PER_ROW a row. */
static int save_layer(const nn_layer_t *l, const float *map, float *chan, const char *path) {
    int h = l->out_h, w = l->out_w, c = l->out_c, k = fm_tile_scale(h > w ? h : w);
    int cols = c < FM_PER_ROW ? c : FM_PER_ROW, rows = (c + FM_PER_ROW - 1) / FM_PER_ROW;
    grid_t *g = grid_new(cols, rows, w * k, h * k, FM_PAD);
    CHECK(g != NULL, "grid for %s", l->name);
    char title[128];
    snprintf(title, sizeof title, "%s (%dx%dx%d)", l->name, h, w, c);
    int rc = -1;
    TRY_GOTO(grid_set_title(g, title), done);
    for (int ch = 0; ch < c; ch++) {
        for (int i = 0; i < h * w; i++) chan[i] = map[(size_t)i * c + ch];
        normalise_channel(chan, h * w);
        TRY_GOTO(grid_put_gray_viridis(g, ch, chan, w, h, NULL), done);
    }
    TRY_GOTO(grid_save(g, path), done);
    rc = 0;
done:
    grid_destroy(&g);
    return rc;
}

int evaluator_feature_maps(const evaluator_config_t *c, const char *ckpt_path, const char *image,
                           const char *out_dir) {
    scorer_t s = {0};
    image_reader_t reader = {0};
    uint8_t *input = NULL;
    float *map = NULL, *chan = NULL;
    int rc = -1;
    TRY(mkdir_p(out_dir));
    TRY_GOTO(eval_load_checkpoint_file(c, ckpt_path, 1, &s, NULL, NULL, NULL, NULL), done);
    const nn_model_t *m = &s.model;
    CHECK_GOTO(m->in_c == 3, done, "model %s takes %d channels; images are RGB", m->name, m->in_c);

    /* The layers shown: the conv and pooling layers at the front, at most FM_MAX_LAYERS. */
    int n_layers = 0;
    size_t map_floats = 0;
    while (n_layers < m->n_layers && n_layers < FM_MAX_LAYERS &&
           (m->layers[n_layers].type == NN_CONV2D || m->layers[n_layers].type == NN_MAXPOOL2D)) {
        const nn_layer_t *l = &m->layers[n_layers++];
        size_t f = nn_layer_out_size(l);
        if (f > map_floats) map_floats = f;
    }
    CHECK_GOTO(n_layers > 0, done, "model %s does not start with a conv or pooling layer", m->name);
    input = malloc((size_t)m->in_h * m->in_w * 3);
    map = malloc(map_floats * sizeof *map);
    chan = malloc(map_floats * sizeof *chan);
    CHECK_GOTO(input && map && chan, done, "out of memory");

    TRY_GOTO(image_reader_read(&reader, image, m->in_h, m->in_w, input), done);
    char path[1024];
    snprintf(path, sizeof path, "%s/00_input.png", out_dir);
    TRY_GOTO(img_save_png(path, input, m->in_w, m->in_h), done);

    TRY_GOTO(scorer_logits(&s, input, 1, NULL), done);
    double p1 = 1.0 / (1.0 + exp(-(double)s.logits[0]));
    LOG_I("%s: p(class 1) = %.4f under %s", image, p1, ckpt_path);
    for (int i = 0; i < n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        TRY_GOTO(s.be->layer_output(s.ctx, i, map), done);
        snprintf(path, sizeof path, "%s/%02d_%s.png", out_dir, i + 1, l->name);
        TRY_GOTO(save_layer(l, map, chan, path), done);
        LOG_I("%s: %d channels of %dx%d", path, l->out_c, l->out_w, l->out_h);
    }
    rc = 0;
done:
    free(input);
    free(map);
    free(chan);
    image_reader_free(&reader);
    scorer_free(&s);
    return rc;
}
