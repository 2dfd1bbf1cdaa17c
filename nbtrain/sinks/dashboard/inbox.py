"""Clicks for a busy kernel where no subshell brings them: the training thread takes its widget's messages itself.

A front end without kernel subshells (Colab, VS Code, the classic Notebook, JupyterLab with "comms over subshells"
off) sends a click as a comm message on the kernel's shell channel, where it waits behind the running cell: a Stop
click would act once ``fit`` had ended. The package jupyter-ui-poll solves this for any loop by handling the
kernel's pending shell messages from inside the cell; this module does what it does, for one widget's comm only:

- it reads the main shell's pending messages (ipykernel 6: the shell stream; ipykernel 7: the inproc pipe from
  its shell-channel thread to the main thread) without blocking, from the main thread that owns that socket;
- a ``comm_msg`` for the dashboard's own comm goes to the kernel's comm handler now (the click's handler only
  sets the Control's flags and sends an update);
- every other message (the next cell's execute request, another widget's update, a completion request) is handed
  back, in order, to the kernel's own handler, which runs it when the cell has ended, as it would have anyway.

jupyter-ui-poll itself is not used: its 1.1.0 calls ``kernel.do_one_iteration()``, which ipykernel 7.4 no longer
has (the call's AttributeError is swallowed, so clicks stay queued), and it runs every pending message, so another
widget's observers or a queued cell would run inside the training loop. ``Inbox.open`` returns None where it
cannot find the kernel's pieces it needs (another kernel, a thread that is not the main one): the tooltip then says
that clicks act once the kernel is idle. A poll costs one non-blocking receive when nothing is pending.
"""
from __future__ import annotations

import threading


def main_shell_stream(kernel):
    """The ZMQStream on which the main shell receives its messages, or None."""
    channel = getattr(kernel, "shell_channel_thread", None)
    if channel is not None:                                   # ipykernel 7: shell-channel thread -> main thread
        pair = getattr(getattr(channel, "manager", None), "_shell_channel_to_main", None)
        return getattr(pair, "to_stream", None)
    return getattr(kernel, "shell_stream", None)              # ipykernel 6: the shell socket itself


class Inbox:
    """``poll()`` handles the pending comm messages of ``comm_id`` now and hands the others back to the kernel."""

    def __init__(self, kernel, stream, comm_id: str):
        self.kernel, self.stream, self.comm_id = kernel, stream, comm_id
        self.session, self.handler = kernel.session, kernel.shell_handlers["comm_msg"]
        self.deliver = stream._recv_callback                 # what the stream calls with each message it reads
        self.handled = self.handed_back = 0

    @classmethod
    def open(cls, comm) -> Inbox | None:
        """An Inbox for ``comm`` (a widget's), or None where none can work: not the main thread, no ipykernel."""
        kernel = getattr(comm, "kernel", None)
        if threading.current_thread() is not threading.main_thread() or kernel is None:
            return None
        stream = main_shell_stream(kernel)
        if getattr(stream, "socket", None) is None or getattr(stream, "_recv_callback", None) is None \
                or "comm_msg" not in getattr(kernel, "shell_handlers", {}) or not hasattr(kernel, "session"):
            return None
        return cls(kernel, stream, comm.comm_id)

    def poll(self) -> int:
        """Handle what is pending now; returns how many messages were this comm's."""
        import zmq  # pyzmq: there whenever a kernel is (Inbox.open found one)
        handled = 0
        while True:
            try:
                raw = self.stream.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return handled
            if self._take(raw):
                handled += 1
            else:                                             # the kernel's own handler, once the cell has ended
                self.handed_back += 1
                self.stream.io_loop.add_callback(self.deliver, raw)

    def _take(self, raw) -> bool:
        """Handle ``raw`` if it is a comm_msg for our comm (True); else leave it alone (False)."""
        try:
            idents, parts = self.session.feed_identities(raw, copy=False)
            head = self.session.deserialize(parts, content=False, copy=False)   # signature checked, not recorded
            if head["header"]["msg_type"] != "comm_msg" or \
                    self.session.unpack(head["content"]).get("comm_id") != self.comm_id:
                return False
            msg = self.session.deserialize(parts, content=True, copy=False)     # recorded: it is handled once
        except Exception:  # not ours to judge: the kernel's handler reports a bad message
            return False
        self.handled += 1
        self.handler(self.stream, idents, msg)               # the comm manager: our widget's on_msg callbacks
        return True
