"""How clicks and updates travel between a run and its page on every front end (the Dashboard's part for it).

- A foreground run where no kernel subshell brings clicks: the training thread takes its widget's messages from
  the main shell's queue at each update (inbox.py); once a click came on a subshell, the subshell's thread does.
- A background run: its training thread sends nothing (Colab drops what a background thread sends,
  googlecolab/colabtools #3373); the page asks every ``every`` seconds and the comm handler, on the kernel's shell
  thread, answers: the run's fixed facts when they changed, what is new (``push``), after the end the final picture
  and whatever ``after_end`` re-sends (the Workbench: its Train tab's status line and buttons, which its watcher
  thread set). The page asks once more when the final picture has come, so this runs on every front end.
"""
from __future__ import annotations

import threading

from .inbox import Inbox


class Delivery:
    """Mixed into Dashboard, whose ``view``, ``control``, ``background``, ``_trainer``, ``_inbox``, ``_meta_due``,
    ``_foreground``, ``external_control``, ``done_view``, ``after_end`` and ``meta()`` it uses."""

    def _open_inbox(self) -> None:
        self._inbox = Inbox.open(getattr(self.view.widget, "comm", None)) if self._foreground else None
        if self._inbox is not None and not self.external_control:
            self.control.while_paused = self._poll

    def _poll(self) -> None:
        """Handle the clicks waiting in the main shell's queue (none once a click came on a subshell)."""
        if self._inbox is not None:
            if self.view is not None and self.view.via_subshell:
                self._close_inbox()          # the front end sends on subshells: their threads handle clicks
            else:
                self._inbox.poll()

    def _close_inbox(self) -> None:
        if self._inbox is not None and self.control.while_paused == self._poll:
            self.control.while_paused = None
        self._inbox = None

    def _quiet(self) -> bool:
        """True in a background run's training thread: what it would send waits for the page's next request."""
        return self.background and threading.current_thread() is self._trainer

    def _set_meta(self) -> None:
        if self._quiet():
            self._meta_due = True
        else:
            self.view.widget.meta = self.meta()

    def _answer(self) -> None:
        """The page asked what is new: the fixed facts if they changed (push() sends the rest); after the end,
        the final picture again."""
        if self.view is None:
            if self.done_view is not None:
                self.done_view.resend_final()
                for again in self.after_end:
                    again()
        elif self._meta_due:
            self._meta_due = False
            self.view.widget.meta = self.meta()
