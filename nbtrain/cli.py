"""Command line: `nbtrain demo`, `nbtrain spec` (the Loop issue adds `run` and real training)."""
from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from .model import model_code, summary
    from .spec import TrainSpec
    spec = TrainSpec.default()
    shape = tuple(spec.data.image_shape)
    print(summary(spec.model, shape))
    print()
    print(model_code(spec.model, shape))
    return 0


def _spec(args) -> int:
    from .spec import TrainSpec
    print(TrainSpec.default().to_json())
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nbtrain", description="Build, train and watch PyTorch models.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("demo", help="the default model on the offline digits").set_defaults(fn=_demo)
    sub.add_parser("spec", help="print the default spec as JSON").set_defaults(fn=_spec)
    args = parser.parse_args(argv)
    from .errors import NbtrainError
    try:
        return args.fn(args)
    except NbtrainError as e:
        print(f"nbtrain: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
