#!/usr/bin/env python3
"""augment_peer.py: the peer of bench/augment.c, torchvision + PIL doing the same work on one core.

(a) first epoch: PIL open + convert('RGB') + RandomAffine(40, translate 0.2, scale 0.8..1.2, shear)
    + RandomHorizontalFlip + Resize((150, 150)) + ToTensor, per image;
(b) later epochs: the same from images already decoded and kept in memory (the peer's "cache").
Prints one line per phase, the rate per CPU-second of this process (as bench_augment does, so other
processes on the machine slow the wall clock but not the figure)."""
import argparse
import os
import sys
import time

import torch
from PIL import Image
from torchvision import transforms

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True, help="folder of class sub-folders (e.g. DATA/train)")
ap.add_argument("--images", type=int, default=600, help="images per phase")
ap.add_argument("--epochs", type=int, default=2, help="passes over the cached images in phase (b)")
args = ap.parse_args()

torch.set_num_threads(1)
torch.manual_seed(1)
files = []
for cls in sorted(os.listdir(args.data)):
    d = os.path.join(args.data, cls)
    if os.path.isdir(d):
        files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.lower().endswith((".jpg", ".jpeg", ".png"))]
if not files:
    sys.exit(f"no images in {args.data}")
# Interleave the classes the way a shuffled epoch would, and take the first N.
files = files[::2] + files[1::2]
files = files[: args.images]

# shear: Keras' shear_range=0.2 is in degrees, so (-0.2, 0.2) degrees here too; bilinear like Keras.
augment = transforms.Compose([
    transforms.RandomAffine(degrees=40, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=(-0.2, 0.2),
                            interpolation=transforms.InterpolationMode.BILINEAR),
    transforms.RandomHorizontalFlip(),
    transforms.Resize((150, 150)),
    transforms.ToTensor(),
])


def clocks():
    return time.perf_counter(), time.process_time()


def report(phase, n, t0):
    wall, cpu = (b - a for a, b in zip(t0, clocks()))
    print(f"peer {phase:<16} {n:6d} images  wall {wall:7.3f} s  cpu {cpu:7.3f} s  {n / cpu:8.1f} images/s per core"
          f"  ({cpu / n * 1e3:.3f} ms each)", flush=True)


t0 = clocks()
cache = []
for f in files:
    with Image.open(f) as im:
        rgb = im.convert("RGB")
    augment(rgb)
    cache.append(rgb)
report("first-epoch", len(files), t0)

t0 = clocks()
for _ in range(args.epochs):
    for im in cache:
        augment(im)
report("later-epochs", len(cache) * args.epochs, t0)
