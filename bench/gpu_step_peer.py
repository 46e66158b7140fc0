#!/usr/bin/env python3
"""gpu_step_peer.py: the PyTorch peer of bench_step on a GPU: median training-step time of a model spec.

The network is built from the same spec file as ours (models/model1.ini, models/model2.ini: the Keras
cats-vs-dogs tutorial's networks) and trained the way our trainer trains it: a uint8 NHWC batch copied
from pinned host memory each step and scaled by 1/255 on the GPU, channels_last, BCE from the logit,
RMSprop with the spec's rate, rho and epsilon, cuDNN's autotuner on. Modes:
  eager    plain PyTorch
  graphs   the whole training step (forward, backward, optimizer) captured once as a CUDA graph and
           replayed (capturable RMSprop, static input tensors)
  compile  torch.compile of the network (forward and backward) and of the optimizer's step; run in a child process that is given --compile-timeout
           seconds to compile and time, and reported as skipped when it takes longer or fails
Precision fp32 turns TF32 off in cuDNN and cuBLAS; tf32 turns it on in both. Each step is timed with
CUDA events; the median of --steps steps after --warmup is reported.

usage: bench/gpu_step_peer.py [--spec FILE]... [--batch N]... [--precision fp32|tf32]...
                              [--modes eager,graphs] [--compile] [--compile-timeout S]
                              [--steps N] [--warmup N] [--device cuda|cpu]
(--device cpu runs eager and compile, to try the script where there is no GPU.)
Prints per run a line "result model=M batch=B precision=P mode=X median_ms=... min_ms=... mean_ms=...
images_per_s=... gflop_per_step=... tflops=..." (or "... error=..." / "... skipped=..."), and when
only one run was asked for, also "median ms/step: X", "GFLOP/step: G" and "TFLOP/s: T" as bench_step
does. Exits 77 (skipped) when torch is missing or the device is not there.
"""
import argparse
import configparser
import os
import statistics
import subprocess
import sys
import time

SKIP = 77
RESERVED = {"model", "optimizer", "loss", "training", "augmentation"}


def read_spec(path):
    """The spec file as (name, input (h, w, c), optimizer settings, layers: list of dicts in order)."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None)
    with open(path) as f:
        cp.read_file(f)
    name = cp.get("model", "name", fallback=os.path.splitext(os.path.basename(path))[0])
    shape = tuple(int(v) for v in cp.get("model", "input").split(","))
    optim = {"learning_rate": cp.getfloat("optimizer", "learning_rate", fallback=1e-4),
             "rho": cp.getfloat("optimizer", "rho", fallback=0.9),
             "epsilon": cp.getfloat("optimizer", "epsilon", fallback=1e-7)}
    layers = [dict(cp.items(s)) for s in cp.sections() if s not in RESERVED]
    return name, shape, optim, layers


def build_net(layers, shape):
    """torch.nn.Sequential for the spec's layers; the last sigmoid is left out (BCE from the logit).
    Also returns the GFLOP of one image's training step: the forward pass, and the backward's
    gradients of the inputs and of the weights (2 FLOP per multiply-add of the convolutions and dense
    layers), less the first layer's input gradient, which nobody needs."""
    import torch.nn as nn
    h, w, c = shape
    mods, macs, first, flat = [], 0, None, None
    for i, layer in enumerate(layers):
        kind = layer.get("type")
        last = i == len(layers) - 1
        act = layer.get("activation", "linear")
        if kind == "conv2d":
            f, k = int(layer["filters"]), int(layer.get("kernel_size", 3))
            pad = layer.get("padding", "valid")
            mods.append(nn.Conv2d(c, f, k, padding=(k // 2 if pad == "same" else 0)))
            if pad != "same":
                h, w = h - k + 1, w - k + 1
            macs += h * w * f * k * k * c
            first = macs if first is None else first
            c = f
        elif kind == "max_pooling2d":
            p = int(layer.get("pool_size", 2))
            mods.append(nn.MaxPool2d(p))
            h, w = h // p, w // p
        elif kind == "flatten":
            mods.append(nn.Flatten())
            flat = h * w * c
        elif kind == "dropout":
            mods.append(nn.Dropout(float(layer.get("rate", 0.5))))
        elif kind == "dense":
            n_in = flat if flat is not None else h * w * c
            units = int(layer["units"])
            mods.append(nn.Linear(n_in, units))
            macs += n_in * units
            first = macs if first is None else first
            flat = units
        else:
            raise ValueError("layer %d: type %r is not known to this peer" % (i + 1, kind))
        if act == "relu":
            mods.append(nn.ReLU())
        elif act == "sigmoid" and not last:
            mods.append(nn.Sigmoid())
    return nn.Sequential(*mods), 2 * (3 * macs - (first or 0)) / 1e9


def set_precision(torch, precision):
    tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


class Run:
    """One model + batch + precision: the network, optimizer and pinned host batch."""

    def __init__(self, torch, spec, batch, precision, device, capturable=False):
        import torch.nn as nn
        self.torch = torch
        self.name, self.shape, optim, layers = read_spec(spec)
        torch.manual_seed(1)
        net, gflop_image = build_net(layers, self.shape)
        h, w, c = self.shape
        self.gflop = gflop_image * batch
        self.dev = torch.device(device)
        self.net = net.to(self.dev, memory_format=torch.channels_last)
        self.fwd = self.net
        kw = {"lr": optim["learning_rate"], "alpha": optim["rho"], "eps": optim["epsilon"]}
        if capturable:
            kw["capturable"] = True
        self.opt = torch.optim.RMSprop(self.net.parameters(), **kw)
        self.opt_step = self.opt.step
        self.loss_fn = nn.BCEWithLogitsLoss()
        g = torch.Generator().manual_seed(2)
        pin = self.dev.type == "cuda"
        self.host_x = torch.randint(0, 256, (batch, h, w, c), dtype=torch.uint8, generator=g)
        self.host_y = torch.randint(0, 2, (batch, 1), generator=g).float()
        if pin:
            self.host_x, self.host_y = self.host_x.pin_memory(), self.host_y.pin_memory()
        self.x = torch.empty((batch, h, w, c), dtype=torch.uint8, device=self.dev)
        self.y = torch.empty((batch, 1), device=self.dev)

    def load(self):
        self.x.copy_(self.host_x, non_blocking=True)
        self.y.copy_(self.host_y, non_blocking=True)

    def compute(self):
        # NHWC uint8 -> logical NCHW, physically channels_last, float in [0, 1]
        xf = self.x.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0)
        loss = self.loss_fn(self.fwd(xf), self.y)
        loss.backward()
        self.opt_step()
        return loss


def time_steps(torch, dev, step, warmup, steps):
    """Per-step milliseconds of step(): CUDA events on a GPU, the wall clock on the CPU."""
    for _ in range(warmup):
        step()
    if dev.type != "cuda":
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
        return times
    torch.cuda.synchronize()
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)]
    ev[0].record()
    for i in range(steps):
        step()
        ev[i + 1].record()
    torch.cuda.synchronize()
    return [ev[i].elapsed_time(ev[i + 1]) for i in range(steps)]


def run_eager(torch, r, warmup, steps):
    def step():
        r.load()
        r.opt.zero_grad(set_to_none=True)
        r.compute()
    return time_steps(torch, r.dev, step, warmup, steps)


def run_graphs(torch, r, warmup, steps):
    # Warm up on a side stream (cuDNN's autotuner, the optimizer's state), then capture one whole step.
    r.load()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            r.opt.zero_grad(set_to_none=True)
            r.compute()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    r.opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        r.compute()

    def step():
        r.load()
        graph.replay()
    return time_steps(torch, r.dev, step, warmup, steps)


def run_compile(torch, r, warmup, steps):
    # The network (forward and, through AOTAutograd, backward) and the optimizer's step, each compiled
    # (a whole step with loss.backward() inside does not trace into one graph).
    r.fwd = torch.compile(r.net)
    opt = r.opt

    @torch.compile(fullgraph=False)
    def opt_step():
        opt.step()
    r.opt_step = opt_step

    def step():
        r.load()
        r.opt.zero_grad(set_to_none=True)
        r.compute()
    return time_steps(torch, r.dev, step, warmup, steps)


MODES = {"eager": run_eager, "graphs": run_graphs, "compile": run_compile}


def report(tag, times, gflop, batch):
    med = statistics.median(times)
    print("result %s steps=%d median_ms=%.3f min_ms=%.3f mean_ms=%.3f images_per_s=%.1f gflop_per_step=%.2f tflops=%.2f"
          % (tag, len(times), med, min(times), statistics.mean(times), batch * 1e3 / med, gflop, gflop / med), flush=True)
    return med, gflop


def compile_in_child(args, spec, batch, precision):
    """torch.compile in a child process with a time limit; its result lines are passed on."""
    cmd = [sys.executable, os.path.abspath(__file__), "--spec", spec, "--batch", str(batch), "--precision",
           precision, "--modes", "compile", "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--device", args.device, "--child"]
    tag = "model=%s batch=%d precision=%s mode=compile" % (spec_name(spec), batch, precision)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=args.compile_timeout)
    except subprocess.TimeoutExpired:
        print("result %s skipped=did-not-compile-and-run-within-%ds" % (tag, args.compile_timeout), flush=True)
        return None
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("result ")]
    for ln in lines:
        print(ln, flush=True)
    if p.returncode != 0 or not lines:
        tail = " | ".join(p.stdout.strip().splitlines()[-3:])
        print("result %s skipped=failed(rc %d): %s" % (tag, p.returncode, tail.replace(" ", "_")[:300]), flush=True)
        return None
    fields = dict(f.split("=", 1) for f in lines[-1].split()[1:] if "=" in f)
    if "median_ms" not in fields:
        return None
    return float(fields["median_ms"]), float(fields.get("gflop_per_step", "nan"))


def spec_name(spec):
    try:
        return read_spec(spec)[0]
    except Exception:
        return os.path.splitext(os.path.basename(spec))[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--spec", action="append", help="model spec (repeatable; default models/model1.ini)")
    ap.add_argument("--batch", type=int, action="append", help="batch size (repeatable; default 20)")
    ap.add_argument("--precision", action="append", choices=["fp32", "tf32"],
                    help="fp32 or tf32 (repeatable; default fp32)")
    ap.add_argument("--modes", default="eager,graphs", help="comma-separated: eager, graphs, compile")
    ap.add_argument("--compile", action="store_true", help="add the compile mode")
    ap.add_argument("--compile-timeout", type=int, default=90,
                    help="seconds that one compile run may take, compiling included (default 90)")
    ap.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (no graphs; to try the script)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    specs = args.spec or [os.path.join(here, "..", "models", "model1.ini")]
    batches = args.batch or [20]
    precisions = args.precision or ["fp32"]
    modes = [m for m in args.modes.split(",") if m]
    if args.compile and "compile" not in modes:
        modes.append("compile")
    for m in modes:
        if m not in MODES:
            ap.error("unknown mode %r (eager, graphs, compile)" % m)

    try:
        import torch
    except ImportError as e:
        print("SKIP: the PyTorch peer needs torch (%s)" % e, flush=True)
        return SKIP
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("SKIP: torch %s sees no CUDA device" % torch.__version__, flush=True)
        return SKIP
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        print("pytorch %s, CUDA %s, cuDNN %s, %s" % (torch.__version__, torch.version.cuda,
              torch.backends.cudnn.version(), torch.cuda.get_device_name(dev)), flush=True)
    else:
        modes = [m for m in modes if m != "graphs"]
        print("pytorch %s on the CPU (%d threads): no CUDA graphs" % (torch.__version__, torch.get_num_threads()),
              flush=True)
    print("each step: copy the uint8 batch to the device (from pinned memory), scale, forward, backward, RMSprop; "
          "%d timed steps after %d warm-up" % (args.steps, args.warmup), flush=True)

    n_runs = len(specs) * len(batches) * len(precisions) * len(modes)
    last = None
    for spec in specs:
        for batch in batches:
            for precision in precisions:
                for mode in modes:
                    name = spec_name(spec)
                    tag = "model=%s batch=%d precision=%s mode=%s" % (name, batch, precision, mode)
                    if mode == "compile" and not args.child:
                        last = compile_in_child(args, spec, batch, precision)
                        continue
                    try:
                        if dev.type == "cuda":
                            set_precision(torch, precision)
                        r = Run(torch, spec, batch, precision, args.device, capturable=(mode == "graphs"))
                        times = MODES[mode](torch, r, args.warmup, args.steps)
                        last = report(tag, times, r.gflop, batch)
                        del r
                    except Exception as e:   # one failing run must not end the others
                        msg = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:300]
                        print("result %s error=%s" % (tag, msg.replace(" ", "_")), flush=True)
                        last = None
                    if dev.type == "cuda":
                        torch.cuda.empty_cache()
    if n_runs == 1 and last is not None and not args.child:
        med, gflop = last
        print("median ms/step: %.3f" % med)
        print("GFLOP/step: %.2f" % gflop)
        print("TFLOP/s: %.2f" % (gflop / med))
    return 0


if __name__ == "__main__":
    sys.exit(main())
