"""Training throughput of the direct denoiser's U-Net for a few depths/widths, float32 vs bf16 autocast.

Chooses the default size of ``napari_hdn.direct.DirectUNet``: the distillation step also pays for
the HDN's posterior sample, so the U-Net should cost at most about as much as that. Times
``direct_step`` (forward + backward + Adam) on batches of 8 patches of 64x64, fastest of
``--repeats``. Results go to benchmarks/results/direct_network_<device>.json.

    .venv/bin/python benchmarks/bench_direct_network.py            # CPU, ~1 minute
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from napari_hdn.foundation.device import use_bfloat16
from napari_hdn.direct import DirectUNet
from napari_hdn.direct.step import direct_step

SIZES = ((1, 16), (2, 16), (2, 32), (3, 32), (2, 48))


def _time(depth: int, width: int, bf16: bool, device: torch.device, steps: int, repeats: int) -> float:
    torch.manual_seed(0)
    net = DirectUNet(depth, width).to(device)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.randn(8, 1, 64, 64, device=device)
    direct_step(net, opt, x, x, bf16=bf16)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            direct_step(net, opt, x, x, bf16=bf16)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / steps)
    return 8 / best  # patches per second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    auto_bf16 = use_bfloat16("auto", device)
    rows = []
    for depth, width in SIZES:
        for bf16 in (False, True):
            rate = _time(depth, width, bf16, device, args.steps, args.repeats)
            params = sum(p.numel() for p in DirectUNet(depth, width).parameters())
            rows.append({"depth": depth, "width": width, "bf16": bf16, "params": params, "patches_per_s": rate})
            print(f"depth {depth} width {width:3d} {'bf16' if bf16 else 'fp32'}: {rate:8.1f} patches/s ({params} params)")
    out = Path(__file__).parent / "results" / f"direct_network_{device.type}.json"
    out.write_text(json.dumps({"device": str(device), "threads": args.threads, "auto_bf16": auto_bf16,
                               "batch": 8, "patch": 64, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
