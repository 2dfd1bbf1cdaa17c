"""Data: datasets (offline built-ins, torchvision, CSV, ImageFolder), v2 transform pipelines, loaders and the
fast in-memory path. ``build_data(spec.data)`` is the entry point."""
from .bundle import DataBundle, build_data
from .stats import normalize_stats, sample_grid

__all__ = ["DataBundle", "build_data", "normalize_stats", "sample_grid"]
