#!/usr/bin/env python3
"""test_keras.py: Keras interop against the real Keras (label keras; the Python of scripts/dev pydeps).

    test_keras.py SRC_DIR BIN_DIR WORK_DIR export|import|errors

export  A checkpoint trained here on the generated data set, written as .h5 and .keras by
        `evaluator --export`: keras.models.load_model rebuilds a compiled Sequential of 3,453,121
        trainable parameters, its probabilities on 150x150 PNGs equal ours (1e-5 with --backend ref,
        1e-4 with cpu), and the RMSprop state arrives (.keras: iterations and every velocity).
        tf.keras (Keras 2) loads the .h5 with the same probabilities too.
import  The tutorial's model trained for one short epoch in Keras 3 and in tf.keras (Keras 2), saved
        as .h5 and .keras, plus a Keras 2.0-style .h5 (batch_input_shape on the first Conv2D, which
        Keras 3 no longer reads): each scores here with Keras's probabilities; `trainer --init-from`
        one of them trains a step from its weights.
errors  Files that cannot be imported: an unmappable layer is named, a weights-only file, a shape
        mismatch, truncated and corrupted files and zips: exit status 1 with a message, never a
        crash (a signal) or a hang.
Exit 0 pass, 1 fail.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
KERAS2 = os.environ.get("TF_USE_LEGACY_KERAS") == "1"

try:
    import h5py
    import numpy as np
    from PIL import Image
except ImportError as e:
    print(f"error: {e}: run the tests with the Python of `scripts/dev pydeps` (BUILD_DIR/venv)")
    sys.exit(1)

import interop_lib  # noqa: E402
from interop_lib import check  # noqa: E402

PARAMS = 3453121


def run(cmd, timeout=600, env=None):
    """Run a command; returns (exit status, stdout + stderr)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                       env=env)
    return p.returncode, p.stdout


def keras_module():
    if KERAS2:
        import tf_keras as keras
    else:
        import keras
    return keras


def tutorial_model(keras):
    """The tutorial's second network (Chollet 5.2, with Dropout), compiled as there."""
    L = keras.layers
    first = [L.InputLayer(input_shape=(150, 150, 3))] if KERAS2 else [keras.Input(shape=(150, 150, 3))]
    m = keras.Sequential(first + [
        L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(128, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(128, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Flatten(), L.Dropout(0.5), L.Dense(512, activation="relu"), L.Dense(1, activation="sigmoid")])
    m.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop(learning_rate=1e-4), metrics=["acc"])
    return m


def load_images(data, split, n):
    """n images of each class of a split, resized to 150x150, scaled to [0, 1] as the tutorial's
    ImageDataGenerator(rescale=1./255) does; labels 0 cats, 1 dogs."""
    xs, ys = [], []
    for label, cls in enumerate(["cats", "dogs"]):
        names = sorted(os.listdir(os.path.join(data, split, cls)))[:n]
        for name in names:
            img = Image.open(os.path.join(data, split, cls, name)).convert("RGB").resize((150, 150))
            xs.append(np.asarray(img, dtype=np.float32) / 255.0)
            ys.append(label)
    return np.stack(xs), np.array(ys, dtype=np.float32)


def make_pngs(data, work):
    """150x150 PNGs (so that neither side resizes): test pictures, plus one of noise."""
    x, _ = load_images(data, "test", 2)
    paths = []
    for i, img in enumerate(x):
        p = os.path.join(work, f"probe{i}.png")
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(p)
        paths.append(p)
    rng = np.random.default_rng(7)
    p = os.path.join(work, "noise.png")
    Image.fromarray(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)).save(p)
    paths.append(p)
    return paths


def png_batch(paths):
    return np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255.0 for p in paths])


def our_probs(bin_dir, model_file, pngs, backend):
    """P(dogs) of each PNG from `evaluator --predict --digits 9`."""
    rc, out = run([os.path.join(bin_dir, "evaluator"), "--checkpoint", model_file, "--predict", "--digits", "9",
                   "--backend", backend, "--classes", "cats,dogs", "--log-level", "warn"] + pngs)
    if rc != 0:
        print(out)
        return None
    probs = {}
    for line in out.splitlines():
        if "p(dogs)=" in line:
            probs[line.split(":")[0]] = float(line.rsplit("p(dogs)=", 1)[1].rstrip(")"))
    return np.array([probs.get(p, np.nan) for p in pngs])


def compare(bin_dir, model_file, pngs, keras_probs, what):
    for backend, tol in (("ref", 1e-5), ("cpu", 1e-4)):
        ours = our_probs(bin_dir, model_file, pngs, backend)
        ok = ours is not None and np.all(np.abs(ours - keras_probs) <= tol)
        diff = "n/a" if ours is None else f"{np.max(np.abs(ours - keras_probs)):.2e}"
        check(ok, f"{what}: --backend {backend} probabilities equal Keras's within {tol:g} (max diff {diff})")


def gen_data(bin_dir, work):
    return interop_lib.gen_data(bin_dir, os.path.join(work, "data"), 20, 10, 4)


def train_here(src, bin_dir, data, run_dir, extra=()):
    """A short run of the whole pipeline (model2: the tutorial's network with Dropout)."""
    rc, out = interop_lib.run_pipeline(src, bin_dir, data, "model2.ini", run_dir, 1, 2, ["--no-evaluator"] + list(extra))
    if rc != 0:
        print(out)
    return rc, out


def load_ckpt(src, path):
    sys.path.insert(0, os.path.join(src, "tools"))
    import ckpt_load
    return ckpt_load.load(path)


# --- export ------------------------------------------------------------------------------------------

def case_export(src, bin_dir, work):
    keras = keras_module()
    data = gen_data(bin_dir, work)
    pngs = make_pngs(data, work)
    run_dir = os.path.join(work, "run")
    rc, _ = train_here(src, bin_dir, data, run_dir)
    check(rc == 0, "a checkpoint trained here (scripts/pipeline, model2, 2 steps)")
    ckpt = os.path.join(run_dir, "latest.safetensors")
    tensors, meta = load_ckpt(src, ckpt)
    step = int(meta["step"])
    for ext in ("h5", "keras"):
        out = os.path.join(work, f"exported.{ext}")
        rc, text = run([os.path.join(bin_dir, "evaluator"), "--checkpoint", ckpt, "--export", out])
        check(rc == 0 and os.path.exists(out), f"evaluator --export {os.path.basename(out)}" + ("" if rc == 0 else f": {text}"))
        m = keras.models.load_model(out)
        n = sum(int(np.prod(v.shape)) for v in m.trainable_weights)
        check(n == PARAMS, f"Keras loads {ext}: {n} trainable parameters")
        check(type(m).__name__ == "Sequential" and m.optimizer is not None
              and type(m.optimizer).__name__ == "RMSprop", f"{ext}: a compiled Sequential with RMSprop")
        check(abs(float(m.optimizer.learning_rate.numpy()) - 1e-4) < 1e-9, f"{ext}: learning rate 1e-4")
        kernel = m.layers[0].get_weights()[0]
        check(np.array_equal(kernel, tensors["conv2d_1.kernel"]), f"{ext}: the first kernel bit for bit")
        compare(bin_dir, out, pngs, m.predict(png_batch(pngs), verbose=0).ravel(), f"exported {ext} in Keras 3")
        check(int(m.optimizer.iterations.numpy()) == step, f"{ext}: optimizer iterations = step {step}")
        if ext == "keras":
            vel = [v for v in m.optimizer.variables if "velocity" in v.path]
            names = [k for k in tensors if k.endswith(".rms")]
            same = len(vel) == len(names) and all(
                np.array_equal(v.numpy(), tensors[k]) for v, k in zip(vel, names))
            check(same, f"keras: the {len(vel)} RMSprop velocities equal the checkpoint's")
    # Keras 2 reads the legacy file too (the tutorial's era)
    probe = os.path.join(work, "k2_probs.json")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    rc, text = run([sys.executable, __file__, src, bin_dir, work, "k2-predict", os.path.join(work, "exported.h5"),
                    probe] + pngs, env=env)
    if rc != 0:
        print(text)
    k2 = np.array(json.load(open(probe))) if rc == 0 else None
    check(k2 is not None, "tf.keras (Keras 2) loads the exported .h5")
    if k2 is not None:
        compare(bin_dir, os.path.join(work, "exported.h5"), pngs, k2, "exported h5 in tf.keras")


# --- import ------------------------------------------------------------------------------------------

def keras_train_and_save(data, out_dir, prefix):
    """Train the tutorial's model one short epoch and save it both ways; returns the file paths."""
    keras = keras_module()
    keras.utils.set_random_seed(1)
    x, y = load_images(data, "train", 10)
    m = tutorial_model(keras)
    m.fit(x, y, batch_size=10, epochs=1, verbose=0)
    paths = [os.path.join(out_dir, f"{prefix}.h5"), os.path.join(out_dir, f"{prefix}.keras")]
    for p in paths:
        m.save(p)
    return paths


def keras2_style(src_h5, dst_h5):
    """A Keras 2.0-era file from a tf.keras one: the Sequential's config a bare list of layers, the
    input as batch_input_shape on the first Conv2D, layers named conv2d_1..., 'lr' for the learning
    rate, keras_version 2.0.8."""
    shutil.copy(src_h5, dst_h5)
    with h5py.File(dst_h5, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        layers = cfg["config"]["layers"]
        shape = layers[0]["config"]["batch_input_shape"]
        layers = layers[1:]
        counts = {}
        for ly in layers:
            c = ly["config"]
            base = c["name"].rsplit("_", 1)[0] if c["name"][-1].isdigit() and "_" in c["name"] else c["name"]
            counts[base] = counts.get(base, 0) + 1
            c["name"] = f"{base}_{counts[base]}"
            c.pop("dtype", None)
        layers[0]["config"]["batch_input_shape"] = shape
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers})
        f.attrs["training_config"] = json.dumps({"loss": "binary_crossentropy", "metrics": ["acc"],
                                                 "optimizer_config": {"class_name": "RMSprop", "config": {
                                                     "lr": 1e-4, "rho": 0.9, "epsilon": 1e-7, "decay": 0.0}}})
        f.attrs["keras_version"] = "2.0.8"


def case_import(src, bin_dir, work):
    keras = keras_module()
    data = gen_data(bin_dir, work)
    pngs = make_pngs(data, work)
    x = png_batch(pngs)
    files = keras_train_and_save(data, work, "keras3")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    rc, text = run([sys.executable, __file__, src, bin_dir, work, "k2-train", data], env=env)
    check(rc == 0, "tf.keras (Keras 2) trains and saves the tutorial's model" + ("" if rc == 0 else f": {text}"))
    k2 = [os.path.join(work, "keras2.h5"), os.path.join(work, "keras2.keras")]
    old = os.path.join(work, "keras2_0.h5")
    keras2_style(k2[0], old)
    try:
        keras.models.load_model(old)
        check(False, "Keras 3 refuses the Keras 2.0-style file (else it is not the old style)")
    except Exception:
        check(True, "Keras 3 refuses the Keras 2.0-style file (batch_input_shape on a Conv2D)")
    for f in files:
        m = keras.models.load_model(f)
        compare(bin_dir, f, pngs, m.predict(x, verbose=0).ravel(), f"Keras 3 {os.path.basename(f)}")
    probe = os.path.join(work, "k2_probs.json")
    rc, text = run([sys.executable, __file__, src, bin_dir, work, "k2-predict", k2[0], probe] + pngs, env=env)
    k2_probs = np.array(json.load(open(probe))) if rc == 0 else None
    check(k2_probs is not None, "tf.keras predicts with its own file" + ("" if rc == 0 else f": {text}"))
    if k2_probs is not None:
        for f in k2 + [old]:
            compare(bin_dir, f, pngs, k2_probs, f"tf.keras {os.path.basename(f)}")
    # scored on a split, as a checkpoint is
    rc, text = run([os.path.join(bin_dir, "evaluator"), "--checkpoint", files[0], "--data", data, "--validation-steps",
                    "0", "--log-level", "warn"])
    check(rc == 0 and "val_accuracy" in text and "(20 images" in text, "evaluator --checkpoint keras3.h5 --data scores "
          "the validation split" + ("" if rc == 0 else f": {text}"))
    # the layers as Keras named them
    rc, text = run([os.path.join(bin_dir, "evaluator"), "--checkpoint", old, "--feature-maps", pngs[0], "--out",
                    os.path.join(work, "maps")])
    maps = sorted(os.listdir(os.path.join(work, "maps"))) if rc == 0 else []
    check(rc == 0 and any("conv2d_1" in n for n in maps), f"feature maps of the Keras 2.0 file: {maps[:3]}...")
    # fine-tuning: --init-from, one step
    run_dir = os.path.join(work, "finetune")
    rc, text = train_here(src, bin_dir, data, run_dir, ["--init-from", files[1]])
    check(rc == 0, "scripts/pipeline --init-from keras3.keras trains")
    log = open(os.path.join(run_dir, "trainer.log")).read() if os.path.exists(os.path.join(run_dir, "trainer.log")) else text
    check("initialised 3453121 parameters from" in log, "the trainer says it started from the Keras weights")
    if rc == 0:
        tensors, meta = load_ckpt(src, os.path.join(run_dir, "latest.safetensors"))
        start = keras.models.load_model(files[1]).layers[-1].get_weights()[0]
        moved = np.abs(tensors["dense_2.kernel"] - start)
        check(int(meta["step"]) == 2 and 0 < moved.max() < 0.01,
              f"2 steps from the Keras weights: step {meta['step']}, the last kernel moved by at most {moved.max():.2e}")


# --- errors ------------------------------------------------------------------------------------------

def expect_refused(bin_dir, path, pattern, what):
    try:
        rc, text = run([os.path.join(bin_dir, "evaluator"), "--checkpoint", path, "--predict", path], timeout=180)
    except subprocess.TimeoutExpired:
        check(False, f"{what}: no answer in 180 s")
        return
    last = text.strip().splitlines()[-1] if text.strip() else ""
    check(rc == 1 and (pattern is None or pattern in text), f"{what}: exit {rc}: {last[:160]}")


def case_errors(src, bin_dir, work):
    keras = keras_module()
    L = keras.layers
    m = keras.Sequential([keras.Input(shape=(32, 32, 3)), L.Conv2D(4, 3, activation="relu"),
                          L.BatchNormalization(), L.Flatten(), L.Dense(1, activation="sigmoid")])
    p = os.path.join(work, "batchnorm.keras")
    m.save(p)
    expect_refused(bin_dir, p, "layer 2 'batch_normalization' (BatchNormalization) cannot be mapped",
                   "a BatchNormalization layer is named")
    m.save(p.replace(".keras", ".h5"))
    expect_refused(bin_dir, p.replace(".keras", ".h5"), "'batch_normalization' (BatchNormalization)",
                   "the same in .h5")
    m = keras.Sequential([keras.Input(shape=(32, 32, 3)), L.Conv2D(4, 3, padding="same"), L.Flatten(),
                          L.Dense(1, activation="sigmoid")])
    p = os.path.join(work, "same.h5")
    m.save(p)
    expect_refused(bin_dir, p, "padding", "padding 'same' is named")
    p = os.path.join(work, "weights.weights.h5")
    m.save_weights(p)
    expect_refused(bin_dir, p, None, "a weights-only file")
    good = keras.Sequential([keras.Input(shape=(32, 32, 3)), L.Conv2D(4, 3), L.MaxPooling2D(), L.Flatten(),
                             L.Dense(1, activation="sigmoid")])
    h5, kz = os.path.join(work, "small.h5"), os.path.join(work, "small.keras")
    good.save(h5)
    good.save(kz)
    rc, _ = run([os.path.join(bin_dir, "evaluator"), "--checkpoint", h5, "--export", os.path.join(work, "x.keras")])
    check(rc == 0, "the small model itself is fine")
    # a kernel of another shape
    bad = os.path.join(work, "shape.h5")
    shutil.copy(h5, bad)
    with h5py.File(bad, "r+") as f:
        g = f["model_weights"]
        name = [n for n in g.attrs["layer_names"] if len(g[n].attrs["weight_names"])][0]
        wn = g[name].attrs["weight_names"][0]
        del g[name][wn]
        g[name][wn] = np.zeros((3, 3, 3, 5), np.float32)
    expect_refused(bin_dir, bad, "has shape (3, 3, 3, 5)", "a kernel of the wrong shape")
    # truncated and corrupted copies
    for src_file in (h5, kz):
        blob = open(src_file, "rb").read()
        for frac in (0.02, 0.3, 0.7, 0.99):
            p = os.path.join(work, "cut" + os.path.splitext(src_file)[1])
            open(p, "wb").write(blob[:int(len(blob) * frac)])
            expect_refused(bin_dir, p, None, f"{os.path.basename(src_file)} cut at {frac:.0%}")
        rng = np.random.default_rng(3)
        crashes = 0
        for trial in range(40):
            b = bytearray(blob)
            for pos in rng.integers(0, len(b), 8):
                b[pos] = rng.integers(0, 256)
            p = os.path.join(work, "flip" + os.path.splitext(src_file)[1])
            open(p, "wb").write(b)
            rc, text = run([os.path.join(bin_dir, "evaluator"), "--checkpoint", p, "--export",
                            os.path.join(work, "flip_out.keras")], timeout=180)
            crashes += rc not in (0, 1)
            if rc not in (0, 1):
                print(text)
        check(crashes == 0, f"{os.path.basename(src_file)}: 40 copies with 8 random bytes each: exit 0 or 1 every time")
    # a zip whose weights are not HDF5
    p = os.path.join(work, "junk.keras")
    with zipfile.ZipFile(kz) as zin, zipfile.ZipFile(p, "w") as zout:
        zout.writestr("config.json", zin.read("config.json"))
        zout.writestr("model.weights.h5", b"not hdf5 at all" * 100)
    expect_refused(bin_dir, p, "model.weights.h5 cannot be read as HDF5", "a .keras whose weights are junk")
    p = os.path.join(work, "noconfig.keras")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", "{}")
    expect_refused(bin_dir, p, "no config.json", "a zip without config.json")


# --- helpers run in a tf.keras (Keras 2) process ---------------------------------------------------------

def k2_train(data, work):
    keras_train_and_save(data, work, "keras2")


def k2_predict(model_file, out_json, pngs):
    m = keras_module().models.load_model(model_file)
    json.dump([float(v) for v in m.predict(png_batch(pngs), verbose=0).ravel()], open(out_json, "w"))


def main():
    src, bin_dir, work, case = sys.argv[1:5]
    rest = sys.argv[5:]
    if case == "k2-train":
        return k2_train(rest[0], work)
    if case == "k2-predict":
        return k2_predict(rest[0], rest[1], rest[2:])
    work = os.path.join(work, case)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    {"export": case_export, "import": case_import, "errors": case_errors}[case](src, bin_dir, work)
    print(f"{interop_lib.failures} failure(s)")
    sys.exit(1 if interop_lib.failures else 0)


if __name__ == "__main__":
    main()
