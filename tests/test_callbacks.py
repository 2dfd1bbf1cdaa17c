"""CallbackList: every callback's hook in order, and Callback's no-op hooks never called (a step dispatches to the
sinks that do something then, not to every sink)."""
from nbtrain.train.callbacks import Callback, CallbackList


def test_events_reach_the_hooks_that_do_something_in_order_and_skip_the_no_ops():
    seen = []

    class Logs(Callback):
        def on_log(self, state, logs):
            seen.append(("Logs", logs["step"]))

    class Duck:                                   # not a Callback: called for the hooks it has
        def on_log(self, state, logs):
            seen.append(("Duck", logs["step"]))

        def on_custom(self, x):
            seen.append(("Duck custom", x))

    patched = Callback()
    patched.on_log = lambda state, logs: seen.append(("patched", logs["step"]))
    cbs = CallbackList([Logs(), None, Duck(), patched, Callback()])
    cbs.on_log(None, {"step": 3})
    cbs.on_custom(7)
    assert seen == [("Logs", 3), ("Duck", 3), ("patched", 3), ("Duck custom", 7)]
    assert [type(c).__name__ for c in cbs._hooks["on_log"]] == ["Logs", "Duck", "Callback"]
    quiet = CallbackList([Logs(), Callback()])
    quiet.on_batch_start(None)                   # nobody overrides it: no call at all
    assert quiet._hooks["on_batch_start"] == []
