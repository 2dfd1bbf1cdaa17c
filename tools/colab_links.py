"""Hard-link torch's CUDA libraries from one venv into another, as installed distributions (used by colab_venv.sh).

torch's Linux wheels from PyPI need the nvidia-* libraries (about 3.2 GB unpacked) just to ``import torch``. Those
wheels are tagged ``py3-none``: the same files for every Python. The main venv (.venv) already holds them, so the
Colab profile links them instead of unpacking them again: every file a distribution's RECORD names, dist-info
included, so pip sees each one installed at its version (and installs another version itself if torch asks for one).
Hard links, not symlinks: a ``pip uninstall`` in the target removes the target's names and leaves the source whole.

    python tools/colab_links.py SOURCE_SITE_PACKAGES TARGET_SITE_PACKAGES

Prints the distributions linked. Exits 1 when a link cannot be made (another file system): the caller then lets
pip install them.
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

PREFIXES = ("nvidia_", "cuda_toolkit-")


def python_independent(info: Path) -> bool:
    """Whether the wheel a dist-info came from is tagged for any Python 3 (``py3-none-*``, ``py2.py3-none-*``)."""
    tags = [line.split(":", 1)[1].strip() for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")]
    return bool(tags) and all(t.split("-")[0] in ("py3", "py2.py3") and t.split("-")[1] == "none" for t in tags)


def link_dist(info: Path, source: Path, target: Path) -> None:
    for row in csv.reader((info / "RECORD").read_text().splitlines()):
        rel = row[0] if row else ""
        if not rel or rel.startswith("..") or "__pycache__" in rel:     # scripts outside site-packages; bytecode
            continue
        src, dst = source / rel, target / rel
        if src.is_file() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)


def main(source: str, target: str) -> int:
    src, dst = Path(source), Path(target)
    infos = sorted(i for i in src.glob("*.dist-info") if i.name.lower().startswith(PREFIXES) and python_independent(i))
    try:
        for info in infos:
            link_dist(info, src, dst)
            print(info.name.removesuffix(".dist-info"))
    except OSError as e:
        print(f"colab_links: cannot hard-link {src} -> {dst} ({e}); pip installs them instead", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
