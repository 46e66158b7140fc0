/* grid.c: tiles kept in one buffer, laid out with labels and a title (rendered by vips_text) on save. */
#include "image/grid.h"

#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "common/check.h"
#include "image/image.h"

struct grid {
    int cols, rows, tw, th, pad;
    uint8_t *tiles;    /* cols * rows tiles of tw x th x 3, tile after tile */
    char **labels;     /* one per tile, NULL for none */
    char *title;
};

#define LABEL_FONT "sans 9"
#define TITLE_FONT "sans bold 11"
#define LABEL_H 14
#define TITLE_H 22

grid_t *grid_new(int cols, int rows, int tile_w, int tile_h, int pad) {
    if (cols < 1 || rows < 1 || tile_w < 1 || tile_h < 1 || pad < 0 || (int64_t)cols * rows * tile_w * tile_h > 100000000) {
        err_set("bad grid: %d x %d tiles of %dx%d, pad %d", cols, rows, tile_w, tile_h, pad);
        return NULL;
    }
    grid_t *g = calloc(1, sizeof *g);
    size_t n = (size_t)cols * rows;
    if (!g || !(g->tiles = malloc(n * tile_w * tile_h * 3)) || !(g->labels = calloc(n, sizeof *g->labels))) {
        grid_destroy(&g);
        err_set("out of memory for a grid of %d x %d tiles of %dx%d", cols, rows, tile_w, tile_h);
        return NULL;
    }
    memset(g->tiles, 0xd0, n * tile_w * tile_h * 3);
    g->cols = cols, g->rows = rows, g->tw = tile_w, g->th = tile_h, g->pad = pad;
    return g;
}

void grid_destroy(grid_t **gp) {
    grid_t *g = *gp;
    if (!g) return;
    if (g->labels)
        for (int i = 0; i < g->cols * g->rows; i++) free(g->labels[i]);
    free(g->labels);
    free(g->tiles);
    free(g->title);
    free(g);
    *gp = NULL;
}

static int set_text(char **dst, const char *text) {
    free(*dst);
    *dst = NULL;
    if (text && text[0]) CHECK((*dst = strdup(text)) != NULL, "out of memory for a label");
    return 0;
}

int grid_set_title(grid_t *g, const char *title) { return set_text(&g->title, title); }

static uint8_t *tile_at(const grid_t *g, int i) { return g->tiles + (size_t)i * g->tw * g->th * 3; }

int grid_put(grid_t *g, int i, const uint8_t *rgb, const char *label) {
    CHECK(i >= 0 && i < g->cols * g->rows, "tile %d is outside the %d x %d grid", i, g->cols, g->rows);
    memcpy(tile_at(g, i), rgb, (size_t)g->tw * g->th * 3);
    return set_text(&g->labels[i], label);
}

/* Viridis at nine evenly spaced stops (matplotlib's map sampled at 0, 1/8, ..., 1), interpolated. */
void grid_viridis(float v, uint8_t rgb[3]) {
    static const uint8_t stops[9][3] = {
        {0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b}, {0x2c, 0x72, 0x8e}, {0x21, 0x90, 0x8c},
        {0x27, 0xad, 0x81}, {0x5d, 0xc8, 0x63}, {0xaa, 0xdc, 0x32}, {0xfd, 0xe7, 0x25},
    };
    float x = (v != v ? 0.0f : v < 0 ? 0.0f : v > 255 ? 255.0f : v) * (8.0f / 255.0f);
    int k = (int)x;
    if (k > 7) k = 7;
    float f = x - (float)k;
    for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)(stops[k][c] + f * (stops[k + 1][c] - stops[k][c]) + 0.5f);
}

int grid_put_gray_viridis(grid_t *g, int i, const float *values, int w, int h, const char *label) {
    CHECK(i >= 0 && i < g->cols * g->rows, "tile %d is outside the %d x %d grid", i, g->cols, g->rows);
    CHECK(w > 0 && h > 0, "empty %dx%d map", w, h);
    uint8_t *t = tile_at(g, i);
    for (int y = 0; y < g->th; y++) {
        int sy = (int)((int64_t)y * h / g->th);
        for (int x = 0; x < g->tw; x++) {
            int sx = (int)((int64_t)x * w / g->tw);
            grid_viridis(values[(size_t)sy * w + sx], t + ((size_t)y * g->tw + x) * 3);
        }
    }
    return set_text(&g->labels[i], label);
}

/* Render text in dark grey onto the canvas at (x, y), clipped to max_w x max_h. */
static int draw_text(uint8_t *canvas, int cw, int ch, int x, int y, int max_w, int max_h, const char *text,
                     const char *font) {
    VipsImage *mask = NULL;
    if (vips_text(&mask, text, "font", font, NULL) != 0) {
        char what[160];
        snprintf(what, sizeof what, "rendering text \"%s\"", text);
        img_vips_fail(what);
        return -1;
    }
    size_t n = 0;
    uint8_t *a = vips_image_write_to_memory(mask, &n);
    int mw = mask->Xsize, mh = mask->Ysize, bands = mask->Bands;
    g_object_unref(mask);
    if (!a) {
        char what[160];
        snprintf(what, sizeof what, "rendering text \"%s\"", text);
        img_vips_fail(what);
        return -1;
    }
    int oy = y + (max_h > mh ? (max_h - mh) / 2 : 0);
    for (int r = 0; r < mh && r < max_h && oy + r < ch; r++)
        for (int c = 0; c < mw && c < max_w && x + c < cw; c++) {
            int alpha = a[((size_t)r * mw + c) * bands];
            uint8_t *p = canvas + ((size_t)(oy + r) * cw + x + c) * 3;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)((p[k] * (255 - alpha) + 0x20 * alpha + 127) / 255);
        }
    g_free(a);
    return 0;
}

int grid_save(const grid_t *g, const char *path) {
    int label_h = 0;
    for (int i = 0; i < g->cols * g->rows; i++)
        if (g->labels[i]) label_h = LABEL_H;
    int title_h = g->title ? TITLE_H : 0;
    int cell_w = g->tw + g->pad, cell_h = g->th + label_h + g->pad;
    int cw = g->pad + g->cols * cell_w, ch = title_h + g->pad + g->rows * cell_h;
    uint8_t *canvas = malloc((size_t)cw * ch * 3);
    CHECK(canvas != NULL, "out of memory for a %dx%d picture", cw, ch);
    memset(canvas, 0xff, (size_t)cw * ch * 3);
    int rc = -1;
    if (g->title && draw_text(canvas, cw, ch, g->pad, 0, cw - g->pad, title_h, g->title, TITLE_FONT) != 0) goto done;
    for (int i = 0; i < g->cols * g->rows; i++) {
        int x = g->pad + (i % g->cols) * cell_w, y = title_h + g->pad + (i / g->cols) * cell_h;
        const uint8_t *t = tile_at(g, i);
        for (int r = 0; r < g->th; r++)
            memcpy(canvas + ((size_t)(y + r) * cw + x) * 3, t + (size_t)r * g->tw * 3, (size_t)g->tw * 3);
        if (g->labels[i] && draw_text(canvas, cw, ch, x, y + g->th, g->tw, label_h, g->labels[i], LABEL_FONT) != 0)
            goto done;
    }
    rc = img_save_png(path, canvas, cw, ch);
done:
    free(canvas);
    return rc;
}
