/* craft_jpeg.c: JPEG files written byte by byte for the decode tests (see craft_jpeg.h). The markers
 * and the progressive coding are those of ITU T.81 (annex G); the one Huffman table per class holds
 * a single 1-bit code. */
#include "craft_jpeg.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int failed;
    uint32_t acc;   /* entropy-coded bits not yet written, and how many */
    int nacc;
} out_t;

static void put(out_t *o, uint8_t v) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 4096;
        uint8_t *p = realloc(o->p, cap);
        if (!p) {
            o->failed = 1;
            return;
        }
        o->p = p, o->cap = cap;
    }
    o->p[o->n++] = v;
}

static void put16(out_t *o, unsigned v) {
    put(o, (uint8_t)(v >> 8));
    put(o, (uint8_t)v);
}

/* n bits of v, most significant first, with 0xFF bytes stuffed (0xFF 0x00) as in entropy-coded data. */
static void put_bits(out_t *o, uint32_t v, int n) {
    for (int i = n - 1; i >= 0; i--) {
        o->acc = (o->acc << 1 | ((v >> i) & 1)) & 0xff;
        if (++o->nacc < 8) continue;
        put(o, (uint8_t)o->acc);
        if (o->acc == 0xff) put(o, 0x00);
        o->acc = 0, o->nacc = 0;
    }
}

static void end_scan(out_t *o) {   /* pad the last byte with 1 bits */
    while (o->nacc) put_bits(o, 1, 1);
}

/* A Huffman table (class 0 DC, 1 AC; id 0) with one symbol, coded as the 1-bit code "0". */
static void put_dht(out_t *o, int class, uint8_t symbol) {
    put16(o, 0xffc4);
    put16(o, 2 + 1 + 16 + 1);
    put(o, (uint8_t)(class << 4));
    put(o, 1);   /* one code of length 1 */
    for (int i = 1; i < 16; i++) put(o, 0);
    put(o, symbol);
}

/* A scan header for component 1: spectral band ss..se, successive approximation ah -> al. */
static void put_sos(out_t *o, int ss, int se, int ah, int al) {
    put16(o, 0xffda);
    put16(o, 8);
    put(o, 1);      /* one component */
    put(o, 1);      /* component 1, */
    put(o, 0x00);   /* DC table 0, AC table 0 */
    put(o, (uint8_t)ss);
    put(o, (uint8_t)se);
    put(o, (uint8_t)(ah << 4 | al));
}

uint8_t *craft_progressive_jpeg(int w, int h, int al_max, size_t *len) {
    if (w < 1 || h < 1 || w > 65535 || h > 65535 || al_max < 0 || al_max > 13) return NULL;
    out_t o = {0};
    put16(&o, 0xffd8);                                      /* SOI */
    put16(&o, 0xffdb), put16(&o, 67), put(&o, 0);           /* DQT: table 0, all 1 */
    for (int i = 0; i < 64; i++) put(&o, 1);
    put16(&o, 0xffc2), put16(&o, 11), put(&o, 8);           /* SOF2: progressive, 8 bits */
    put16(&o, (unsigned)h), put16(&o, (unsigned)w);
    put(&o, 1), put(&o, 1), put(&o, 0x11), put(&o, 0);      /* one component: 1x1 sampling, table 0 */
    put_dht(&o, 0, 0x00);   /* DC: difference category 0 (no change) */
    put_dht(&o, 1, 0xe0);   /* AC: EOB14, a run of 2^14 + 14 more bits end-of-bands */

    size_t blocks = (size_t)((w + 7) / 8) * (size_t)((h + 7) / 8);
    put_sos(&o, 0, 0, 0, 0);   /* DC, all bits: one "no change" code per block */
    for (size_t i = 0; i < blocks; i++) put_bits(&o, 0, 1);
    end_scan(&o);
    size_t runs = (blocks + 32766) / 32767;   /* the last run may go past the end: the scan ends there */
    for (int k = 1; k < 64; k++)
        for (int al = al_max; al >= 0; al--) {
            put_sos(&o, k, k, al == al_max ? 0 : al + 1, al);
            for (size_t r = 0; r < runs; r++) {
                put_bits(&o, 0, 1);                 /* EOB14 */
                put_bits(&o, 32767 - 16384, 14);    /* run 32767 */
            }
            end_scan(&o);
        }
    put16(&o, 0xffd9);   /* EOI */
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    *len = o.n;
    return o.p;
}
