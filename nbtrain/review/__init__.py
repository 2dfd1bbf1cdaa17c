"""Review: what finished runs left behind, read back: the runs of a log folder as a table (``runtable``:
``nb.runs``) and TensorBoard opened where the user is (``tblaunch``: ``nb.tensorboard``)."""
