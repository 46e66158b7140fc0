/* grid.h: pictures made of tiles: a grid of RGB (or viridis-coloured single-channel) tiles, each
 * with an optional text label under it and an optional title line above the grid, saved as PNG.
 * Used by the augmenter's previews and the evaluator's feature-map pictures. Not a hot path. */
#ifndef PAWPIPE_IMAGE_GRID_H
#define PAWPIPE_IMAGE_GRID_H

#include <stdint.h>

typedef struct grid grid_t;

/* cols x rows tiles of tile_w x tile_h pixels, pad pixels of white around and between them.
 * NULL with err_msg() on bad sizes or no memory. Tiles not put stay light grey. */
grid_t *grid_new(int cols, int rows, int tile_w, int tile_h, int pad);
void grid_destroy(grid_t **g);   /* nulls *g */

/* A title line above the grid (copied; NULL or "" for none). */
int grid_set_title(grid_t *g, const char *title);

/* Tile i (row-major, 0 .. cols*rows-1): rgb is tile_w x tile_h x 3, HWC. label: text under the
 * tile (copied; NULL for none). 0, or -1 with err_msg() for a bad index. */
int grid_put(grid_t *g, int i, const uint8_t *rgb, const char *label);

/* Tile i from a single channel of w x h values already normalised to 0..255 (clamped), coloured
 * with the viridis map and scaled to the tile size (nearest neighbour, so small maps stay crisp). */
int grid_put_gray_viridis(grid_t *g, int i, const float *values, int w, int h, const char *label);

/* The viridis colour of v in 0..255 (clamped). */
void grid_viridis(float v, uint8_t rgb[3]);

/* Lay out the title, tiles and labels and write a PNG. 0, or -1 with err_msg(). */
int grid_save(const grid_t *g, const char *path);

#endif
