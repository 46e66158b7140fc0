#!/usr/bin/env python3
"""step_time.py: the PyTorch peer of trainer_benchmark: median training-step time of model1.

The same network as models/model1.ini (the Keras cats-vs-dogs tutorial's first model), trained the
way the C trainer trains it: uint8 NHWC images scaled by 1/255 inside the step, channels_last,
BCE-with-logits, RMSprop(rho=0.9, eps=1e-7, no momentum), a fixed number of threads. Prints
"median ms/step: X" like trainer_benchmark so bench/step_time.sh can compare the two.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def model1():
    # conv 3x3 'valid' + ReLU, 2x2 max-pool, x4 (32, 64, 128, 128 filters); flatten; 512 ReLU; 1 logit
    layers, c = [], 3
    for f in (32, 64, 128, 128):
        layers += [nn.Conv2d(c, f, 3), nn.ReLU(), nn.MaxPool2d(2)]
        c = f
    # Keras flattens in HWC order, PyTorch in CHW: a fixed permutation of the dense rows, same cost.
    layers += [nn.Flatten(), nn.Linear(7 * 7 * 128, 512), nn.ReLU(), nn.Linear(512, 1)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=150, help="input height and width")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    net = model1().to(memory_format=torch.channels_last)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (args.batch, args.size, args.size, 3), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 2, (args.batch, 1), generator=g).float()

    def step():
        # NHWC uint8 -> logical NCHW, physically channels_last, float in [0, 1]
        x = images.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), labels)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"pytorch {torch.__version__} ({n_params} parameters), threads {torch.get_num_threads()}, "
          f"batch {args.batch}, {args.steps} steps after {args.warmup} warm-up")
    print(f"min ms/step: {min(times):.2f}")
    print(f"mean ms/step: {statistics.mean(times):.2f}")
    print(f"images/s: {args.batch * 1e3 / med:.1f}")
    print(f"median ms/step: {med:.2f}")


if __name__ == "__main__":
    main()
