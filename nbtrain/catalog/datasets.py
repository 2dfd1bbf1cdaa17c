"""Datasets a DataSpec can name. Minimal table from the Spine issue; the Data issue completes it."""
from __future__ import annotations

DATASETS = ("digits", "iris", "wine", "breast_cancer", "synthetic", "mnist", "fashion_mnist", "cifar10",
            "csv", "image_folder")
