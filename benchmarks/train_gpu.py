"""GPU training throughput of three NB101 cells; prints a table (the device check of issue #3).

    python benchmarks/train_gpu.py                      # on a CUDA machine: the real table
    python benchmarks/train_gpu.py --device cpu --batch 8 --steps 2 --warmup 1   # smoke test

For each cell, img/s of training steps at batch 256 (forward + backward + SGD step) for:
  * ``nasbench_pytorch``'s ``Network``, fp32, eager (the baseline);
  * ours, fp32 eager;
  * ours, bf16 autocast + channels_last;
  * ours, bf16 + channels_last + ``torch.compile`` (``--compile-mode``, default max-autotune-no-cudagraphs;
    ``reduce-overhead`` adds CUDA graphs for launch-bound small cells).
Data are GPU-resident random tensors (the loader is benchmarked separately). The last column
projects 108 epochs over So2Sat's 352,366 training samples.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_assets.core.cells.cost import NetworkShape  # noqa: E402
from nas_assets.core.cells.space import ArchSpec  # noqa: E402
from nas_assets.train.network import NB101Network, count_trainable  # noqa: E402

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
TRAIN_SAMPLES = 352_366


def cells() -> dict[str, ArchSpec]:
    chain = ArchSpec.from_spec(np.diag(np.ones(6, int), 1), ["input"] + [C3] * 5 + ["output"])
    wide = np.zeros((6, 6), int)
    for a, b in [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5), (4, 5), (0, 5)]:
        wide[a, b] = 1
    resnet = [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    return {
        "5-chain conv3x3": chain,
        "wide 5-branch mixed": ArchSpec.from_spec(wide, ["input", C1, C1, MP, C1, "output"]),
        "ResNet-like": ArchSpec.from_spec(resnet, ["input", C3, C3, "output"]),
    }


def baseline_network(spec: ArchSpec, shape: NetworkShape) -> torch.nn.Module:
    """nasbench_pytorch's Network (test extra), imported only here."""
    from nasbench_pytorch.model import Network

    return Network((spec.matrix, list(spec.ops)), num_labels=shape.num_classes, in_channels=shape.in_channels,
                   stem_out_channels=shape.stem_channels, num_stacks=shape.num_stacks,
                   num_modules_per_stack=shape.cells_per_stack)


def images_per_second(model: torch.nn.Module, device: torch.device, batch: int, steps: int, warmup: int,
                      bf16: bool, channels_last: bool, in_channels: int, classes: int) -> float:
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, in_channels, 32, 32, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
            out = out[0] if isinstance(out, tuple) else out
            loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--compile-mode", default="max-autotune-no-cudagraphs")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    shape = NetworkShape(in_channels=18, num_classes=17)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"\nNB101 training throughput on {name}, batch {args.batch}, torch {torch.__version__}\n")
    header = f"{'cell':<22}{'params':>12}{'variant':>34}{'img/s':>10}{'x base':>8}{'108 ep. h':>11}"
    print(header)
    print("-" * len(header))
    for cell_name, spec in cells().items():
        variants: list[tuple[str, callable, bool, bool]] = []
        if not args.no_baseline:
            variants.append(("nasbench_pytorch fp32 eager",
                             lambda: baseline_network(spec, shape), False, False))
        variants.append(("ours fp32 eager", lambda: NB101Network(spec, shape), False, False))
        variants.append(("ours bf16 + channels_last", lambda: NB101Network(spec, shape), True, True))
        if not args.no_compile:
            variants.append(("ours bf16 + cl + compile",
                             lambda: torch.compile(NB101Network(spec, shape),
                                                   mode=args.compile_mode), True, True))
        base = None
        for variant, build, bf16, cl in variants:
            torch.manual_seed(0)
            model = build()
            params = count_trainable(model)
            try:
                rate = images_per_second(model, device, args.batch, args.steps, args.warmup, bf16, cl, 18, 17)
            except Exception as exc:  # report, keep going: one failing variant must not hide the others
                print(f"{cell_name:<22}{params:>12,}{variant:>34}   failed: "
                      f"{type(exc).__name__}: {exc}"[:200])
                continue
            base = base or rate
            hours = 108 * TRAIN_SAMPLES / rate / 3600
            print(f"{cell_name:<22}{params:>12,}{variant:>34}{rate:>10,.0f}{rate / base:>8.2f}{hours:>11.2f}")
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print("\nprojection: 108 epochs x 352,366 samples / measured img/s, one process; the report: ~10 "
          "A100-GPU-hours per cell")


if __name__ == "__main__":
    main()
