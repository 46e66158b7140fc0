#!/usr/bin/env python3
"""make_fixtures.py: PyTorch reference values for the tiny model of tiny.ini (see README.md).

Builds the tiny network in float64 with deterministic weights and images, and writes
tiny.bin (tensors, little-endian, concatenated) and tiny.manifest (one line per tensor:
name dtype shape byte_offset byte_count). Torch is needed only to regenerate; the C test
(tests/test_fixtures.c) reads the committed files.

    python3 tests/reference/make_fixtures.py [--out DIR]
"""
import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F

# The tiny model: the layer types of models/model1 (conv+relu, maxpool, flatten in Keras' HWC
# order, dense relu, dense sigmoid), fewer channels, a 47x47x3 input (the first pool floors 45 -> 22).
# Must agree with tiny.ini (test_fixtures checks the shapes and the optimizer settings).
IN_H, IN_W, IN_C = 47, 47, 3
LAYERS = [
    ("conv2d_1", "conv", dict(filters=4, kernel=3)),
    ("max_pooling2d_1", "pool", dict(pool=2)),
    ("conv2d_2", "conv", dict(filters=8, kernel=3)),
    ("max_pooling2d_2", "pool", dict(pool=2)),
    ("conv2d_3", "conv", dict(filters=8, kernel=3)),
    ("max_pooling2d_3", "pool", dict(pool=2)),
    ("flatten_1", "flatten", {}),
    ("dense_1", "dense", dict(units=16, act="relu")),
    ("dense_2", "dense", dict(units=1, act="sigmoid")),
]
BATCH = 6
LEARNING_RATE, RHO, EPSILON = 1e-3, 0.9, 1e-7   # Keras RMSprop defaults but for the rate
STEPS = 3
SEED = 20240611


def make_params(gen):
    """Glorot-uniform kernels (HWIO / (in, out), as Keras stores them) and small non-zero biases,
    so the bias paths are exercised. Returns [(name, array float64)] in layer order."""
    params = []
    h, w, c = IN_H, IN_W, IN_C
    for name, kind, hp in LAYERS:
        if kind == "conv":
            k, f = hp["kernel"], hp["filters"]
            shape, fan_in, fan_out = (k, k, c, f), k * k * c, k * k * f
            h, w, c = h - k + 1, w - k + 1, f
        elif kind == "dense":
            n_in, n_out = h * w * c, hp["units"]
            shape, fan_in, fan_out = (n_in, n_out), n_in, n_out
            h, w, c = 1, 1, n_out
        else:
            if kind == "pool":
                h, w = h // hp["pool"], w // hp["pool"]
            continue
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kern = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * limit
        bias = (torch.rand((shape[-1],), generator=gen, dtype=torch.float64) * 2 - 1) * 0.1
        # Round to float32 once: the C side starts from exactly these values.
        params.append((name + ".kernel", kern.float().double()))
        params.append((name + ".bias", bias.float().double()))
    return params


def forward(params, x_nhwc):
    """x (n, h, w, c) float64 -> (logits (n), [layer outputs NHWC after activation])."""
    p = dict(params)
    outs = []
    x = x_nhwc.permute(0, 3, 1, 2)          # torch works in NCHW
    flat = False
    for name, kind, hp in LAYERS:
        if kind == "conv":
            weight = p[name + ".kernel"].permute(3, 2, 0, 1)   # HWIO -> OIHW
            x = F.relu(F.conv2d(x, weight, p[name + ".bias"]))
        elif kind == "pool":
            x = F.max_pool2d(x, hp["pool"], hp["pool"])
        elif kind == "flatten":
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)   # Keras: (h, w, c) order
            flat = True
        elif kind == "dense":
            z = x @ p[name + ".kernel"] + p[name + ".bias"]
            x = F.relu(z) if hp["act"] == "relu" else torch.sigmoid(z)
        outs.append(x if flat else x.permute(0, 2, 3, 1))
    return z.reshape(-1), outs


def loss_and_grads(params, x, labels):
    leaves = [(n, t.clone().requires_grad_(True)) for n, t in params]
    logits, outs = forward(leaves, x)
    loss = F.binary_cross_entropy_with_logits(logits, labels)   # mean over the batch
    grads = torch.autograd.grad(loss, [t for _, t in leaves])
    return loss.detach(), logits.detach(), [o.detach() for o in outs], list(grads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()

    gen = torch.Generator().manual_seed(SEED)
    params = make_params(gen)
    images = torch.randint(0, 256, (BATCH, IN_H, IN_W, IN_C), generator=gen, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 1, 0, 1, 0], dtype=torch.float64)
    # Keras rescale: the float32 product u8 * float32(1/255), then float64 for the reference.
    x = (images.float() * torch.tensor(1.0 / 255.0, dtype=torch.float32)).double()

    tensors = [("images", images.numpy())]
    tensors.append(("labels", labels.numpy()))
    tensors += [("init." + n, t.numpy()) for n, t in params]

    loss, logits, outs, grads = loss_and_grads(params, x, labels)
    tensors.append(("loss", loss.reshape(1).numpy()))
    tensors.append(("logits", logits.numpy()))
    tensors += [("out." + name, o.numpy()) for (name, _, _), o in zip(LAYERS, outs)]
    tensors += [("grad." + n, g.numpy()) for (n, _), g in zip(params, grads)]

    # RMSprop with Keras semantics, by hand (torch.optim.RMSprop puts eps outside the root):
    # rms = rho * rms + (1 - rho) * g^2;  p -= lr * g / sqrt(rms + eps). Same batch every step.
    cur = [t.clone() for _, t in params]
    rms = [torch.zeros_like(t) for t in cur]
    step_losses = []
    for step in range(STEPS):
        named = [(n, t) for (n, _), t in zip(params, cur)]
        l, _, _, g = loss_and_grads(named, x, labels)
        step_losses.append(float(l))
        for i in range(len(cur)):
            rms[i] = RHO * rms[i] + (1 - RHO) * g[i] ** 2
            cur[i] = cur[i] - LEARNING_RATE * g[i] / torch.sqrt(rms[i] + EPSILON)
    tensors.append(("step_losses", np.array(step_losses)))
    tensors += [("step%d.%s" % (STEPS, n), t.numpy()) for (n, _), t in zip(params, cur)]
    tensors += [("rms%d.%s" % (STEPS, n), r.numpy()) for (n, _), r in zip(params, rms)]

    blob = bytearray()
    lines = [
        "# tiny.manifest: tensors of tiny.bin, written by make_fixtures.py (see README.md).",
        "# meta KEY VALUE | NAME DTYPE(u8|f32) SHAPE(d0xd1x..) BYTE_OFFSET BYTE_COUNT; little-endian, C order",
        "meta batch %d" % BATCH,
        "meta learning_rate %r" % LEARNING_RATE,
        "meta rho %r" % RHO,
        "meta epsilon %r" % EPSILON,
        "meta steps %d" % STEPS,
        "meta torch %s" % torch.__version__.split("+")[0],
    ]
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<u1" if a.dtype == np.uint8 else "<f4")
        dtype = "u8" if a.dtype == np.uint8 else "f32"
        shape = "x".join(str(d) for d in a.shape) or "1"
        blob += bytes(-len(blob) % 16)   # every tensor starts 16-byte aligned
        lines.append("%s %s %s %d %d" % (name, dtype, shape, len(blob), a.nbytes))
        blob += a.tobytes()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tiny.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(args.out, "tiny.manifest"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d tensors, %d bytes; loss %.6f; losses over the %d steps %s" %
          (len(tensors), len(blob), float(loss), STEPS, ", ".join("%.6f" % v for v in step_losses)))


if __name__ == "__main__":
    main()
