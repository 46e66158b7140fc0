#!/usr/bin/env python3
"""test_ckpt_load.py: tools/ckpt_load.py reads a checkpoint written by the C code (test_checkpoint
--write-fixture) back exactly: names, Keras shapes, values, metadata; and refuses damaged copies.
Usage: test_ckpt_load.py TOOLS_DIR CHECKPOINT SPEC. Exit 0 pass, 1 fail (numpy missing included: CMake
picks a Python that has it, tests/nn_model.cmake)."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print(f"error: numpy is not installed for {sys.executable} (Debian: python3-numpy)")
    sys.exit(1)

tools_dir, ckpt, spec_path = sys.argv[1:4]
sys.path.insert(0, tools_dir)
import ckpt_load  # noqa: E402

failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    failures += not cond


tensors, meta = ckpt_load.load(ckpt)
with open(spec_path, encoding="utf-8") as f:
    spec = f.read()
check(meta.get("format") == "pawpipe-checkpoint-1", "format tag")
check(meta.get("spec") == spec, "the spec text inside equals models/model1.ini")
check((meta.get("epoch"), meta.get("step"), meta.get("seed")) == ("7", "700", "12345"), "epoch, step, seed")
check(float(meta.get("metric.loss", "nan")) == 0.25 and float(meta.get("metric.accuracy", "nan")) == 0.875,
      "metrics")

layers = [("conv2d_1", (3, 3, 3, 32)), ("conv2d_2", (3, 3, 32, 64)), ("conv2d_3", (3, 3, 64, 128)),
          ("conv2d_4", (3, 3, 128, 128)), ("dense_1", (6272, 512)), ("dense_2", (512, 1))]
names = []
for layer, kshape in layers:
    names += [(f"{layer}.kernel", kshape), (f"{layer}.bias", (kshape[-1],))]
check(sorted(tensors) == sorted([n for n, _ in names] + [n + ".rms" for n, _ in names]), "tensor names")
for n, shape in names:
    check(tensors[n].shape == shape and tensors[n + ".rms"].shape == shape, f"{n} shape {shape}")
    check(tensors[n].dtype == np.float32, f"{n} float32")

# The C side filled the parameter buffer (layer order, kernel then bias, row-major) with these values.
params = np.concatenate([tensors[n].ravel() for n, _ in names])
rms = np.concatenate([tensors[n + ".rms"].ravel() for n, _ in names])
i = np.arange(params.size, dtype=np.int64)
check(params.size == 3453121, f"{params.size:,} parameters")
check(np.array_equal(params, (((i % 2001) - 1000) / 1024.0).astype(np.float32)), "parameter values, bit-exact")
check(np.array_equal(rms, ((i % 997) / 512.0).astype(np.float32)), "RMSprop state values, bit-exact")

# The command line prints the tensors and the metadata.
out = subprocess.run([sys.executable, os.path.join(tools_dir, "ckpt_load.py"), ckpt, "--spec"],
                     capture_output=True, text=True)
check(out.returncode == 0, "ckpt_load.py exits 0")
check("dense_1.kernel" in out.stdout and "(6272, 512)" in out.stdout, "ckpt_load.py lists dense_1.kernel")
check("epoch: 7" in out.stdout and "[conv2d_1]" in out.stdout and "parameters: 3,453,121" in out.stdout,
      "ckpt_load.py prints metadata, spec and the parameter count")

# The reference implementation, where installed, reads the same tensors and metadata.
try:
    from safetensors import safe_open
    from safetensors.numpy import load_file
except ImportError:
    print("note: the safetensors package is not installed: cross-check skipped")
else:
    ref = load_file(ckpt)
    with safe_open(ckpt, framework="np") as f:
        ref_meta = f.metadata()
    check(set(ref) == set(tensors) and all(np.array_equal(ref[k], tensors[k]) for k in ref),
          "the safetensors package reads the same tensors")
    check(ref_meta == meta, "the safetensors package reads the same metadata")

# Damaged copies are refused, by the module and by the program.
with open(ckpt, "rb") as f:
    data = f.read()
with tempfile.TemporaryDirectory() as tmp:
    bad = os.path.join(tmp, "bad.safetensors")
    for n in (0, 5, 8, 100, len(data) // 2, len(data) - 1):
        with open(bad, "wb") as f:
            f.write(data[:n])
        try:
            ckpt_load.load(bad)
            check(False, f"truncated to {n} bytes: refused")
        except ValueError as e:
            check("truncated" in str(e) or "implausible" in str(e), f"truncated to {n} bytes: {e}")
    with open(bad, "wb") as f:
        f.write(data + b"\0\0\0\0")
    try:
        ckpt_load.load(bad)
        check(False, "trailing bytes refused")
    except ValueError as e:
        check("not part of any tensor" in str(e), f"trailing bytes: {e}")
    out = subprocess.run([sys.executable, os.path.join(tools_dir, "ckpt_load.py"), bad], capture_output=True, text=True)
    check(out.returncode == 1 and "ckpt_load:" in out.stderr, "ckpt_load.py exits 1 on a bad file")

print(f"{failures} failed")
sys.exit(1 if failures else 0)
