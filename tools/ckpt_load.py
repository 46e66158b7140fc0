#!/usr/bin/env python3
"""ckpt_load.py: read a pawpipe checkpoint (a safetensors file) with numpy alone.

As a program it prints the metadata (epoch, step, seed, metrics; the model spec with --spec) and
each tensor's name, shape and statistics:

    python3 tools/ckpt_load.py runs/x/ckpt-epoch-0030.safetensors [--spec]

As a module:

    import ckpt_load
    tensors, metadata = ckpt_load.load(path)   # {name: np.ndarray}, {key: str}
    tensors["dense_1.kernel"].shape            # (6272, 512), Keras layout (in, out)

The reader is strict like the C one (nn/checkpoint.c): a short file, a header length that does not
fit, JSON that does not parse or repeats a key, an unknown dtype, offsets that do not match the
shape, fall outside the data or overlap, and bytes that belong to no tensor all raise ValueError.
"""
import argparse
import json
import signal
import struct
import sys

import numpy as np

FORMAT_TAG = "pawpipe-checkpoint-1"
HEADER_MAX = 16 << 20
DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": None, "I8": "i1", "U8": "u1",
          "I16": "<i2", "I32": "<i4", "I64": "<i8", "BOOL": "?"}


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r} in the header")
        out[k] = v
    return out


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def load(path):
    """Return (tensors, metadata) of the safetensors file at path; raise ValueError if malformed."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: truncated: {len(data)} bytes, less than the 8-byte header length")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen < 2 or hlen > HEADER_MAX:
        raise ValueError(f"{path}: not a safetensors file: header length {hlen} is implausible")
    if 8 + hlen > len(data):
        raise ValueError(f"{path}: truncated: the header needs {hlen} bytes, the file has {len(data) - 8}")
    try:
        header = json.loads(data[8:8 + hlen].decode("utf-8"), object_pairs_hook=_no_duplicates,
                            parse_constant=_no_constants)
    except ValueError as e:   # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: __metadata__ must map strings to strings")
    buf = memoryview(data)[8 + hlen:]
    tensors, spans = {}, []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{path}: tensor {name!r}: needs exactly dtype, shape and data_offsets")
        dtype = DTYPES.get(e["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r}: unsupported dtype {e['dtype']!r}")
        shape, offs = e["shape"], e["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"{path}: tensor {name!r}: bad shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)
                and 0 <= offs[0] <= offs[1]):
            raise ValueError(f"{path}: tensor {name!r}: bad data_offsets {offs!r}")
        count = int(np.prod(shape, dtype=np.int64))
        itemsize = np.dtype(dtype).itemsize
        if offs[1] - offs[0] != count * itemsize:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets {offs} do not hold shape {shape}")
        if offs[1] > len(buf):
            raise ValueError(f"{path}: truncated: tensor {name!r} ends at byte {offs[1]} of the data, "
                             f"the file has {len(buf)}")
        tensors[name] = np.frombuffer(buf, dtype=dtype, count=count, offset=offs[0]).reshape(shape)
        spans.append((offs[0], offs[1], name))
    spans.sort()
    end = 0
    for i, (b, e, name) in enumerate(spans):
        if i and b < spans[i - 1][1]:
            raise ValueError(f"{path}: tensors {spans[i - 1][2]!r} and {name!r} overlap")
        end += e - b
    if end != len(buf):
        raise ValueError(f"{path}: {len(buf) - end} bytes of data are not part of any tensor")
    return tensors, metadata


def main(argv=None):
    ap = argparse.ArgumentParser(description="Print a pawpipe checkpoint's metadata and tensor statistics.")
    ap.add_argument("checkpoint")
    ap.add_argument("--spec", action="store_true", help="also print the model spec stored inside")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # quiet when piped into head
    try:
        tensors, meta = load(args.checkpoint)
    except (OSError, ValueError) as e:
        print(f"ckpt_load: {e}", file=sys.stderr)
        return 1
    if meta.get("format") != FORMAT_TAG:
        print(f"note: format tag {meta.get('format')!r}, not {FORMAT_TAG!r}: not a pawpipe checkpoint")
    for k in sorted(meta):
        if k != "spec":
            print(f"{k}: {meta[k]}")
    if args.spec and "spec" in meta:
        print("spec:")
        for line in meta["spec"].splitlines():
            print(f"    {line}")
    total = 0
    print(f"{'tensor':<24} {'shape':<18} {'min':>11} {'max':>11} {'mean':>11} {'std':>11}")
    for name, t in tensors.items():
        x = t.astype(np.float64)
        stats = (x.min(), x.max(), x.mean(), x.std()) if x.size else (0.0,) * 4
        print(f"{name:<24} {str(tuple(t.shape)):<18} " + " ".join(f"{v:11.4g}" for v in stats))
        if not name.endswith(".rms"):
            total += t.size
    print(f"parameters: {total:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
