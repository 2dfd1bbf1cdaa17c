"""The dashboard's words: the status line (the run record's best epoch and stop reason), a text line per epoch.
Rates count the steps since the record's ``start_step`` over the Control's ``elapsed()`` (the dashboard's clock)."""
from __future__ import annotations

from ... import i18n
from ...train.history import STOPPED_BY_YOU


def status_text(dash) -> str:
    """``epoch e/E · step s/S · N samples/s · ETA m:ss · best val_loss v (epoch k)``, in ``dash.lang`` (the
    Workbench sets it; English by default; a stop reason other than the user's own stays English)."""
    st, lang = dash.state, getattr(dash, "lang", "en")
    if st is None:
        return i18n.t("dash.starting", lang)
    total = st.epochs * st.steps_per_epoch
    parts = [i18n.t("dash.epoch", lang, e=min(st.epoch + 1, st.epochs), n=st.epochs),
             i18n.t("dash.step", lang, s=st.step, n=total)]
    elapsed = dash.control.elapsed()             # training time only: a pause lowers neither rate nor ETA
    done = st.step - (st.history.start_step if st.history is not None else 0)   # steps of this fit (a resume's)
    if elapsed > 0 and done > 0:
        rate = done / elapsed
        bs = getattr(st.train_loader, "batch_size", None)
        parts.append(i18n.t("dash.samples", lang, n=f"{rate * bs:.0f}") if bs
                     else i18n.t("dash.steps", lang, n=f"{rate:.1f}"))
        parts.append(i18n.t("dash.eta", lang, t=clock(max(0, total - st.step) / rate)))
    top = st.history.best() if st.history is not None else None
    if top:
        parts.append(i18n.t("dash.best", lang, name=top[0], v=f"{top[1]:.4g}", e=top[2]))
    if dash.control.paused:
        parts.append(i18n.t("dash.paused", lang))
    reason = st.stop_reason
    if reason:
        why = i18n.t("dash.by_you", lang) if reason == STOPPED_BY_YOU else reason
        parts.append(i18n.t("dash.stopped", lang, reason=why))
    return " · ".join(parts)


def epoch_line(dash, state, logs) -> str:
    vals = "  ".join(f"{k} {v:.4g}" for k, v in logs.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch")
    elapsed = dash.control.elapsed(pauses=True)
    return f"epoch {state.epoch + 1}/{state.epochs}  {vals}  ({elapsed:.1f}s)"


def clock(seconds: float) -> str:
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def record_line(record) -> str:
    """``N epochs · step S · finished`` (with the stop reason): a run record's status once the run is over."""
    n = len(record.epochs)
    last = record.steps[-1].get("step") if record.steps else None
    status, reason = record.status or "finished", record.stop_reason
    step = last if isinstance(last, (int, float)) else 0
    return f"{n} epoch{'s' * (n != 1)} · step {step:.0f} · {status}" + (f": {reason}" if reason else "")
