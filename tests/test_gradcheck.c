/* test_gradcheck.c: the reference kernels and the ref backend against finite differences, RMSprop
 * against a hand-computed step.
 *
 * Method: each check defines a scalar objective f = sum_j w_j * y_j (w fixed and random, so that
 * d f / d y = w is the dy fed to the backward function), evaluated in double from the float kernel
 * outputs, and compares the analytical gradient with central differences
 * (f(x + h) - f(x - h)) / (x_plus - x_minus), where x_plus and x_minus are the float values actually
 * stored, so the rounding of the step does not count. conv2d, dense and dropout are linear in what
 * is perturbed, so a large step (no truncation error, small relative rounding error) is used;
 * maxpool and ReLU are tested away from their kinks; the loss is smooth and computed in double.
 * Last, the whole ref backend on a tiny network: every parameter's gradient against central
 * differences of the loss that forward_backward reports (same dropout mask every time). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "common/rng.h"
#include "nn/backend.h"
#include "nn/backends.h"
#include "nn/model.h"
#include "nn/ref/kernels.h"
#include "test.h"

/* Uniform values in [lo, hi) from Philox stream `stream` (fixed key): the same on every run. */
static void fill(float *a, size_t n, uint64_t stream, float lo, float hi) {
    rng_t r;
    rng_init(&r, 0x6772616463686bULL, stream);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng_uniform_f(&r);
}

static double dot(const float *w, const float *y, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

/* The objective of one check, evaluated at the current contents of the arrays it closes over. */
typedef double (*objective_fn)(void *ctx);

/* Central difference of f in x[i] with step h, over the float values actually stored. */
static double central_diff(float *x, size_t i, float h, objective_fn f, void *ctx) {
    float x0 = x[i];
    x[i] = x0 + h;
    double xp = x[i], fp = f(ctx);
    x[i] = x0 - h;
    double xm = x[i], fm = f(ctx);
    x[i] = x0;
    return (fp - fm) / (xp - xm);
}

/* Perturb x[i] by +-h for every i, compare with the analytical gradient ga within atol + rtol*|num|.
 * A mismatch is retried once with h/4: a step across a ReLU or max-pool kink (in the whole network)
 * mixes the two one-sided slopes, a smaller step rarely crosses it, while a wrong gradient stays
 * wrong at every step. Prints the worst element; returns the number of elements out of tolerance. */
static int check_grad(const char *what, float *x, size_t count, const float *ga, float h, objective_fn f,
                      void *ctx, double atol, double rtol) {
    int bad = 0, retried = 0;
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < count; i++) {
        double num = central_diff(x, i, h, f, ctx);
        double err = fabs(num - ga[i]), lim = atol + rtol * fabs(num);
        if (err > lim) {
            retried++;
            num = central_diff(x, i, h / 4, f, ctx);
            err = fabs(num - ga[i]), lim = atol + rtol * fabs(num);
        }
        if (err > lim) {
            if (bad < 5) fprintf(stderr, "  %s[%zu]: analytical %.8g, numerical %.8g\n", what, i, ga[i], num);
            bad++;
        }
        if (err / lim > worst) worst = err / lim, worst_i = i;
    }
    fprintf(stderr, "  %-22s %5zu values, worst error %.3f of tolerance (at %zu), %d retried with h/4\n", what,
            count, worst, worst_i, retried);
    return bad;
}

/* ---- conv2d ---- */

enum { CN = 2, CH = 7, CW = 6, CC = 3, CKH = 3, CKW = 2, CF = 4, COH = CH - CKH + 1, COW = CW - CKW + 1 };

typedef struct {
    float x[CN * CH * CW * CC], k[CKH * CKW * CC * CF], b[CF], y[CN * COH * COW * CF], w[CN * COH * COW * CF];
} conv_case_t;

static double conv_objective(void *ctx) {
    conv_case_t *t = ctx;
    ref_conv2d_forward(t->x, t->k, t->b, t->y, CN, CH, CW, CC, CKH, CKW, CF);
    return dot(t->w, t->y, sizeof(t->y) / sizeof(float));
}

TEST(conv2d) {
    static conv_case_t t;
    static float dx[sizeof(t.x) / sizeof(float)], dk[sizeof(t.k) / sizeof(float)], db[CF];
    fill(t.x, sizeof(t.x) / sizeof(float), 1, 0.0f, 1.0f);
    fill(t.k, sizeof(t.k) / sizeof(float), 2, -0.5f, 0.5f);
    fill(t.b, CF, 3, -0.1f, 0.1f);
    fill(t.w, sizeof(t.w) / sizeof(float), 4, -1.0f, 1.0f);
    ref_conv2d_backward(t.x, t.k, t.w, dx, dk, db, CN, CH, CW, CC, CKH, CKW, CF);
    EXPECT(check_grad("conv2d dx", t.x, sizeof(t.x) / sizeof(float), dx, 0.25f, conv_objective, &t, 1e-5, 1e-4) == 0);
    EXPECT(check_grad("conv2d dk", t.k, sizeof(t.k) / sizeof(float), dk, 0.25f, conv_objective, &t, 1e-5, 1e-4) == 0);
    EXPECT(check_grad("conv2d db", t.b, CF, db, 0.25f, conv_objective, &t, 1e-5, 1e-4) == 0);

    /* dx == NULL (first layer) leaves dk and db the same. */
    float dk2[sizeof(dk) / sizeof(float)], db2[CF];
    ref_conv2d_backward(t.x, t.k, t.w, NULL, dk2, db2, CN, CH, CW, CC, CKH, CKW, CF);
    EXPECT(memcmp(dk, dk2, sizeof(dk)) == 0 && memcmp(db, db2, sizeof(db)) == 0);
}

/* A forward value by hand: one 2x2 image, one channel, 2x2 kernel -> one output. */
TEST(conv2d_by_hand) {
    float x[8] = {1, 10, 2, 20, 3, 30, 4, 40};   /* (1, 2, 2, 2): pixel (i,j) has channels (v, 10v) */
    float k[16], b[2] = {0.5f, -1.0f}, y[2];
    for (int i = 0; i < 16; i++) k[i] = (float)(i + 1);   /* (2, 2, 2, 2) HWIO */
    ref_conv2d_forward(x, k, b, y, 1, 2, 2, 2, 2, 2, 2);
    /* y[f] = b[f] + sum_{i,j,c} x[i,j,c] * k[i,j,c,f]; k[i,j,c,f] = 1 + 8i + 4j + 2c + f */
    double e0 = 0.5, e1 = -1.0;
    for (int p = 0; p < 4; p++)
        for (int c = 0; c < 2; c++) {
            e0 += x[p * 2 + c] * k[(p * 2 + c) * 2 + 0];
            e1 += x[p * 2 + c] * k[(p * 2 + c) * 2 + 1];
        }
    EXPECT(e0 == 1*1 + 10*3 + 2*5 + 20*7 + 3*9 + 30*11 + 4*13 + 40*15 + 0.5);
    EXPECT_NEAR(y[0], e0, 0, 1e-6);
    EXPECT_NEAR(y[1], e1, 0, 1e-6);
}

/* ---- maxpool ---- */

enum { PN = 2, PH = 7, PW = 9, PC = 3, PP = 2 };   /* odd sizes: the last row and column are dropped */

typedef struct {
    float x[PN * PH * PW * PC], y[PN * (PH / PP) * (PW / PP) * PC], w[PN * (PH / PP) * (PW / PP) * PC];
} pool_case_t;

static double pool_objective(void *ctx) {
    pool_case_t *t = ctx;
    ref_maxpool_forward(t->x, t->y, PN, PH, PW, PC, PP);
    return dot(t->w, t->y, sizeof(t->y) / sizeof(float));
}

TEST(maxpool) {
    static pool_case_t t;
    static float dx[sizeof(t.x) / sizeof(float)];
    size_t nx = sizeof(t.x) / sizeof(float);
    /* Distinct values 0.01 apart in a shuffled order: no ties, and a step of 0.003 never changes
     * which entry of a window is the largest. */
    for (size_t i = 0; i < nx; i++) t.x[i] = 0.01f * (float)((i * 7919) % nx);
    fill(t.w, sizeof(t.w) / sizeof(float), 5, -1.0f, 1.0f);
    pool_objective(&t);
    ref_maxpool_backward(t.x, t.y, t.w, dx, PN, PH, PW, PC, PP);
    EXPECT(check_grad("maxpool dx", t.x, nx, dx, 0.003f, pool_objective, &t, 1e-4, 1e-3) == 0);
    /* Exactly one gradient entry per window; the dropped last row and column get none. */
    int nonzero = 0;
    for (size_t i = 0; i < nx; i++) nonzero += dx[i] != 0.0f;
    EXPECT(nonzero == (int)(sizeof(t.y) / sizeof(float)));
    for (int n = 0; n < PN; n++)
        for (int c = 0; c < PC; c++) {
            for (int xw = 0; xw < PW; xw++) EXPECT(dx[((n * PH + PH - 1) * PW + xw) * PC + c] == 0.0f);
            for (int yh = 0; yh < PH; yh++) EXPECT(dx[((n * PH + yh) * PW + PW - 1) * PC + c] == 0.0f);
        }
}

/* Ties: the gradient goes to the first maximum in row-major order only. */
TEST(maxpool_ties) {
    float x[4] = {1.0f, 3.0f, 3.0f, 3.0f}, y[1], dy[1] = {2.0f}, dx[4];
    ref_maxpool_forward(x, y, 1, 2, 2, 1, 2);
    EXPECT(y[0] == 3.0f);
    ref_maxpool_backward(x, y, dy, dx, 1, 2, 2, 1, 2);
    EXPECT(dx[0] == 0.0f && dx[1] == 2.0f && dx[2] == 0.0f && dx[3] == 0.0f);
}

/* ---- dense ---- */

enum { DN = 3, DI = 11, DO = 5 };

typedef struct {
    float x[DN * DI], k[DI * DO], b[DO], y[DN * DO], w[DN * DO];
} dense_case_t;

static double dense_objective(void *ctx) {
    dense_case_t *t = ctx;
    ref_dense_forward(t->x, t->k, t->b, t->y, DN, DI, DO);
    return dot(t->w, t->y, DN * DO);
}

TEST(dense) {
    static dense_case_t t;
    float dx[DN * DI], dk[DI * DO], db[DO];
    fill(t.x, DN * DI, 6, -1.0f, 1.0f);
    fill(t.k, DI * DO, 7, -0.5f, 0.5f);
    fill(t.b, DO, 8, -0.1f, 0.1f);
    fill(t.w, DN * DO, 9, -1.0f, 1.0f);
    ref_dense_backward(t.x, t.k, t.w, dx, dk, db, DN, DI, DO);
    EXPECT(check_grad("dense dx", t.x, DN * DI, dx, 0.25f, dense_objective, &t, 1e-5, 1e-4) == 0);
    EXPECT(check_grad("dense dk", t.k, DI * DO, dk, 0.25f, dense_objective, &t, 1e-5, 1e-4) == 0);
    EXPECT(check_grad("dense db", t.b, DO, db, 0.25f, dense_objective, &t, 1e-5, 1e-4) == 0);
    /* The forward by hand for one output. */
    double e = t.b[2];
    for (int i = 0; i < DI; i++) e += (double)t.x[DI + i] * t.k[i * DO + 2];
    EXPECT_NEAR(t.y[DO + 2], e, 1e-6, 1e-6);
}

/* ---- activations ---- */

enum { AN = 64 };

typedef struct {
    float x[AN], y[AN], w[AN];
    int sigmoid;
} act_case_t;

static double act_objective(void *ctx) {
    act_case_t *t = ctx;
    memcpy(t->y, t->x, sizeof(t->x));
    if (t->sigmoid) ref_sigmoid_forward(t->y, AN);
    else ref_relu_forward(t->y, AN);
    return dot(t->w, t->y, AN);
}

TEST(relu) {
    static act_case_t t;
    float dy[AN];
    fill(t.x, AN, 10, 0.1f, 1.0f);
    for (int i = 0; i < AN; i += 2) t.x[i] = -t.x[i];   /* half negative, all at least 0.1 from 0 */
    fill(t.w, AN, 11, -1.0f, 1.0f);
    act_objective(&t);
    memcpy(dy, t.w, sizeof(dy));
    ref_relu_backward(t.y, dy, AN);
    EXPECT(check_grad("relu", t.x, AN, dy, 0.05f, act_objective, &t, 1e-6, 1e-5) == 0);
    EXPECT(t.y[0] == 0.0f && t.y[1] == t.x[1]);
}

TEST(sigmoid) {
    static act_case_t t;
    float dy[AN];
    t.sigmoid = 1;
    fill(t.x, AN, 12, -6.0f, 6.0f);
    fill(t.w, AN, 13, -1.0f, 1.0f);
    act_objective(&t);
    memcpy(dy, t.w, sizeof(dy));
    ref_sigmoid_backward(t.y, dy, AN);
    EXPECT(check_grad("sigmoid", t.x, AN, dy, 1e-3f, act_objective, &t, 1e-4, 1e-3) == 0);
    float big[2] = {-200.0f, 200.0f};
    ref_sigmoid_forward(big, 2);
    EXPECT(big[0] == 0.0f && big[1] == 1.0f);
}

/* ---- dropout ---- */

enum { DRN = 1000 };

typedef struct {
    float x[DRN], y[DRN], w[DRN];
} drop_case_t;

static const double drop_rate = 0.3;
static const uint64_t drop_seed = 1234, drop_stream = 7;

static double drop_objective(void *ctx) {
    drop_case_t *t = ctx;
    memcpy(t->y, t->x, sizeof(t->x));
    ref_dropout_forward(t->y, DRN, drop_rate, drop_seed, drop_stream);
    return dot(t->w, t->y, DRN);
}

TEST(dropout) {
    static drop_case_t t;
    static float dy[DRN];
    fill(t.x, DRN, 14, 0.5f, 1.5f);   /* never 0, so a dropped element is recognisable */
    fill(t.w, DRN, 15, -1.0f, 1.0f);
    drop_objective(&t);
    int dropped = 0;
    float scale = (float)(1.0 / (1.0 - drop_rate));
    for (int i = 0; i < DRN; i++) {
        int keep = rng_uniform_at(drop_seed, drop_stream, (uint64_t)i) >= drop_rate;
        EXPECT(t.y[i] == (keep ? t.x[i] * scale : 0.0f));
        dropped += !keep;
    }
    EXPECT(fabs(dropped / (double)DRN - drop_rate) < 0.06);   /* 1000 draws: sd ~0.015 */
    memcpy(dy, t.w, sizeof(dy));
    ref_dropout_backward(dy, DRN, drop_rate, drop_seed, drop_stream);
    EXPECT(check_grad("dropout", t.x, DRN, dy, 0.25f, drop_objective, &t, 1e-5, 1e-5) == 0);
    /* Another stream draws another mask. */
    memcpy(dy, t.x, sizeof(dy));
    ref_dropout_forward(dy, DRN, drop_rate, drop_seed, drop_stream + 1);
    int differ = 0;
    for (int i = 0; i < DRN; i++) differ += (dy[i] == 0.0f) != (t.y[i] == 0.0f);
    EXPECT(differ > DRN / 10);
}

/* ---- sigmoid + binary cross-entropy ---- */

enum { LN = 10 };

typedef struct {
    float z[LN], y[LN];
} loss_case_t;

static double loss_objective(void *ctx) {
    loss_case_t *t = ctx;
    return ref_sigmoid_bce(t->z, t->y, LN, NULL, NULL);
}

TEST(sigmoid_bce) {
    static loss_case_t t = {
        .z = {-3.0f, -0.7f, -0.01f, 0.02f, 0.5f, 2.5f, 8.0f, -9.0f, 30.0f, -25.0f},
        .y = {0, 1, 0, 1, 1, 0, 1, 0, 0, 1},
    };
    float dz[LN];
    double acc = -1;
    double loss = ref_sigmoid_bce(t.z, t.y, LN, dz, &acc);
    /* The naive formula in double where it is still accurate. */
    double naive = 0.0;
    for (int i = 0; i < 8; i++) {
        double p = 1.0 / (1.0 + exp(-(double)t.z[i]));
        naive -= t.y[i] ? log(p) : log(1.0 - p);
    }
    naive += 30.0 + 25.0;   /* the last two: confidently wrong, loss ~ |z| */
    EXPECT_NEAR(loss, naive / LN, 1e-9, 1e-9);
    EXPECT_NEAR(acc, 6.0 / LN, 1e-12, 0);   /* correct: 0, 2, 3, 4, 6, 7 */
    EXPECT(check_grad("bce dlogits", t.z, LN, dz, 1e-3f, loss_objective, &t, 1e-6, 1e-4) == 0);
    /* Extreme logits stay finite and exact: loss = |z| when wrong, 0 when right. */
    float z2[4] = {1000.0f, -1000.0f, 1000.0f, -1000.0f}, y2[4] = {0, 1, 1, 0}, d2[4];
    EXPECT_NEAR(ref_sigmoid_bce(z2, y2, 4, d2, &acc), 500.0, 0, 1e-12);
    EXPECT(d2[0] == 0.25f && d2[1] == -0.25f && d2[2] == 0.0f && d2[3] == 0.0f);
    EXPECT(acc == 0.5);
}

/* ---- RMSprop, scaling ---- */

TEST(rmsprop_by_hand) {
    /* lr 0.01, rho 0.9, eps 1e-7, p0 = 1, rms0 = 0; g = 0.5 then -0.25:
     * step 1: rms = 0.1 * 0.25 = 0.025;             p = 1 - 0.01 * 0.5 / sqrt(0.0250001) = 0.96837729
     * step 2: rms = 0.9 * 0.025 + 0.1 * 0.0625 = 0.02875;
     *         p = 0.96837729 + 0.01 * 0.25 / sqrt(0.0287501) = 0.98312146 */
    float p[2] = {1.0f, -2.0f}, rms[2] = {0.0f, 0.0f}, g[2] = {0.5f, 0.0f};
    ref_rmsprop(p, g, rms, 2, 0.01, 0.9, 1e-7);
    EXPECT_NEAR(rms[0], 0.025, 1e-9, 0);
    EXPECT_NEAR(p[0], 0.96837729, 1e-7, 0);
    g[0] = -0.25f;
    ref_rmsprop(p, g, rms, 2, 0.01, 0.9, 1e-7);
    EXPECT_NEAR(rms[0], 0.02875, 1e-9, 0);
    EXPECT_NEAR(p[0], 0.98312146, 1e-7, 0);
    EXPECT(p[1] == -2.0f && rms[1] == 0.0f);   /* a zero gradient moves nothing */
    /* A small gradient shows where eps goes: inside the root (Keras), g = 1e-4, rms = 1e-9:
     * p = -0.01 * 1e-4 / sqrt(1e-9 + 1e-7) = -0.0031465839 (eps outside would give -0.0315). */
    float q = 0.0f, rq = 0.0f, gq = 1e-4f;
    ref_rmsprop(&q, &gq, &rq, 1, 0.01, 0.9, 1e-7);
    EXPECT_NEAR(q, -0.0031465839, 0, 1e-6);
}

TEST(scale_u8) {
    uint8_t src[4] = {0, 51, 128, 255};
    float dst[4];
    ref_scale_u8(src, dst, 4);
    EXPECT(dst[0] == 0.0f && dst[3] == 1.0f);
    EXPECT(dst[1] == 51.0f * (1.0f / 255.0f));   /* Keras multiplies by float32(1/255) */
    EXPECT_NEAR(dst[2], 128.0 / 255.0, 1e-7, 0);
}


/* ---- the whole ref network ---- */

static const char *tiny_spec =
    "[model]\ninput = 14, 14, 3\n"
    "[conv2d_1]\ntype = conv2d\nfilters = 4\nkernel_size = 3\nactivation = relu\n"
    "[max_pooling2d_1]\ntype = max_pooling2d\npool_size = 2\n"
    "[conv2d_2]\ntype = conv2d\nfilters = 4\nkernel_size = 3\nactivation = relu\n"
    "[max_pooling2d_2]\ntype = max_pooling2d\npool_size = 2\n"
    "[flatten_1]\ntype = flatten\n"
    "[dropout_1]\ntype = dropout\nrate = 0.25\n"
    "[dense_1]\ntype = dense\nunits = 8\nactivation = relu\n"
    "[dense_2]\ntype = dense\nunits = 1\nactivation = sigmoid\n"
    "[loss]\ntype = binary_crossentropy\n"
    "[optimizer]\ntype = rmsprop\nlearning_rate = 0.001\n";

enum { NET_N = 4 };

typedef struct {
    const nn_backend_t *be;
    void *ctx;
    float *params;
    uint8_t images[NET_N * 14 * 14 * 3];
    float labels[NET_N];
} net_case_t;

static double net_objective(void *arg) {
    net_case_t *t = arg;
    nn_stats_t st = {0};
    ASSERT(t->be->set_params(t->ctx, t->params, NULL) == 0);
    ASSERT(t->be->forward_backward(t->ctx, t->images, t->labels, NET_N, 99, &st) == 0);
    return st.loss;
}

TEST(ref_network) {
    nn_model_t m;
    if (nn_model_parse(tiny_spec, "tiny_spec", &m) != 0) {
        fprintf(stderr, "  %s\n", err_msg());
        REQUIRE(0);
    }
    REQUIRE(m.n_params == 3 * 3 * 3 * 4 + 4 + 3 * 3 * 4 * 4 + 4 + 16 * 8 + 8 + 8 + 1);
    static net_case_t t;
    t.be = &nn_backend_ref;
    REQUIRE(t.be->create(&m, NET_N, NULL, &t.ctx) == 0);
    t.params = malloc(m.n_params * sizeof(float));
    float *ga = malloc(m.n_params * sizeof(float));
    REQUIRE(t.params && ga);
    /* Weights of Glorot scale and non-zero biases; images spread over 0..255; both labels. */
    nn_param_view_t v[NN_MAX_PARAM_VIEWS];
    int nv = nn_param_views(&m, v, NN_MAX_PARAM_VIEWS);
    for (int i = 0; i < nv; i++) {
        int64_t fan = v[i].ndim == 4 ? v[i].shape[0] * v[i].shape[1] * (v[i].shape[2] + v[i].shape[3])
                                     : v[i].ndim == 2 ? v[i].shape[0] + v[i].shape[1] : 0;
        float lim = fan ? (float)sqrt(6.0 / fan) : 0.2f;
        fill(t.params + v[i].offset, v[i].count, 100 + (uint64_t)i, -lim, fan ? lim : 0.3f);
    }
    rng_t r;
    rng_init(&r, 5, 6);
    for (size_t i = 0; i < sizeof t.images; i++) t.images[i] = (uint8_t)(rng_u32(&r) >> 24);
    for (int i = 0; i < NET_N; i++) t.labels[i] = (float)(i & 1);

    double loss = net_objective(&t);
    REQUIRE(t.be->get_grads(t.ctx, ga) == 0);
    EXPECT(loss > 0.1 && loss < 5);
    /* Step 1e-3: large against the float rounding in the loss (~1e-8), small for the curvature. */
    int bad = 0;
    for (int i = 0; i < nv; i++) {
        char what[NN_NAME_MAX + 32];
        double gmax = 0;
        for (size_t j = 0; j < v[i].count; j++) gmax = fmax(gmax, fabs(ga[v[i].offset + j]));
        snprintf(what, sizeof what, "net %.*s", NN_NAME_MAX + 16, v[i].name);
        bad += check_grad(what, t.params + v[i].offset, v[i].count, ga + v[i].offset, 1e-3f, net_objective, &t,
                          2e-3 * gmax + 1e-6, 1e-2);
    }
    EXPECT(bad == 0);

    /* The gradients were not all zero (a dead network would pass the comparison trivially). */
    int nonzero = 0;
    for (size_t j = 0; j < m.n_params; j++) nonzero += ga[j] != 0.0f;
    EXPECT(nonzero > (int)m.n_params / 2);
    t.be->destroy(&t.ctx);
    EXPECT(t.ctx == NULL);
    free(t.params);
    free(ga);
    nn_model_free(&m);
}

/* Dropout acts in training only, with the mask of (seed, layer index, element); the output layer's
 * layer_output is the sigmoid of the logit predict returns; flatten passes NHWC memory through. */
TEST(ref_network_modes) {
    nn_model_t m;
    REQUIRE(nn_model_parse(tiny_spec, "tiny_spec", &m) == 0);
    const nn_backend_t *be = &nn_backend_ref;
    void *ctx = NULL;
    REQUIRE(be->create(&m, NET_N, NULL, &ctx) == 0);
    float *p = malloc(m.n_params * sizeof(float));
    REQUIRE(p);
    fill(p, m.n_params, 200, -0.3f, 0.3f);
    REQUIRE(be->set_params(ctx, p, NULL) == 0);
    uint8_t images[NET_N * 14 * 14 * 3];
    float labels[NET_N] = {0, 1, 1, 0}, logits[NET_N];
    for (size_t i = 0; i < sizeof images; i++) images[i] = (uint8_t)(i * 37 + i / 7);
    int pool = 3, flat = 4, drop = 5, last = m.n_layers - 1;
    REQUIRE(m.layers[drop].type == NN_DROPOUT && m.layers[flat].type == NN_FLATTEN);
    size_t nf = (size_t)NET_N * m.layers[flat].out_c;
    float a[NET_N * 16], b[NET_N * 16], c[NET_N * 16], out[NET_N];

    nn_stats_t st;
    const uint64_t seed = 31337;
    REQUIRE(be->forward_backward(ctx, images, labels, NET_N, seed, &st) == 0);
    REQUIRE(be->layer_output(ctx, pool, c) == 0);
    REQUIRE(be->layer_output(ctx, flat, a) == 0);
    REQUIRE(be->layer_output(ctx, drop, b) == 0);
    EXPECT(memcmp(a, c, nf * sizeof(float)) == 0);   /* flatten is the same memory */
    float scale = (float)(1.0 / (1.0 - m.layers[drop].rate));
    int dropped = 0;
    for (size_t i = 0; i < nf; i++) {
        int keep = rng_uniform_at(seed, (uint64_t)drop, i) >= m.layers[drop].rate;
        EXPECT(b[i] == (keep ? a[i] * scale : 0.0f));
        dropped += !keep;
    }
    EXPECT(dropped > 0 && dropped < (int)nf);

    REQUIRE(be->predict(ctx, images, NET_N, logits) == 0);
    REQUIRE(be->layer_output(ctx, flat, a) == 0);
    REQUIRE(be->layer_output(ctx, drop, b) == 0);
    EXPECT(memcmp(a, b, nf * sizeof(float)) == 0);   /* no dropout in inference */
    REQUIRE(be->layer_output(ctx, last, out) == 0);
    for (int i = 0; i < NET_N; i++) EXPECT_NEAR(out[i], 1.0 / (1.0 + exp(-(double)logits[i])), 1e-7, 1e-6);
    EXPECT(be->layer_output(ctx, m.n_layers, out) == -1);   /* no such layer */

    /* RMSprop through the backend is the kernel over the whole buffer, with the spec's rho, eps. */
    float *g = malloc(m.n_params * sizeof(float)), *want = malloc(m.n_params * sizeof(float));
    float *rms = calloc(m.n_params, sizeof(float)), *got = malloc(m.n_params * sizeof(float));
    REQUIRE(g && want && rms && got);
    REQUIRE(be->forward_backward(ctx, images, labels, NET_N, seed, &st) == 0);
    REQUIRE(be->get_grads(ctx, g) == 0);
    REQUIRE(be->update(ctx, 0.01) == 0);
    memcpy(want, p, m.n_params * sizeof(float));
    ref_rmsprop(want, g, rms, m.n_params, 0.01, m.optim.rho, m.optim.epsilon);
    REQUIRE(be->get_params(ctx, got, g) == 0);
    EXPECT(memcmp(got, want, m.n_params * sizeof(float)) == 0);
    EXPECT(memcmp(g, rms, m.n_params * sizeof(float)) == 0);
    /* set_params without rms resets the state to zeros; with rms, sets it. */
    REQUIRE(be->set_params(ctx, p, NULL) == 0);
    REQUIRE(be->get_params(ctx, got, g) == 0);
    int zeros = 0;
    for (size_t j = 0; j < m.n_params; j++) zeros += g[j] == 0.0f;
    EXPECT(zeros == (int)m.n_params && memcmp(got, p, m.n_params * sizeof(float)) == 0);
    REQUIRE(be->set_params(ctx, p, rms) == 0);
    REQUIRE(be->get_params(ctx, NULL, g) == 0);
    EXPECT(memcmp(g, rms, m.n_params * sizeof(float)) == 0);
    be->destroy(&ctx);
    be->destroy(&ctx);   /* NULL is fine */
    free(p), free(g), free(want), free(rms), free(got);
    nn_model_free(&m);
}

int main(void) {
    RUN(conv2d);
    RUN(conv2d_by_hand);
    RUN(maxpool);
    RUN(maxpool_ties);
    RUN(dense);
    RUN(relu);
    RUN(sigmoid);
    RUN(dropout);
    RUN(sigmoid_bce);
    RUN(rmsprop_by_hand);
    RUN(scale_u8);
    RUN(ref_network);
    RUN(ref_network_modes);
    return TEST_SUMMARY();
}
