"""Sinks: callbacks with side effects (history, progress, TensorBoard, checkpoints, early stop, NaN guard)."""
