/* test_dataplane_mkdata.c: writes the data sets and specs of the data-plane process tests
 * (tests/dataplane_procs.sh):
 *   dataplane_mkdata data DIR SPLIT CLASSES PER_CLASS W H     synthetic JPEGs in DIR/SPLIT/<class>/
 *   dataplane_mkdata bad CLASS_DIR BIG_W BIG_H                 every bad-input case into one class folder
 *   dataplane_mkdata spec PATH SIZE BATCH STEPS EPOCHS SEED AUG   a tiny model spec */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "dataplane_fixtures.h"
#include "image/image.h"

int main(int argc, char **argv) {
    if (img_init(argv[0]) != 0) {
        fprintf(stderr, "img_init: %s\n", err_msg());
        return 1;
    }
    int rc = -1;
    if (argc == 8 && strcmp(argv[1], "data") == 0)
        rc = dpf_write_split(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]));
    else if (argc == 5 && strcmp(argv[1], "bad") == 0)
        rc = dpf_write_bad_cases(argv[2], atoi(argv[3]), atoi(argv[4]));
    else if (argc == 9 && strcmp(argv[1], "spec") == 0)
        rc = dpf_write_spec(argv[2], atoi(argv[3]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                            atoi(argv[7]), atoi(argv[8]));
    else {
        fprintf(stderr, "usage: dataplane_mkdata data DIR SPLIT CLASSES PER_CLASS W H\n"
                        "       dataplane_mkdata bad CLASS_DIR BIG_W BIG_H\n"
                        "       dataplane_mkdata spec PATH SIZE BATCH STEPS EPOCHS SEED AUG\n");
        return 2;
    }
    if (rc != 0) fprintf(stderr, "dataplane_mkdata %s: failed\n", argv[1]);
    return rc == 0 ? 0 : 1;
}
