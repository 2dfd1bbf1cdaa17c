"""Samples/s of nbtrain's fast in-memory path vs torch's DataLoader over the same dataset and pipeline, same run.

Both sides come from one DataSpec: ``in_memory='auto'`` (the fast path) and ``in_memory='off'`` (a plain
torch.utils.data.DataLoader over the dataset with the torchvision v2 pipeline applied per sample, default
collate). Each side runs a warm-up epoch, then ``--epochs`` timed epochs; the sides alternate epoch by epoch so
that a noisy shared machine slows both alike. The batches are consumed (moved to --device) but no model runs:
this measures the input pipeline alone. Data: the training split (80%) of scikit-learn's digits resized to
1x28x28, and of 5000 FakeData images of CIFAR's size.

    python benchmarks/data_path.py [--epochs 5] [--batch-size 64] [--device cpu|cuda] [--threads N]
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from nbtrain import DataSpec, build_data
from nbtrain import TransformSpec as T

NORM = T("Normalize", {"mean": [0.3051], "std": [0.3244]})
NORM3 = T("Normalize", {"mean": [0.5] * 3, "std": [0.25] * 3})
DIGITS = dict(dataset="digits")
RGB = dict(dataset="synthetic", image_shape=[3, 32, 32], size=5000)   # CIFAR-sized FakeData images
CASES = {
    "digits 1x28x28, ToTensor + Normalize": (DIGITS, [T("ToTensor"), NORM], [T("ToTensor"), NORM]),
    "digits 1x28x28, ToTensor + RandomCrop(28, padding=4) + RandomHorizontalFlip + Normalize":
        (DIGITS, [T("ToTensor"), T("RandomCrop", {"size": 28, "padding": 4}), T("RandomHorizontalFlip"), NORM],
         [T("ToTensor"), NORM]),
    "synthetic 3x32x32, ToTensor + RandomCrop(32, padding=4) + RandomHorizontalFlip + Normalize":
        (RGB, [T("ToTensor"), T("RandomCrop", {"size": 32, "padding": 4}), T("RandomHorizontalFlip"), NORM3],
         [T("ToTensor"), NORM3]),
}


def epoch(loader, device) -> int:
    n = 0
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        n += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n


def measure(case, args, device) -> tuple[float, float]:
    data, train, val = case
    spec = DataSpec(**data, train_transforms=train, val_transforms=val, batch_size=args.batch_size)
    fast = build_data(spec, device=device if device.type == "cuda" else None)
    slow = build_data(DataSpec.from_dict({**spec.to_dict(), "in_memory": "off"}))
    assert fast.fast and not slow.fast, fast.why_not_fast
    epoch(fast.train, device), epoch(slow.train, device)            # warm-up
    t = {"fast": 0.0, "slow": 0.0}
    n = {"fast": 0, "slow": 0}
    for _ in range(args.epochs):
        for key, b in (("fast", fast), ("slow", slow)):
            t0 = time.perf_counter()
            n[key] += epoch(b.train, device)
            t[key] += time.perf_counter() - t0
    return n["fast"] / t["fast"], n["slow"] / t["slow"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {torch.get_num_threads()} torch threads{gpu}; "
          f"torch {torch.__version__}; batch {args.batch_size}; {args.epochs} timed epochs; device {device}")
    print(f"{'case':<92} {'fast path':>12} {'DataLoader':>12} {'ratio':>7}")
    for name, case in CASES.items():
        f, s = measure(case, args, device)
        print(f"{name:<92} {f:>10,.0f}/s {s:>10,.0f}/s {f / s:>6.1f}x")


if __name__ == "__main__":
    main()
