/* fuzz_proto.c: libFuzzer target for proto_decode. Any input must be rejected or accepted without a
 * crash, leak or out-of-bounds read, and what is accepted must encode again and decode to the same
 * message. Built only with PAWPIPE_FUZZ=ON (clang); seeds and dictionary: test_proto --write-seeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/check.h"
#include "proto/proto.h"
#include "test_proto_samples.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static proto_msg_t m, again;
    static proto_buf_t buf;
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_message = 1 << 20;
    if (proto_decode(data, size, &lim, &m) != 0) return 0;
    if (proto_encode(&m, &buf) != 0) {
        fprintf(stderr, "accepted %s does not encode: %s\n", proto_kind_name(m.kind), err_msg());
        abort();
    }
    if (proto_decode(buf.data, buf.len, &lim, &again) != 0) {
        fprintf(stderr, "re-encoded %s does not decode: %s\n", proto_kind_name(m.kind), err_msg());
        abort();
    }
    if (!msg_equal(&m, &again)) {
        fprintf(stderr, "re-encoded %s decodes differently\n", proto_kind_name(m.kind));
        abort();
    }
    return 0;
}
