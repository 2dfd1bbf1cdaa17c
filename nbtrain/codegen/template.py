"""The training part of an exported script: metrics, evaluate, autocast and the epoch loop, as one template
whose only holes are the metric code: nbtrain.train.metrics' own batch-sum functions (emitted verbatim, so the
script's accuracy is fit()'s) and the lines calling them (checked metric names and an int). Every spec value
the loop reads is a constant the script's header defines as a literal."""
from __future__ import annotations

import inspect

from ..spec.catalog import binary_threshold
from ..train import metrics

LOOP = '''
{metric_functions}def batch_metrics(out, y):
    """Per-batch sums of the metrics (divided by the sample count at the end of the epoch)."""
    sums = {{}}
{metric_lines}    return sums


def evaluate(net, loader):
    was = net.training
    net.eval()
    totals, n = {{"loss": 0.0}}, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with autocast():
                out = net(x)
                loss = loss_fn(out, y)
            totals["loss"] += float(loss) * len(y)
            for k, v in batch_metrics(out.float(), y).items():
                totals[k] = totals.get(k, 0.0) + float(v)
            n += len(y)
    net.train(was)
    return {{f"val_{{k}}": v / n for k, v in totals.items()}}


def autocast():
    if AMP == "off":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if AMP == "bf16" else torch.float16)


writer = SummaryWriter(LOGDIR) if LOGDIR else None
scaler = torch.amp.GradScaler(device.type) if AMP == "fp16" else None
swa_model = AveragedModel(model) if SWA else None
swa_scheduler = None
best, bad_epochs, best_state = None, 0, None
step = 0
for epoch in range(EPOCHS):
    model.train()
    totals, n = {{"loss": torch.zeros((), dtype=torch.float64, device=device)}}, 0
    window_loss, window_n = 0.0, 0
    for x, y in train_loader:
        model.train()
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            out = model(x)
            loss = loss_fn(out, y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if GRAD_CLIP > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None and PER_STEP and swa_scheduler is None:
            scheduler.step()
        totals["loss"] += loss.detach().double() * len(y)
        for k, v in batch_metrics(out.detach().float(), y).items():
            totals[k] = totals.get(k, 0.0) + v
        n += len(y)
        step += 1
        if writer is not None and step % LOG_EVERY == 0:
            now = float(totals["loss"])
            writer.add_scalar("train/loss", (now - window_loss) / (n - window_n), step)
            window_loss, window_n = now, n
            for i, g in enumerate(optimizer.param_groups):
                writer.add_scalar(f"lr/group_{{i}}", g["lr"], step)
    logs = {{k: float(v) / n for k, v in totals.items()}}
    logs.update(evaluate(model, val_loader))
    for i, g in enumerate(optimizer.param_groups):
        logs["lr" if i == 0 else f"lr_{{i}}"] = g["lr"]
    if SWA and epoch >= SWA_START:  # SWA: SWALR sets the LR and the weights are averaged from here on
        if swa_scheduler is None:
            swa_lr = SWA_LR or [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
            swa_scheduler = SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=SWA_ANNEAL_EPOCHS)
        swa_scheduler.step()
        swa_model.update_parameters(model)
    elif scheduler is not None and not PER_STEP:
        if PLATEAU:
            scheduler.step(logs[MONITOR])
        else:
            scheduler.step()
    print(f"epoch {{epoch + 1}}/{{EPOCHS}}: " + ", ".join(f"{{k}} {{v:.6f}}" for k, v in logs.items()), flush=True)
    if writer is not None:
        for k, v in logs.items():
            writer.add_scalar(f"epoch/{{k}}", v, epoch + 1)
        if HISTOGRAMS:
            for name, p in model.named_parameters():
                writer.add_histogram(f"weights/{{name}}", p.detach().float().cpu(), epoch + 1)
    if PATIENCE:  # early stopping on MONITOR
        value = logs[MONITOR]
        if best is None or (value < best - MIN_DELTA if MODE == "min" else value > best + MIN_DELTA):
            best, bad_epochs = value, 0
            best_state = {{k: v.detach().clone() for k, v in model.state_dict().items()}}
        else:
            bad_epochs += 1
            if bad_epochs >= PATIENCE:
                print(f"early stopping: no improvement of {{MONITOR}} for {{PATIENCE}} epochs")
                if RESTORE_BEST and best_state is not None:
                    model.load_state_dict(best_state)
                break

if swa_model is not None and swa_scheduler is not None:
    update_bn(train_loader, swa_model, device=device)  # BatchNorm statistics for the averaged weights
    model.load_state_dict(swa_model.module.state_dict())
    print("swa: " + ", ".join(f"{{k}} {{v:.6f}}" for k, v in evaluate(model, val_loader).items()))
if writer is not None:
    writer.close()
'''


# metric -> (its name in the logs, its batch-sum function (the catalog's, via nbtrain.train.metrics), extra arguments)
_SUMS = {"accuracy": ("accuracy", metrics.accuracy_sum, ""), "mae": ("mae", metrics.mae_sum, ""),
         "topk_accuracy": ("top{k}_accuracy", metrics.topk_sum, ", {k}")}


def metric_code(loop) -> tuple[str, str]:
    """(nbtrain.train.metrics' own batch-sum functions the loop's metrics use, emitted verbatim; the body of the
    script's batch_metrics that calls them)."""
    used = [m for m in loop.metrics if m in _SUMS]
    fns = [_SUMS[m][1] for m in dict.fromkeys(used)]      # self-contained: torch only
    code = "".join(inspect.getsource(f).rstrip() + "\n\n\n" for f in fns)
    k, threshold = int(loop.topk), binary_threshold(loop.loss)
    extra = {**{m: _SUMS[m][2].format(k=k) for m in used},
             **({"accuracy": f", threshold={threshold!r}"} if threshold else {})}   # BCELoss: probabilities
    lines = "".join(f'    sums["{_SUMS[m][0].format(k=k)}"] = {_SUMS[m][1].__name__}(out, y{extra[m]})\n'
                    for m in used)
    return code, lines
