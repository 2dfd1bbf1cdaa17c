"""benchmarks/gpu_resnet.py as CI's smoke test: the GPU benchmark (small ResNet on CIFAR-shaped data kept on the
device; plain loop vs fit() with sinks off vs defaults) runs on CPU with tiny sizes, with bf16 autocast and
channels_last on, and reports a positive rate for each loop. No timing is asserted."""
import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("gpu_resnet", ROOT / "benchmarks" / "gpu_resnet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_gpu_benchmark_runs_on_cpu_with_tiny_sizes(capsys):
    bench = _bench()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rates = bench.main(bench.TINY + ["--bf16", "--channels-last"])
    finally:
        torch.set_num_threads(threads)
    assert list(rates) == ["plain", "fit, sinks off", "fit, defaults"] and all(r > 0 for r in rates.values())
    out = capsys.readouterr().out
    assert "device cpu, 64 samples 3x32x32, batch 16, width 4, bf16 True, channels_last True" in out
    assert out.count("ratio to plain") == 3


def test_the_small_resnet_maps_cifar_shaped_batches_to_ten_logits():
    net = _bench().resnet(width=4)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) < 50_000
