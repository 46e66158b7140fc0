/* flight.c: the loader's items in flight (a ring in stream order plus a pool of job frames allocated
 * once) and the order of the stream's items (batches, END_EPOCH, END_RUN). */
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "loader/internal.h"

int flight_init(flight_t *f, int window) {
    memset(f, 0, sizeof *f);
    CHECK(window >= 1, "window %d", window);
    f->window = window;
    f->cap = 2 * window + 2;
    f->items = calloc((size_t)f->cap, sizeof *f->items);
    f->pool = calloc((size_t)window, sizeof *f->pool);
    f->free_bufs = calloc((size_t)window, sizeof *f->free_bufs);
    CHECK(f->items && f->pool && f->free_bufs, "out of memory");
    flight_clear(f);
    return 0;
}

void flight_free(flight_t *f) {
    if (f->pool)
        for (int i = 0; i < f->window; i++) proto_buf_free(&f->pool[i]);
    free(f->items);
    free(f->pool);
    free(f->free_bufs);
    memset(f, 0, sizeof *f);
}

void flight_clear(flight_t *f) {
    f->head = f->count = 0;
    f->n_free = f->window;
    for (int i = 0; i < f->window; i++) f->free_bufs[i] = f->window - 1 - i;
}

item_t *flight_at(flight_t *f, int i) { return &f->items[(f->head + i) % f->cap]; }

int flight_batches(const flight_t *f) { return f->window - f->n_free; }

item_t *flight_push(flight_t *f, const pos_t *pos) {
    if (f->count == f->cap) return NULL;
    if (pos->kind == ITEM_BATCH && f->n_free == 0) return NULL;
    item_t *it = &f->items[(f->head + f->count) % f->cap];
    f->count++;
    memset(it, 0, sizeof *it);
    it->pos = *pos;
    it->buf = pos->kind == ITEM_BATCH ? f->free_bufs[--f->n_free] : -1;
    return it;
}

item_t *flight_find(flight_t *f, item_kind_t kind, uint64_t seq) {
    for (int i = 0; i < f->count; i++) {
        item_t *it = flight_at(f, i);
        if (it->pos.kind == kind && it->pos.seq == seq) return it;
    }
    return NULL;
}

int flight_pop_acked(flight_t *f) {
    int n = 0;
    while (f->count > 0 && f->items[f->head].acked) {
        item_t *it = &f->items[f->head];
        if (it->buf >= 0) f->free_bufs[f->n_free++] = it->buf;
        it->buf = -1;
        f->head = (f->head + 1) % f->cap;
        f->count--;
        n++;
    }
    return n;
}

pos_t pos_first(const geom_t *g, uint64_t start_seq) {
    uint64_t end = (uint64_t)g->epochs * g->steps;
    pos_t p = {ITEM_BATCH, start_seq, (uint32_t)(start_seq / g->steps), (uint32_t)(start_seq % g->steps)};
    if (start_seq >= end) p = (pos_t){ITEM_END_RUN, start_seq, g->epochs ? g->epochs - 1 : 0, 0};
    return p;
}

pos_t pos_next(const geom_t *g, const pos_t *p) {
    switch (p->kind) {
    case ITEM_BATCH:
        if ((p->seq + 1) % g->steps == 0) return (pos_t){ITEM_END_EPOCH, p->seq + 1, p->epoch, 0};
        return (pos_t){ITEM_BATCH, p->seq + 1, p->epoch, p->step + 1};
    case ITEM_END_EPOCH:
        if (p->epoch + 1 >= g->epochs) return (pos_t){ITEM_END_RUN, p->seq, p->epoch, 0};
        return (pos_t){ITEM_BATCH, p->seq, p->epoch + 1, 0};
    default:
        return (pos_t){ITEM_DONE, p->seq, p->epoch, 0};
    }
}
