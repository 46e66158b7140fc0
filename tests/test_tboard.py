#!/usr/bin/env python3
"""test_tboard.py: the TensorBoard event files of the trainer and the evaluator, read by TensorBoard
itself (docs/tensorboard.md):
  (a) every field and enum value declared in interop/tboard.proto has the number, type, label and oneof
      of TensorBoard's own descriptors (tensorboard.compat.proto);
  (b) a short pipeline run (model1, 3 epochs of 4 steps, then resumed for a 4th): TensorBoard's
      EventAccumulator reads RUN/tensorboard/train and /validation; epoch_loss and epoch_accuracy equal
      history.csv's columns at steps 0..E-1 with the scalars plugin, the batch values are there at
      increasing steps, and the resumed trainer added a second file; a run whose tensorboard folder
      cannot be made trains to its end with one warning per stage, and PAWPIPE_NO_TENSORBOARD=1 writes
      no events in either run;
  (c) a Keras 3 run with keras.callbacks.TensorBoard: the same run names, and every scalar tag Keras
      writes in a run is in ours with the same metadata, dtype, shape and step numbering, so the two
      overlay in one dashboard.
Usage: test_tboard.py --bin BUILD/bin --root SOURCE_DIR. Exit 0 pass, 1 fail."""
import argparse
import csv
import math
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
try:
    import numpy as np
    from google.protobuf import descriptor_pool
    from google.protobuf.descriptor import FieldDescriptor
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: F401
    from tensorboard.util import tensor_util
except ImportError as e:
    print(f"error: {e} with {sys.executable}: run scripts/dev pydeps (TensorFlow, Keras 3, tensorboard)")
    sys.exit(1)

import interop_lib  # noqa: E402
from interop_lib import check  # noqa: E402

EPOCHS, STEPS, EVERY = 3, 4, 2   # the first run; the resumed one adds epoch 4


# (a) ------------------------------------------------------------------------------------------------
SCALAR_TYPES = {"double": FieldDescriptor.TYPE_DOUBLE, "float": FieldDescriptor.TYPE_FLOAT,
                "int64": FieldDescriptor.TYPE_INT64, "uint64": FieldDescriptor.TYPE_UINT64,
                "int32": FieldDescriptor.TYPE_INT32, "uint32": FieldDescriptor.TYPE_UINT32,
                "bool": FieldDescriptor.TYPE_BOOL, "string": FieldDescriptor.TYPE_STRING,
                "bytes": FieldDescriptor.TYPE_BYTES}


def parse_proto(path):
    """The messages and enums of a .proto as we write them (one declaration per line): {message name:
    [(field, number, type, repeated, oneof)]}, {enum name: {value: number}}, the names relative to the
    package, nested ones dotted (Summary.Value)."""
    messages, enums, stack = {}, {}, []   # stack: ("message"|"enum"|"oneof", name)
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("//")[0].strip()
            if not line:
                continue
            m = re.fullmatch(r"(message|enum|oneof)\s+(\w+)\s*\{", line)
            if m:
                stack.append((m.group(1), m.group(2)))
                dotted = ".".join(n for k, n in stack if k != "oneof")
                if m.group(1) == "message":
                    messages[dotted] = []
                elif m.group(1) == "enum":
                    enums[dotted] = {}
                continue
            if line == "}":
                stack.pop()
                continue
            if not stack:
                continue
            kind = stack[-1][0]
            owner = ".".join(n for k, n in stack if k != "oneof")
            if kind == "enum":
                m = re.fullmatch(r"(\w+)\s*=\s*(-?\d+)\s*;", line)
                if m:
                    enums[owner][m.group(1)] = int(m.group(2))
                continue
            m = re.fullmatch(r"(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;", line)
            if m:
                oneof = stack[-1][1] if kind == "oneof" else None
                messages[owner].append((m.group(3), int(m.group(4)), m.group(2), bool(m.group(1)), oneof))
    return messages, enums


def resolve(name, scope, messages, enums):
    """A type name used in message scope, as its dotted name relative to the package (inner first)."""
    parts = scope.split(".")
    for i in range(len(parts), -1, -1):
        cand = ".".join(parts[:i] + [name])
        if cand in messages or cand in enums:
            return cand
    return name


def check_proto(path):
    messages, enums = parse_proto(path)
    pool = descriptor_pool.Default()
    check(len(messages) >= 8 and len(enums) >= 1, f"{path}: {len(messages)} messages, {len(enums)} enums parsed")
    for msg, fields in sorted(messages.items()):
        try:
            d = pool.FindMessageTypeByName("tensorboard." + msg)
        except KeyError:
            check(False, f"message {msg}: TensorBoard has no tensorboard.{msg}")
            continue
        for name, number, typ, repeated, oneof in fields:
            f = d.fields_by_name.get(name)
            if not check(f is not None, f"{msg}.{name}: a field of tensorboard.{msg}"):
                continue
            if typ in SCALAR_TYPES:
                same_type = f.type == SCALAR_TYPES[typ]
            else:
                target = resolve(typ, msg, messages, enums)
                want = FieldDescriptor.TYPE_ENUM if target in enums else FieldDescriptor.TYPE_MESSAGE
                named = f.enum_type if want == FieldDescriptor.TYPE_ENUM else f.message_type
                same_type = f.type == want and named is not None and named.full_name == "tensorboard." + target
            f_repeated = f.is_repeated if hasattr(f, "is_repeated") else f.label == FieldDescriptor.LABEL_REPEATED
            f_oneof = f.containing_oneof.name if f.containing_oneof else None
            check(f.number == number and same_type and f_repeated == repeated and f_oneof == oneof,
                  f"{msg}.{name} = {number} ({'repeated ' if repeated else ''}{typ}"
                  f"{', oneof ' + oneof if oneof else ''}) as TensorBoard's: number {f.number}, type {f.type}, "
                  f"repeated {f_repeated}, oneof {f_oneof}")
    for enum, values in sorted(enums.items()):
        try:
            e = pool.FindEnumTypeByName("tensorboard." + enum)
        except KeyError:
            check(False, f"enum {enum}: TensorBoard has no tensorboard.{enum}")
            continue
        theirs = {v.name: v.number for v in e.values}
        check(all(theirs.get(k) == v for k, v in values.items()),
              f"enum {enum}: {values} as TensorBoard's")


# (b) ------------------------------------------------------------------------------------------------
EVENT_FILE = re.compile(r"events\.out\.tfevents\.\d+\..+\.\d+\.\d+\.v2")


def event_files(run_dir):
    return sorted(n for n in os.listdir(run_dir) if EVENT_FILE.fullmatch(n)) if os.path.isdir(run_dir) else []


def load_run(run_dir):
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def series(acc, tag):
    """[(step, value)] of a scalar tensor tag, after checking it is one (float32, shape ())."""
    out = []
    for e in acc.Tensors(tag):
        a = tensor_util.make_ndarray(e.tensor_proto)
        if a.shape != () or a.dtype.name != "float32":
            check(False, f"{tag} at step {e.step}: a float32 scalar (got {a.dtype} {a.shape})")
        out.append((e.step, float(a)))
    return out


def close(tb, csv_value):
    # float32 rounding of the value (relative 6e-8) and the csv's 6 decimals (5e-7)
    return abs(tb - csv_value) <= 6e-7 + 1e-7 * abs(csv_value)


def run_pipeline(root, bin_dir, work, epochs, resume=None, run="run", steps=STEPS, **env):
    env = dict(os.environ, PAWPIPE_VALIDATION_STEPS="1", PAWPIPE_TENSORBOARD_EVERY=str(EVERY), **env)
    rc, out = interop_lib.run_pipeline(root, bin_dir, os.path.join(work, "data"), "model1.ini", os.path.join(work, run),
                                       epochs, steps, ["--resume", resume] if resume else [], env=env, timeout=150)
    if not check(rc == 0, f"scripts/pipeline {epochs} epochs{' (resumed)' if resume else ''} in {run} exits 0"):
        print(out[-6000:])
        sys.exit(1)


def log_count(path, text):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().count(text)


def check_failures(root, bin_dir, work):
    """Event files that cannot be written cost a warning, never the run; --no-tensorboard writes none."""
    os.makedirs(os.path.join(work, "broken"))
    with open(os.path.join(work, "broken", "tensorboard"), "w") as f:
        f.write("a file where the folder would go\n")
    run_pipeline(root, bin_dir, work, 2, run="broken", steps=2)
    logs = os.path.join(work, "broken", "logs")
    check(os.path.exists(os.path.join(work, "broken", "ckpt-epoch-002.safetensors")),
          "tensorboard/ cannot be created: the run trains to its end")
    check(log_count(os.path.join(logs, "trainer.log"), "training goes on without TensorBoard event files") == 1,
          "... and the trainer says so once")
    check(log_count(os.path.join(logs, "evaluator.log"), "going on without TensorBoard event files") == 1,
          "... and the evaluator says so once")
    run_pipeline(root, bin_dir, work, 1, run="off", steps=2, PAWPIPE_NO_TENSORBOARD="1")
    for name in ("train", "validation"):
        check(not os.path.exists(os.path.join(work, "off", "tensorboard", name)),
              f"PAWPIPE_NO_TENSORBOARD=1 (trainer and evaluator): no tensorboard/{name}")


def check_pipeline(root, bin_dir, work):
    interop_lib.gen_data(bin_dir, os.path.join(work, "data"), 30, 20, 2)
    run = os.path.join(work, "run")
    run_pipeline(root, bin_dir, work, EPOCHS)
    for name in ("train", "validation"):
        files = event_files(os.path.join(run, "tensorboard", name))
        check(len(files) == 1, f"tensorboard/{name}: one event file named as TensorFlow 2 names them ({files})")
    # A resumed trainer writes a new file in the same folder; TensorBoard reads both as one run.
    run_pipeline(root, bin_dir, work, EPOCHS + 1, resume=os.path.join(run, "ckpt-epoch-%03d.safetensors" % EPOCHS))
    check(len(event_files(os.path.join(run, "tensorboard", "train"))) == 2,
          "tensorboard/train: the resumed trainer added a second event file")
    epochs = EPOCHS + 1

    with open(os.path.join(run, "history.csv"), newline="") as f:
        rows = {int(r["epoch"]): r for r in csv.DictReader(f)}
    check(sorted(rows) == list(range(1, epochs + 1)), f"history.csv: epochs 1..{epochs}")
    for name, columns in (("train", ("loss", "accuracy")), ("validation", ("val_loss", "val_accuracy"))):
        acc = load_run(os.path.join(run, "tensorboard", name))
        check(acc.file_version == 2.0, f"{name}: file version brain.Event:2")
        for tag, column in zip(("epoch_loss", "epoch_accuracy"), columns):
            if not check(tag in acc.Tags()["tensors"], f"{name}: {tag} present"):
                continue
            check(acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars", f"{name}/{tag}: scalars plugin")
            s = series(acc, tag)
            check([st for st, _ in s] == list(range(epochs)), f"{name}/{tag}: steps 0..{epochs - 1} ({s})")
            check(all(close(v, float(rows[st + 1][column])) for st, v in s if st + 1 in rows),
                  f"{name}/{tag} equals history.csv's {column}")
        if name == "train":
            s = series(acc, "epoch_learning_rate") if "epoch_learning_rate" in acc.Tags()["tensors"] else []
            check([v for _, v in s] == [float(np.float32(1e-4))] * epochs,
                  "train/epoch_learning_rate: model1's 1e-4 each epoch")
            total = epochs * STEPS
            for tag in ("batch_loss", "batch_accuracy", "batch_images_per_second"):
                s = series(acc, tag) if check(tag in acc.Tags()["tensors"], f"train: {tag} present") else []
                check([st for st, _ in s] == list(range(EVERY, total + 1, EVERY)),
                      f"train/{tag}: steps {EVERY}, {2 * EVERY}, ... {total} (every {EVERY} steps done)")
                check(all(math.isfinite(v) and (v > 0 or tag != "batch_images_per_second") for _, v in s),
                      f"train/{tag}: finite values")
            # batch_loss is the epoch's running mean: at an epoch's last step it is the epoch's loss
            bl = dict(series(acc, "batch_loss"))
            check(all(close(bl.get((e + 1) * STEPS, math.nan), float(rows[e + 1]["loss"])) for e in range(epochs)),
                  "train/batch_loss at each epoch's last step equals that epoch's loss")
        else:
            s = series(acc, "evaluation_loss_vs_iterations")
            check([st for st, _ in s] == [int(rows[e]["step"]) for e in sorted(rows)],
                  "validation/evaluation_loss_vs_iterations at each checkpoint's step")
    return run


# (c) ------------------------------------------------------------------------------------------------
def keras_run(log_dir):
    import keras
    rng = np.random.default_rng(1)
    x = rng.random((16, 6), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.float32)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.RMSprop(1e-4), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir, update_freq=EVERY, write_graph=False)])
    return keras.__version__


def scalar_tags(acc):
    return {t for t in acc.Tags()["tensors"] if acc.SummaryMetadata(t).plugin_data.plugin_name == "scalars"}


def check_keras(ours, work):
    keras_dir = os.path.join(work, "keras")
    version = keras_run(keras_dir)
    runs = sorted(d for d in os.listdir(keras_dir) if event_files(os.path.join(keras_dir, d)))
    mine = sorted(d for d in os.listdir(ours) if event_files(os.path.join(ours, d)))
    check(runs == mine == ["train", "validation"], f"Keras {version} runs {runs}, ours {mine}")
    for run in runs:
        theirs, acc = load_run(os.path.join(keras_dir, run)), load_run(os.path.join(ours, run))
        check(theirs.file_version == acc.file_version, f"{run}: file version {theirs.file_version} as Keras'")
        missing = scalar_tags(theirs) - scalar_tags(acc)
        check(not missing and {"epoch_loss", "epoch_accuracy"} <= scalar_tags(theirs),
              f"{run}: Keras' scalar tags {sorted(scalar_tags(theirs))} all in ours (missing: {sorted(missing)})")
        for tag in sorted(scalar_tags(theirs) & scalar_tags(acc)):
            a, b = theirs.Tensors(tag)[0], acc.Tensors(tag)[0]
            check(theirs.SummaryMetadata(tag) == acc.SummaryMetadata(tag)
                  and a.tensor_proto.dtype == b.tensor_proto.dtype
                  and a.tensor_proto.tensor_shape == b.tensor_proto.tensor_shape
                  and len(a.tensor_proto.tensor_content) == len(b.tensor_proto.tensor_content) == 4,
                  f"{run}/{tag}: metadata, dtype, shape and content size as Keras writes them")
            if tag.startswith("epoch_"):
                check([e.step for e in theirs.Tensors(tag)] == [0, 1], f"{run}/{tag}: Keras' steps are 0-based epochs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--root", required=True)
    args = ap.parse_args()
    check_proto(os.path.join(args.root, "interop", "tboard.proto"))
    with tempfile.TemporaryDirectory(prefix="pawpipe-tboard-") as work:
        run = check_pipeline(os.path.abspath(args.root), os.path.abspath(args.bin), work)
        check_failures(os.path.abspath(args.root), os.path.abspath(args.bin), work)
        check_keras(os.path.join(run, "tensorboard"), work)
    print(f"{interop_lib.failures} failure(s)")
    return 1 if interop_lib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
