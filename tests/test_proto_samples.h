/* test_proto_samples.h: sample messages of every kind and a field-by-field comparison, shared by the
 * proto tests (codec, IPC) and the fuzzer's seed corpus. */
#ifndef PAWPIPE_TEST_PROTO_SAMPLES_H
#define PAWPIPE_TEST_PROTO_SAMPLES_H

#include "proto/proto.h"

#define N_SAMPLES 8

/* Fill *m with sample i (0 <= i < N_SAMPLES): job, job without augmentation, batch, credit,
 * checkpoint, metrics, control START, control END_EPOCH. Byte payloads point into static storage. */
void sample_msg(int i, proto_msg_t *m);
const char *sample_name(int i);

/* A batch of n images of h x w x c bytes from pixels (n*h*w*c bytes, filled by seq). */
void sample_batch(proto_msg_t *m, uint64_t seq, uint32_t n, uint32_t h, uint32_t w, uint32_t c, uint8_t *pixels);

/* 1 when every field of a and b agrees (payload bytes compared); otherwise 0, naming the first
 * difference on stderr. */
int msg_equal(const proto_msg_t *a, const proto_msg_t *b);

#endif
