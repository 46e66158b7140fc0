/* craft_jpeg.h: JPEG files written byte by byte for the decode tests, shapes no encoder makes. */
#ifndef PAWPIPE_CRAFT_JPEG_H
#define PAWPIPE_CRAFT_JPEG_H

#include <stddef.h>
#include <stdint.h>

/* A valid grey progressive JPEG of w x h (at most 65535 each) where every coefficient is 0 (a uniform
 * mid-grey, 128), sent in as many scans as the format allows for al_max: one DC scan, then for each
 * of the 63 AC coefficients a first scan at bit al_max and a refinement scan for each lower bit:
 * 1 + 63 * (al_max + 1) scans (al_max 0..13: 64 to 883). Each scan is a few bytes (end-of-band runs
 * of 32767 blocks), so the file stays small however large w x h is, while libjpeg goes over every
 * block once per scan. malloc'd, *len bytes; NULL when out of memory or al_max is out of range. */
uint8_t *craft_progressive_jpeg(int w, int h, int al_max, size_t *len);

#endif
