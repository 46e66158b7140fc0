/* summary.c: the Keras-style model summary table (Layer (type) | Output Shape | Param #). */
#include <string.h>

#include "nn/model.h"

/* 3453121 -> "3,453,121" */
static void with_commas(size_t n, char *buf, size_t cap) {
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%zu", n), o = 0;
    for (int i = 0; i < nd && (size_t)o + 2 < cap; i++) {
        if (i > 0 && (nd - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

static void shape_text(const nn_layer_t *l, char *buf, size_t cap) {
    if (l->flat) snprintf(buf, cap, "(None, %d)", l->out_c);
    else snprintf(buf, cap, "(None, %d, %d, %d)", l->out_h, l->out_w, l->out_c);
}

static void rule(FILE *out, char c, int n) {
    for (int i = 0; i < n; i++) fputc(c, out);
    fputc('\n', out);
}

void nn_model_summary(const nn_model_t *m, FILE *out) {
    int w1 = 29, w2 = 26, w3 = 10;   /* Keras' column widths, widened for long names */
    char first[NN_NAME_MAX + 32], shape[64];
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        int n = snprintf(first, sizeof first, "%s (%s)", l->name, nn_layer_class_name(l->type));
        if (n + 2 > w1) w1 = n + 2;
    }
    int width = w1 + w2 + w3;
    fprintf(out, "Model: \"%s\"\n", m->name);
    rule(out, '_', width);
    fprintf(out, "%-*s%-*s%s\n", w1, "Layer (type)", w2, "Output Shape", "Param #");
    rule(out, '=', width);
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        snprintf(first, sizeof first, "%s (%s)", l->name, nn_layer_class_name(l->type));
        shape_text(l, shape, sizeof shape);
        fprintf(out, "%-*s%-*s%zu\n", w1, first, w2, shape, l->w_count + l->b_count);
        if (i + 1 < m->n_layers) rule(out, '_', width);
    }
    rule(out, '=', width);
    char total[32];
    with_commas(m->n_params, total, sizeof total);
    fprintf(out, "Total params: %s\nTrainable params: %s\nNon-trainable params: 0\n", total, total);
    rule(out, '_', width);
}

double nn_train_flops(const nn_model_t *m, int batch) {
    double flops = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_t *l = &m->layers[i];
        double macs = 0.0;   /* of the forward product, per image */
        if (l->type == NN_CONV2D) macs = (double)l->out_h * l->out_w * l->filters * l->kernel * l->kernel * l->in_c;
        else if (l->type == NN_DENSE) macs = (double)l->in_h * l->in_w * l->in_c * l->units;
        flops += 2.0 * macs * (i > 0 ? 3 : 2);
    }
    return flops * batch;
}
