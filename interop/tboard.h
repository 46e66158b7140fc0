/* tboard.h: TensorBoard event files, written as Keras' TensorBoard callback writes them, so that a run
 * of ours and a Keras run overlay in one dashboard (docs/tensorboard.md).
 *
 * A writer appends to one new file per tboard_open, DIR/events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2
 * (TensorFlow 2's name), a sequence of records: uint64 length, masked CRC-32C of the length, an Event
 * message, masked CRC-32C of the message (little-endian). The first Event holds the file version
 * "brain.Event:2"; each scalar is an Event with one Summary value: a float32 tensor of empty shape with
 * the "scalars" plugin's metadata, as tf.summary.scalar writes it.
 *
 * Records are gathered in a fixed buffer inside the writer and written out by tboard_flush (and when
 * the buffer is full): nothing is allocated per record. Every function follows the 0 / -1 + err_msg()
 * convention; the messages name the file ("tensorboard: writing DIR/FILE: No space left on device").
 * A writer that failed stays failed: later calls return -1 at once, so a caller can warn once and go
 * on without it. */
#ifndef PAWPIPE_TBOARD_H
#define PAWPIPE_TBOARD_H

#include <stddef.h>
#include <stdint.h>

#define TBOARD_FILE_VERSION "brain.Event:2"
#define TBOARD_PLUGIN_SCALARS "scalars"
#define TBOARD_TAG_MAX 128          /* longest tag accepted, in bytes */
#define TBOARD_PATH_MAX 1024
#define TBOARD_BUF_SIZE 4096        /* records held before a write(); a scalar's record is under 200 bytes */

/* A writer; all zeros is a closed one (tboard_close and tboard_ok take it). */
typedef struct {
    int open;                       /* fd is the event file's */
    int fd;
    int failed;                     /* a write failed: the writer writes nothing more */
    size_t used;                    /* bytes of buf not yet written */
    char path[TBOARD_PATH_MAX];     /* the event file, for messages */
    unsigned char buf[TBOARD_BUF_SIZE];
} tboard_t;

/* Create dir (and its missing parents) and a new event file in it, holding the file-version Event. */
int tboard_open(tboard_t *w, const char *dir);

/* 1 when w is open and has not failed. */
int tboard_ok(const tboard_t *w);

/* Append one scalar: tag at step, value rounded to float32 (Keras logs float32 metrics). */
int tboard_scalar(tboard_t *w, const char *tag, int64_t step, double value);

/* Write out the records gathered so far (a TensorBoard reading the folder sees them from then on). */
int tboard_flush(tboard_t *w);

/* Flush and close; a writer never opened or already closed is fine. 0 / -1 (the flush or close failed). */
int tboard_close(tboard_t *w);

/* CRC-32C (Castagnoli, as in iSCSI: reflected, initial value and final xor 0xffffffff) of len bytes, and
 * the masked form the records carry: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t tboard_crc32c(const void *data, size_t len);
uint32_t tboard_masked_crc(const void *data, size_t len);

#endif
