"""Optimizers (torch.optim) and LR schedulers (torch.optim.lr_scheduler) a spec can name.

``lr`` lives on OptimSpec itself, not in an entry's params; each optimizer entry's ``lr`` is the learning rate a
new choice of that type starts from (``nbtrain.spec.catalog.default_lr``): torch's own default (Adadelta 1.0, Adagrad
0.01, Adam 1e-3, RMSprop 0.01, LBFGS 1), except SGD, whose torch default (1e-3) is too small to see plain SGD learn
in a few epochs: 0.01 there. LBFGS is tagged ``closure``: its step re-evaluates the loss (the loop passes a closure).

Scheduler parameters that only the run knows
(CosineAnnealingLR's T_max, OneCycleLR's total_steps) accept 'auto'.
"""
from __future__ import annotations

import dataclasses

from torch import optim
from torch.optim import lr_scheduler as sch

from .params import P, Table, entry, signature_defaults

_wd = P("float", "L2 penalty (weight decay)", low=0)
_eps = P("float", "added to the denominator for numerical stability", low=0, low_open=True)
_betas = P("floats", "[beta1, beta2]: decay rates of the running averages", low=0, high=1)
_mom = P("float", "momentum factor", low=0)
_max = P("bool", "maximise the objective instead of minimising it")
_amsgrad = P("bool", "use the AMSGrad variant")

SGD_LR = 0.01   # torch's SGD default lr is 1e-3: too slow for plain SGD to show learning in a few epochs


def _with_lr(e):
    """The entry with its starting lr: SGD_LR for SGD, else torch's default (the signature's ``lr``)."""
    return dataclasses.replace(e, lr=SGD_LR if e.name == "SGD" else float(signature_defaults(e.build)["lr"]))


OPTIMIZERS = Table("optimizer", [_with_lr(e) for e in [
    entry("SGD", optim.SGD, "stochastic gradient descent, with optional (Nesterov) momentum", {
        "momentum": _mom, "dampening": P("float", "dampening for momentum", low=0), "weight_decay": _wd,
        "nesterov": P("bool", "Nesterov momentum (needs momentum > 0 and dampening 0)"), "maximize": _max}),
    entry("Adam", optim.Adam, "adaptive moments", {"betas": _betas, "eps": _eps, "weight_decay": _wd,
                                                   "amsgrad": _amsgrad, "maximize": _max}),
    entry("AdamW", optim.AdamW, "Adam with decoupled weight decay", {
        "betas": _betas, "eps": _eps, "weight_decay": _wd, "amsgrad": _amsgrad, "maximize": _max}),
    entry("RMSprop", optim.RMSprop, "divides the gradient by a running RMS", {
        "alpha": P("float", "smoothing constant", low=0, high=1), "eps": _eps, "weight_decay": _wd,
        "momentum": _mom, "centered": P("bool", "normalise by the estimated variance"), "maximize": _max}),
    entry("Adagrad", optim.Adagrad, "per-parameter LR from the sum of squared gradients", {
        "lr_decay": P("float", "learning rate decay", low=0), "weight_decay": _wd,
        "initial_accumulator_value": P("float", "starting value of the sum", low=0), "eps": _eps, "maximize": _max}),
    entry("Adadelta", optim.Adadelta, "Adagrad with a running window", {
        "rho": P("float", "running-average coefficient", low=0, high=1), "eps": _eps, "weight_decay": _wd,
        "maximize": _max}),
    entry("Adamax", optim.Adamax, "Adam with the infinity norm", {
        "betas": _betas, "eps": _eps, "weight_decay": _wd, "maximize": _max}),
    entry("ASGD", optim.ASGD, "averaged SGD", {
        "lambd": P("float", "decay term", low=0), "alpha": P("float", "power for eta update", low=0),
        "t0": P("float", "point at which to start averaging", low=0), "weight_decay": _wd, "maximize": _max}),
    entry("Rprop", optim.Rprop, "resilient backpropagation (full-batch)", {
        "etas": P("floats", "[etaminus, etaplus]: multiplicative decrease and increase", low=0),
        "step_sizes": P("floats", "[min, max] allowed step size", low=0), "maximize": _max}),
    entry("NAdam", optim.NAdam, "Adam with Nesterov momentum", {
        "betas": _betas, "eps": _eps, "weight_decay": _wd,
        "momentum_decay": P("float", "momentum decay", low=0), "decoupled_weight_decay": P("bool", "AdamW-style decay"),
        "maximize": _max}),
    entry("RAdam", optim.RAdam, "rectified Adam", {
        "betas": _betas, "eps": _eps, "weight_decay": _wd,
        "decoupled_weight_decay": P("bool", "AdamW-style decay"), "maximize": _max}),
    entry("LBFGS", optim.LBFGS, "limited-memory BFGS (full-batch quasi-Newton; its step re-evaluates the loss "
          "through a closure, one param group only)", {
        "max_iter": P("int", "iterations per optimizer step", low=1),
        "max_eval": P("opt_int", "function evaluations per step (null: max_iter * 1.25)", low=1),
        "tolerance_grad": P("float", "stop when the gradient's largest entry is below this", low=0),
        "tolerance_change": P("float", "stop when the loss or the step changes less than this", low=0),
        "history_size": P("int", "how many past updates approximate the curvature", low=1),
        "line_search_fn": P("choice", "line search ('strong_wolfe') or none (null: a fixed step of lr)",
                            choices=[None, "strong_wolfe"])}, tags=["closure"]),
]])

_gamma = P("float", "multiplicative factor of LR decay", low=0, low_open=True)
_expr = P("expr", "LR factor as an expression of epoch, e.g. '0.95 ** epoch' (+-*/**, min, max, exp, cos, pi)",
          default="")
_preset = P("choice", "a ready-made factor (used when expr is empty)", default="none",
            choices=["none", "exp_decay_0.95", "linear_decay", "inverse_sqrt", "step_half_10"])

SCHEDULERS = Table("scheduler", [
    entry("StepLR", sch.StepLR, "decays the LR by gamma every step_size epochs", {
        "step_size": P("int", "period of LR decay", low=1), "gamma": _gamma}),
    entry("MultiStepLR", sch.MultiStepLR, "decays the LR by gamma at each milestone", {
        "milestones": P("ints", "increasing list of epoch (or step) indices", low=0), "gamma": _gamma}),
    entry("ExponentialLR", sch.ExponentialLR, "decays the LR by gamma every epoch", {"gamma": _gamma}),
    entry("LambdaLR", sch.LambdaLR, "LR = initial LR * factor(epoch)", {"expr": _expr, "preset": _preset},
          sig=lambda expr="", preset="none": None),
    entry("MultiplicativeLR", sch.MultiplicativeLR, "LR = previous LR * factor(epoch)", {
        "expr": _expr, "preset": _preset}, sig=lambda expr="", preset="none": None),
    entry("CosineAnnealingLR", sch.CosineAnnealingLR, "cosine decay from the LR to eta_min over T_max", {
        "T_max": P("auto_int", "number of scheduler steps in one half cosine ('auto': the whole run)",
                   default="auto", low=1), "eta_min": P("float", "minimum LR", low=0)}),
    entry("CosineAnnealingWarmRestarts", sch.CosineAnnealingWarmRestarts, "cosine decay with warm restarts (SGDR)", {
        "T_0": P("int", "steps until the first restart", low=1),
        "T_mult": P("int", "factor that lengthens each period", low=1), "eta_min": P("float", "minimum LR", low=0)}),
    entry("CyclicLR", sch.CyclicLR, "cycles the LR between base_lr and max_lr (steps per batch)", {
        "base_lr": P("float", "lower LR bound of the cycle", low=0, low_open=True),
        "max_lr": P("float", "upper LR bound of the cycle", low=0, low_open=True),
        "step_size_up": P("int", "steps in the increasing half of a cycle", low=1),
        "step_size_down": P("opt_int", "steps in the decreasing half (null: same as up)", low=1),
        "mode": P("choice", "cycle shape", choices=["triangular", "triangular2", "exp_range"]),
        "gamma": P("float", "exp_range decay constant", low=0, low_open=True),
        "cycle_momentum": P("bool", "cycle momentum inversely (needs an optimizer with momentum)"),
        "base_momentum": P("float", "lower momentum bound", low=0),
        "max_momentum": P("float", "upper momentum bound", low=0)}, tags=["per_step"]),
    entry("OneCycleLR", sch.OneCycleLR, "one cycle: warm up to max_lr, then anneal (steps per batch)", {
        "max_lr": P("float", "peak LR", low=0, low_open=True),
        "total_steps": P("opt_int", "total steps (null: epochs x steps per epoch)", low=1),
        "pct_start": P("float", "fraction of the cycle spent increasing the LR", low=0, high=1),
        "anneal_strategy": P("choice", "annealing shape", choices=["cos", "linear"]),
        "cycle_momentum": P("bool", "cycle momentum inversely (needs momentum or betas)"),
        "base_momentum": P("float", "lower momentum bound", low=0),
        "max_momentum": P("float", "upper momentum bound", low=0),
        "div_factor": P("float", "initial LR = max_lr / div_factor", low=1),
        "final_div_factor": P("float", "final LR = initial LR / final_div_factor", low=1),
        "three_phase": P("bool", "use a third phase that anneals below the initial LR")}, tags=["per_step"]),
    entry("ReduceLROnPlateau", sch.ReduceLROnPlateau, "reduces the LR when the monitored metric stops improving", {
        "mode": P("choice", "'min' for losses, 'max' for accuracies", choices=["min", "max"]),
        "factor": P("float", "new LR = LR * factor", low=0, low_open=True, high=1),
        "patience": P("int", "epochs with no improvement before reducing", low=0),
        "threshold": P("float", "minimum change that counts as improvement", low=0),
        "threshold_mode": P("choice", "relative or absolute threshold", choices=["rel", "abs"]),
        "cooldown": P("int", "epochs to wait after a reduction", low=0),
        "min_lr": P("float", "lower bound on the LR", low=0),
        "eps": P("float", "smallest change applied to the LR", low=0)}, tags=["plateau"]),
    entry("LinearLR", sch.LinearLR, "scales the LR linearly from start_factor to end_factor over total_iters", {
        "start_factor": P("float", "factor at the first step", low=0, low_open=True, high=1),
        "end_factor": P("float", "factor at the end", low=0, high=1),
        "total_iters": P("int", "steps until end_factor is reached", low=1)}),
    entry("ConstantLR", sch.ConstantLR, "scales the LR by factor for total_iters steps", {
        "factor": P("float", "the factor", low=0, low_open=True, high=1), "total_iters": P("int", "steps of the scaled LR", low=1)}),
])
