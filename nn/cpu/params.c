/* params.c: the oneDNN backend's parameter, gradient and RMSprop buffers. Each kernel is stored in
 * the layout its primitives chose, each bias plain, at the same offsets in all three buffers, so the
 * update is one pass; reorders to and from the model layout (HWIO, (in, out)) run only in
 * set_params, get_params and get_grads. */
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "nn/cpu/cpu.h"

static int has_params(const cpu_layer_t *l) { return l->spec->type == NN_CONV2D || l->spec->type == NN_DENSE; }

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }   /* 64-byte aligned offsets */

int cpu_params_build(cpu_ctx_t *c) {
    size_t off = 0;
    for (int i = 0; i < c->m.n_layers; i++) {
        cpu_layer_t *l = &c->layers[i];
        if (!has_params(l)) continue;
        const nn_layer_t *s = l->spec;
        CHECK(cpu_md_floats(&l->w_user_md) == s->w_count, "cpu: %s: kernel size %zu, model says %zu", s->name,
              cpu_md_floats(&l->w_user_md), s->w_count);
        CHECK(cpu_md_floats(&l->b_md) == s->b_count, "cpu: %s: bias size", s->name);
        l->w_ioff = off;
        off += round16(cpu_md_floats(&l->w_md));
        l->b_ioff = off;
        off += round16(s->b_count);
    }
    c->n_int = off ? off : 16;
    size_t bytes = c->n_int * sizeof(float);
    c->P = aligned_alloc(64, bytes);
    c->G = aligned_alloc(64, bytes);
    c->R = aligned_alloc(64, bytes);
    CHECK(c->P && c->G && c->R, "cpu: out of memory for %zu parameters", c->n_int);
    memset(c->P, 0, bytes);   /* the gaps and any layout padding stay 0 through every update */
    memset(c->G, 0, bytes);
    memset(c->R, 0, bytes);
    for (int i = 0; i < c->m.n_layers; i++) {
        cpu_layer_t *l = &c->layers[i];
        if (!has_params(l)) continue;
        DNNL_TRY(dnnl_memory_set_data_handle(l->w, c->P + l->w_ioff));
        DNNL_TRY(dnnl_memory_set_data_handle(l->dw, c->G + l->w_ioff));
        DNNL_TRY(dnnl_memory_set_data_handle(l->b, c->P + l->b_ioff));
        DNNL_TRY(dnnl_memory_set_data_handle(l->db, c->G + l->b_ioff));
        TRY(cpu_mem(c, &l->w_user, &l->w_user_md, DNNL_MEMORY_NONE));
        TRY(cpu_mem(c, &l->w_view, &l->w_md, DNNL_MEMORY_NONE));
        TRY(cpu_reorder(c, &l->w_import, l->w_user, l->w_view));
        TRY(cpu_reorder(c, &l->w_export, l->w_view, l->w_user));
    }
    return 0;
}

/* src: n_params floats in the model layout -> dst_int: one of P, R (internal layout) */
int cpu_params_import(cpu_ctx_t *c, const float *src, float *dst_int) {
    for (int i = 0; i < c->m.n_layers; i++) {
        cpu_layer_t *l = &c->layers[i];
        if (!has_params(l)) continue;
        DNNL_TRY(dnnl_memory_set_data_handle(l->w_user, (void *)(src + l->spec->w_off)));
        DNNL_TRY(dnnl_memory_set_data_handle(l->w_view, dst_int + l->w_ioff));
        TRY(cpu_run(c, &l->w_import));
        memcpy(dst_int + l->b_ioff, src + l->spec->b_off, sizeof(float) * l->spec->b_count);
    }
    return 0;
}

/* src_int: one of P, G, R -> dst: n_params floats in the model layout */
int cpu_params_export(cpu_ctx_t *c, const float *src_int, float *dst) {
    for (int i = 0; i < c->m.n_layers; i++) {
        cpu_layer_t *l = &c->layers[i];
        if (!has_params(l)) continue;
        DNNL_TRY(dnnl_memory_set_data_handle(l->w_view, (void *)(src_int + l->w_ioff)));
        DNNL_TRY(dnnl_memory_set_data_handle(l->w_user, dst + l->spec->w_off));
        TRY(cpu_run(c, &l->w_export));
        memcpy(dst + l->spec->b_off, src_int + l->b_ioff, sizeof(float) * l->spec->b_count);
    }
    return 0;
}

/* One RMSprop pass over the whole internal buffer, gaps included (their gradients are 0). */
void cpu_rmsprop(cpu_ctx_t *c, double lr) {
    cpu_rmsprop_f32(c->P, c->G, c->R, c->n_int, (float)lr, (float)c->m.optim.rho, (float)c->m.optim.epsilon);
}
