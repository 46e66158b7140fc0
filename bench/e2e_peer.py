#!/usr/bin/env python3
"""The end-to-end peer: PyTorch doing one model2 epoch the tutorial's way, timed.

Per epoch: 100 training steps of 20 augmented images (torchvision RandomAffine + flip + resize, a
DataLoader with 1 worker), the tutorial's model2 network (channels-last, 2 threads, RMSprop with
Keras' rho/epsilon, BCE from the logit, dropout 0.1), then a pass over the validation images
(resize only, batch 20). Prints one line per epoch and a final "seconds/epoch: X" (the mean over the
epochs after the first, which includes start-up)."""
import argparse
import os
import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def model2():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.1),
        nn.Linear(128 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="folder with train/ and validation/")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    train_tf = transforms.Compose([
        transforms.Resize((150, 150)),
        transforms.RandomAffine(degrees=40, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=0.2),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor()])
    val_tf = transforms.Compose([transforms.Resize((150, 150)), transforms.ToTensor()])
    train = datasets.ImageFolder(os.path.join(args.data, "train"), train_tf)
    val = datasets.ImageFolder(os.path.join(args.data, "validation"), val_tf)
    train_dl = DataLoader(train, batch_size=20, shuffle=True, num_workers=1, drop_last=False,
                          persistent_workers=True)
    val_dl = DataLoader(val, batch_size=20, shuffle=False, num_workers=1, persistent_workers=True)

    net = model2().to(memory_format=torch.channels_last)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    times = []
    it = iter(train_dl)
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        net.train()
        tl = tc = tn = 0
        for _ in range(args.steps):
            try:
                x, y = next(it)
            except StopIteration:
                it = iter(train_dl)
                x, y = next(it)
            x = x.contiguous(memory_format=torch.channels_last)
            y = y.float().unsqueeze(1)
            opt.zero_grad(set_to_none=True)
            z = net(x)
            loss = loss_fn(z, y)
            loss.backward()
            opt.step()
            tl += loss.item() * len(y)
            tc += ((z > 0).float() == y).sum().item()
            tn += len(y)
        t1 = time.perf_counter()
        net.eval()
        vl = vc = vn = 0
        with torch.no_grad():
            for x, y in val_dl:
                x = x.contiguous(memory_format=torch.channels_last)
                y = y.float().unsqueeze(1)
                z = net(x)
                vl += loss_fn(z, y).item() * len(y)
                vc += ((z > 0).float() == y).sum().item()
                vn += len(y)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        print(f"epoch {epoch + 1}: train {t1 - t0:.1f} s, validation {t2 - t1:.1f} s, "
              f"loss {tl / tn:.4f} acc {tc / tn:.4f} val_loss {vl / vn:.4f} val_acc {vc / vn:.4f}",
              flush=True)
    rest = times[1:] if len(times) > 1 else times
    print(f"seconds/epoch: {sum(rest) / len(rest):.2f}")


if __name__ == "__main__":
    main()
