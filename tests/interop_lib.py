"""interop_lib.py: what the Keras and TensorBoard interop tests (test_keras.py, test_tboard.py) share:
their "ok" / "FAIL" lines, the generated data set, and short runs of scripts/pipeline."""
import os
import subprocess
import sys

failures = 0


def check(cond, what):
    """Print the line of one check and count a failure; returns cond."""
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    failures += not cond
    return cond


def gen_data(bin_dir, out, train, validation, test):
    """gen_dataset into out (the test stops when it fails); returns out."""
    p = subprocess.run([os.path.join(bin_dir, "gen_dataset"), "--out", out, "--train", str(train), "--validation",
                        str(validation), "--test", str(test)], capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        sys.exit(1)
    return out


def run_pipeline(root, bin_dir, data, model, run_dir, epochs, steps, extra=(), env=None, timeout=600):
    """A short run of scripts/pipeline on the cpu backend with one augmenter; returns (exit status,
    stdout + stderr)."""
    cmd = [os.path.join(root, "scripts", "pipeline"), "--bin", bin_dir, "--data", data, "--model",
           os.path.join(root, "models", model), "--epochs", str(epochs), "--steps-per-epoch", str(steps),
           "--augmenters", "1", "--backend", "cpu", "--run-dir", run_dir] + list(extra)
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout
