/* predict.c: --predict IMAGE...: the class and probability of each image under one checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/check.h"
#include "common/log.h"
#include "evaluator/eval.h"

int evaluator_predict(const evaluator_config_t *c, const char *ckpt_path, char *const *images,
                      int n_images, int *n_ok) {
    *n_ok = 0;
    char names[2][128];
    TRY(eval_class_names(c, names));
    scorer_t s = {0};
    image_reader_t reader = {0};
    uint8_t *input = NULL;
    int rc = -1;
    TRY_GOTO(eval_load_checkpoint_file(c, ckpt_path, 1, &s, NULL, NULL, NULL, NULL), done);
    const nn_model_t *m = &s.model;
    CHECK_GOTO(m->in_c == 3, done, "model %s takes %d channels; images are RGB", m->name, m->in_c);
    input = malloc((size_t)m->in_h * (size_t)m->in_w * 3);
    CHECK_GOTO(input != NULL, done, "out of memory");
    for (int i = 0; i < n_images; i++) {
        if (image_reader_read(&reader, images[i], m->in_h, m->in_w, input) != 0) {
            LOG_E("%s: cannot be read as an image: %s", images[i], err_msg());
            continue;
        }
        TRY_GOTO(scorer_logits(&s, input, 1, NULL), done);
        double p1 = 1.0 / (1.0 + exp(-(double)s.logits[0]));   /* P(class 1) */
        int k = p1 > 0.5;
        printf("%s: %s (p=%.*f; p(%s)=%.*f)\n", images[i], names[k], c->digits, k ? p1 : 1.0 - p1, names[1],
               c->digits, p1);
        fflush(stdout);
        (*n_ok)++;
    }
    rc = 0;
done:
    free(input);
    image_reader_free(&reader);
    scorer_free(&s);
    return rc;
}
