#!/usr/bin/env python3
"""gpu_e2e_peer.py: the end-to-end PyTorch peer on a GPU: the tutorial's model2 run, timed.

What a PyTorch user would write for our pipeline's work: torchvision's ImageFolder (PIL decoding),
Resize to 150x150 + RandomAffine (rotation 40 degrees, shifts 0.2, shear 0.2 degrees, zoom 0.8-1.2) +
horizontal flip, the way Keras' ImageDataGenerator of the tutorial does it (as bench/e2e_peer.py on
the CPU); a DataLoader with --workers persistent worker processes and pinned memory; uint8 batches
scaled on the GPU; the network of the spec (models/model2.ini) on the GPU, channels_last, fp32 (TF32
off) or tf32, RMSprop with the spec's settings, BCE from the logit. Each epoch: one pass over the
training images in batches of --batch, then one over the validation images (resize only).

Stops after --epochs epochs, or after the first epoch that ends past --time-limit seconds, and prints
one line per epoch and at the end:
  epochs: N of M
  wall s: T          (from the start of this script, imports and start-up included)
  s/epoch: T/N
  images/s: X        (training images per second of wall time, validation included)
  val_accuracy: A    (of the last epoch)

usage: bench/gpu_e2e_peer.py --data DIR [--spec models/model2.ini] [--epochs 100] [--workers 14]
                             [--batch 20] [--precision fp32|tf32] [--time-limit S] [--device cuda|cpu]
Exits 77 (skipped) when torch or torchvision is missing or the device is not there.
"""
import time

T_START = time.time()

import argparse  # noqa: E402  (the clock starts before the imports)
import os  # noqa: E402
import sys  # noqa: E402

SKIP = 77


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train/ and validation/, one folder per class")
    ap.add_argument("--spec", default=os.path.join(here, "..", "models", "model2.ini"))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--workers", type=int, default=14, help="DataLoader worker processes (default 14)")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--precision", choices=["fp32", "tf32"], default="fp32")
    ap.add_argument("--time-limit", type=float, default=0, help="stop after the epoch that ends past S seconds")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (to try the script)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in the main process (0: its default)")
    args = ap.parse_args()

    try:
        import torch
        import torch.nn as nn
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms
    except ImportError as e:
        print("SKIP: the PyTorch peer needs torch and torchvision (%s)" % e, flush=True)
        return SKIP
    sys.path.insert(0, here)
    from gpu_step_peer import build_net, read_spec

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("SKIP: torch %s sees no CUDA device" % torch.__version__, flush=True)
        return SKIP
    for split in ("train", "validation"):
        if not os.path.isdir(os.path.join(args.data, split)):
            print("error: %s has no %s/ folder" % (args.data, split), file=sys.stderr)
            return 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"

    name, (h, w, c), optim, layers = read_spec(args.spec)
    torch.manual_seed(1)
    train_tf = transforms.Compose([
        transforms.Resize((h, w)),
        transforms.RandomAffine(degrees=40, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=0.2),
        transforms.RandomHorizontalFlip(),
        transforms.PILToTensor()])
    val_tf = transforms.Compose([transforms.Resize((h, w)), transforms.PILToTensor()])
    train = datasets.ImageFolder(os.path.join(args.data, "train"), train_tf)
    val = datasets.ImageFolder(os.path.join(args.data, "validation"), val_tf)
    loader_kw = {"batch_size": args.batch, "num_workers": args.workers, "pin_memory": cuda,
                 "persistent_workers": args.workers > 0}
    train_dl = DataLoader(train, shuffle=True, drop_last=False, **loader_kw)
    val_dl = DataLoader(val, shuffle=False, **loader_kw)

    net, _ = build_net(layers, (h, w, c))
    net = net.to(dev, memory_format=torch.channels_last)
    opt = torch.optim.RMSprop(net.parameters(), lr=optim["learning_rate"], alpha=optim["rho"], eps=optim["epsilon"])
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    print("pytorch %s, torchvision workers %d, %s, model %s, %d training and %d validation images, batch %d, %s"
          % (torch.__version__, args.workers, torch.cuda.get_device_name(dev) if cuda else "CPU", name,
             len(train), len(val), args.batch, args.precision), flush=True)

    def to_device(x, y):
        # uint8 NCHW from the workers -> float in [0, 1], channels_last, on the device
        x = x.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last).float().mul_(1.0 / 255.0)
        y = y.to(dev, non_blocking=True).float().unsqueeze(1)
        return x, y

    epochs_done, val_acc, t_end = 0, float("nan"), time.time()
    for epoch in range(args.epochs):
        t0 = time.time()
        net.train()
        sums, tn = torch.zeros(2, device=dev), 0   # loss and correct summed on the device, read once
        for x, y in train_dl:
            x, y = to_device(x, y)
            opt.zero_grad(set_to_none=True)
            z = net(x)
            loss = loss_fn(z, y)
            (loss / len(y)).backward()
            opt.step()
            with torch.no_grad():
                sums += torch.stack([loss.detach(), ((z > 0).float() == y).sum()])
            tn += len(y)
        t1 = time.time()
        net.eval()
        vsums, vn = torch.zeros(2, device=dev), 0
        with torch.no_grad():
            for x, y in val_dl:
                x, y = to_device(x, y)
                z = net(x)
                vsums += torch.stack([loss_fn(z, y), ((z > 0).float() == y).sum()])
                vn += len(y)
        tl, ta = sums.tolist()
        vl, va = vsums.tolist()
        t_end = time.time()
        epochs_done = epoch + 1
        val_acc = va / max(vn, 1)
        print("epoch %d/%d: train %.2f s, validation %.2f s - loss: %.4f - accuracy: %.4f - val_loss: %.4f - "
              "val_accuracy: %.4f - at %.1f s" % (epochs_done, args.epochs, t1 - t0, t_end - t1, tl / max(tn, 1),
                                                  ta / max(tn, 1), vl / max(vn, 1), val_acc, t_end - T_START), flush=True)
        if args.time_limit > 0 and t_end - T_START > args.time_limit and epochs_done < args.epochs:
            print("time limit of %.0f s reached: stopping after %d of %d epochs"
                  % (args.time_limit, epochs_done, args.epochs), flush=True)
            break
    wall = t_end - T_START
    print("epochs: %d of %d" % (epochs_done, args.epochs))
    print("wall s: %.2f" % wall)
    if epochs_done:
        print("s/epoch: %.3f" % (wall / epochs_done))
        print("images/s: %.1f" % (epochs_done * len(train) / wall))
        print("val_accuracy: %.4f" % val_acc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
