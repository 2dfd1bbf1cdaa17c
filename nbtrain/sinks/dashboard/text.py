"""The dashboard's words: the status line, the best epoch, a text line per epoch, the planned LR."""
from __future__ import annotations

import math

from ... import i18n
from ...build.optim import lr_curve

BY_YOU = "stopped by you"    # the loop's stop reason for a Stop click (shown in the user's language)


def status_text(dash) -> str:
    """``epoch e/E · step s/S · N samples/s · ETA m:ss · best val_loss v (epoch k)``, in ``dash.lang`` (the
    Workbench sets it; English by default; a stop reason other than the user's own stays English)."""
    st, lang = dash.state, getattr(dash, "lang", "en")
    if st is None:
        return i18n.t("dash.starting", lang)
    total = st.epochs * st.steps_per_epoch
    parts = [i18n.t("dash.epoch", lang, e=min(st.epoch + 1, st.epochs), n=st.epochs),
             i18n.t("dash.step", lang, s=st.step, n=total)]
    elapsed = dash.clock() - dash._t0 - dash.control.paused_seconds() if dash._t0 is not None else 0.0
    done = st.step - dash._start_step
    if elapsed > 0 and done > 0:                 # training time only: a pause lowers neither rate nor ETA
        rate = done / elapsed
        bs = getattr(st.train_loader, "batch_size", None)
        parts.append(i18n.t("dash.samples", lang, n=f"{rate * bs:.0f}") if bs
                     else i18n.t("dash.steps", lang, n=f"{rate:.1f}"))
        parts.append(i18n.t("dash.eta", lang, t=clock(max(0, total - st.step) / rate)))
    top = best(dash)
    if top:
        parts.append(i18n.t("dash.best", lang, name=top[0], v=f"{top[1]:.4g}", e=top[2]))
    if dash.control.paused:
        parts.append(i18n.t("dash.paused", lang))
    reason = dash._interrupted or st.stop_reason
    if reason:
        why = i18n.t("dash.by_you", lang) if reason == BY_YOU else reason
        parts.append(i18n.t("dash.stopped", lang, reason=why))
    return " · ".join(parts)


def best(dash):
    """(monitor, best value, 1-based epoch) over the epochs so far, or None."""
    loop = getattr(getattr(dash.state, "spec", None), "loop", None)
    key, mode = (loop.monitor, loop.mode) if loop is not None else ("val_loss", "min")
    rows = [(r[key], i + 1) for i, r in enumerate(dash.epochs) if isinstance(r.get(key), float)
            and math.isfinite(r[key])]
    if not rows:
        return None
    v, e = (min if mode == "min" else max)(rows, key=lambda t: t[0])
    return key, v, e


def epoch_line(dash, state, logs) -> str:
    vals = "  ".join(f"{k} {v:.4g}" for k, v in logs.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch")
    elapsed = dash.clock() - dash._t0 if dash._t0 is not None else 0.0
    return f"epoch {state.epoch + 1}/{state.epochs}  {vals}  ({elapsed:.1f}s)"


def clock(seconds: float) -> str:
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def scaled(plan, scales) -> list:
    """The planned LRs with each slider factor applied from the step it was set at."""
    out, factor, k = [], 1.0, 0
    for t, v in enumerate(plan):
        while k < len(scales) and scales[k][0] <= t:
            factor, k = scales[k][1], k + 1
        out.append(v * factor)
    return out


def plan_of(state):
    """The planned LR per group and step: the loop's ``state.lr_plan``, else lr_curve of the spec."""
    plan = state.lr_plan
    if plan is not None or state.spec is None or not state.steps_per_epoch:
        return plan
    try:
        return lr_curve(state.spec.optim, state.spec.sched, state.epochs, state.steps_per_epoch)
    except Exception:  # noqa: BLE001 - no plan drawn is better than no dashboard
        return None
