/* featuremaps.h: the layout of the feature-map pictures (tests check the PNG sizes against it). */
#ifndef PAWPIPE_EVAL_FEATUREMAPS_H
#define PAWPIPE_EVAL_FEATUREMAPS_H

#define FM_MAX_LAYERS 8   /* the tutorial shows the first eight layers: the conv and pooling ones */
#define FM_PER_ROW 16     /* channels per row of a grid                                         */
#define FM_MIN_TILE 64    /* small maps are enlarged by a whole factor to at least this size    */
#define FM_PAD 2          /* white pixels around and between tiles                              */

/* The enlargement factor of a map side pixels wide: ceil(FM_MIN_TILE / side), at least 1. */
static inline int fm_tile_scale(int side) { return side >= FM_MIN_TILE ? 1 : (FM_MIN_TILE + side - 1) / side; }

#endif
