/* aug.c: names of the fill modes, as Keras spells them. */
#include "common/aug.h"

#include <string.h>

static const char *fill_names[] = {"nearest", "constant", "reflect", "wrap"};

const char *fill_mode_name(fill_mode_t m) {
    return (unsigned)m < 4 ? fill_names[m] : "?";
}

int fill_mode_parse(const char *s, fill_mode_t *out) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, fill_names[i]) == 0) {
            *out = (fill_mode_t)i;
            return 0;
        }
    return -1;
}
