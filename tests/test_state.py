"""The typed State: what the loop shares with callbacks, and its LR slider."""
import pytest
import torch
from torch.optim import lr_scheduler as S

from nbtrain.build.optim import Schedule
from nbtrain.spec import SchedSpec
from nbtrain.train.callbacks import State

SCHEDULERS = {
    "StepLR": lambda o: S.StepLR(o, step_size=3, gamma=0.5),
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.3], total_steps=20),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=1e-3),
    "warmup+cosine": lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=3), S.CosineAnnealingLR(o, 17)],
                                              milestones=[3]),
    "CyclicLR": lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scale_lr_scales_the_schedule_ahead(name):
    def make():
        p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.3}], lr=0.1, momentum=0.9)
        return opt, SCHEDULERS[name](opt)
    (ref, rs), (opt, s) = make(), make()
    for t in range(20):
        if t == 5:
            State(optimizer=opt, scheduler=s).scale_lr(0.25)
        want = [g["lr"] * (0.25 if t >= 5 else 1) for g in ref.param_groups]
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(want), t
        ref.step(), opt.step(), rs.step(), s.step()


def test_scale_lr_through_the_schedule_scales_the_warm_up_and_the_main_scheduler():
    def make():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        return opt, Schedule(SchedSpec(type="CosineAnnealingLR", warmup=2), opt, 6, 1)
    (ref, rs), (opt, s) = make(), make()
    st = State(optimizer=opt, scheduler=s.scheduler, schedule=s)
    for t in range(6):
        if t == 1:
            st.scale_lr(0.5)
        assert opt.param_groups[0]["lr"] == pytest.approx(ref.param_groups[0]["lr"] * (0.5 if t >= 1 else 1)), t
        ref.step(), opt.step()
        rs.after_epoch(), s.after_epoch()

