"""Training end to end on the CPU: result records, resume after a kill, 2-process DDP, real data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_assets.core.cost import NetworkShape, count_parameters
from nas_assets.core.metrics import summarize
from nas_assets.core.results import load_result
from nas_assets.core.space import ArchSpec
from nas_assets.train.config import TrainConfig
from nas_assets.train.runner import ArrayData, train_architecture

SPEC = ArchSpec.from_spec(
    [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
    ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"],
)
ARCH = f"{SPEC.matrix_string()}:{SPEC.ops_string()}"
SMALL = ["--stem-channels", "8", "--cells-per-stack", "1", "--batch-size", "16", "--progress-every", "1000"]


def train_cli(data: Path, out: Path, *extra: str, wait: bool = True):
    cmd = [sys.executable, "-m", "nas_assets.train", "--arch", ARCH, "--data", str(data), "--out", str(out), *SMALL, *extra]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_cli_writes_a_valid_result_and_is_idempotent(so2sat_dir, tmp_path):
    out = train_cli(so2sat_dir, tmp_path / "runs", "--epochs", "1,2", "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    path = tmp_path / "runs" / f"{SPEC.arch_hash}.json"
    record = load_result(path)  # the ingestion-side validator accepts it
    assert [b["epoch"] for b in record["budgets"]] == [1, 2]
    shape = NetworkShape(in_channels=18, num_classes=17, stem_channels=8, cells_per_stack=1)
    assert record["trainable_parameters"] == count_parameters(SPEC, shape)
    assert record["test"]["n_samples"] == 34 and record["budgets"][-1]["val"]["n_samples"] == 34
    assert len(record["budgets"][0]["val"]["per_class_accuracy"]) == 17
    assert (tmp_path / "runs" / "checkpoints" / SPEC.arch_hash / "budget-002.ckpt").exists()
    again = train_cli(so2sat_dir, tmp_path / "runs", "--epochs", "1,2", "--cache-dir", str(tmp_path / "cache"))
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_bad_inputs_fail_clearly(tmp_path):
    (tmp_path / "empty").mkdir()
    out = train_cli(tmp_path / "empty", tmp_path / "runs", "--epochs", "1")
    assert out.returncode == 2 and "training.h5" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "nas_assets.train", "--arch", "0100:input,output,output",
                          "--data", str(tmp_path), "--out", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr


def test_killed_run_resumes_and_matches_an_uninterrupted_one(so2sat_dir, tmp_path):
    cache = ["--cache-dir", str(tmp_path / "cache"), "--epochs", "1,2,3,4"]
    ref = train_cli(so2sat_dir, tmp_path / "ref", *cache)
    assert ref.returncode == 0, ref.stdout[-2000:]
    proc = train_cli(so2sat_dir, tmp_path / "run", *cache, wait=False)
    ckpt = tmp_path / "run" / "checkpoints" / SPEC.arch_hash / "budget-002.ckpt"
    deadline = time.monotonic() + 300
    while not ckpt.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before epoch 2"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # as a node failure or a TIMEOUT would
    proc.wait()
    assert not (tmp_path / "run" / f"{SPEC.arch_hash}.json").exists()
    resumed = train_cli(so2sat_dir, tmp_path / "run", *cache)
    assert resumed.returncode == 0 and "resuming" in resumed.stdout
    a = json.loads((tmp_path / "ref" / f"{SPEC.arch_hash}.json").read_text())
    b = json.loads((tmp_path / "run" / f"{SPEC.arch_hash}.json").read_text())
    assert [r["epoch"] for r in b["budgets"]] == [1, 2, 3, 4]  # nothing lost, nothing duplicated
    assert b["resumed_from"]
    for ra, rb in zip(a["budgets"], b["budgets"]):  # same data order and augmentation per epoch
        assert ra["val"]["confusion"] == rb["val"]["confusion"]
        assert ra["train"]["confusion"] == rb["train"]["confusion"]
    assert a["test"]["confusion"] == b["test"]["confusion"]


def test_two_process_ddp_reduces_metrics_over_all_samples(so2sat_dir, tmp_path):
    out = train_cli(so2sat_dir, tmp_path / "ddp", "--epochs", "1,2", "--devices", "2", "--accelerator", "cpu",
                    "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = list((tmp_path / "ddp").glob("*.json"))
    assert len(results) == 1  # only global rank 0 writes
    record = load_result(results[0])
    assert record["environment"]["world_size"] == 2
    last = record["budgets"][-1]
    assert last["val"]["n_samples"] == 34 and np.sum(last["val"]["confusion"]) == 34  # not rank 0's 17
    assert last["train"]["n_samples"] == 68  # 2 ranks x 34 (68 samples split evenly)
    # the reduced confusion equals a single-process evaluation of the final weights
    from nas_assets.train.data import prepare_cache
    from nas_assets.train.network import NB101Network

    cache = prepare_cache(so2sat_dir, tmp_path / "cache")
    net = NB101Network(SPEC, NetworkShape(in_channels=18, num_classes=17, stem_channels=8, cells_per_stack=1))
    state = torch.load(tmp_path / "ddp" / "checkpoints" / SPEC.arch_hash / "last.ckpt", weights_only=False)["state_dict"]
    net.load_state_dict({k.removeprefix("network."): v for k, v in state.items()})
    net.eval()
    x, y = cache.splits["validation"]
    with torch.no_grad():
        pred = net(torch.as_tensor(cache.dequantize(x))).argmax(1).numpy()
    confusion = np.bincount(y * 17 + pred, minlength=17 * 17).reshape(17, 17)
    assert confusion.tolist() == last["val"]["confusion"]
    assert summarize(confusion, 0.0, 34)["macro_accuracy"] == pytest.approx(last["val"]["macro_accuracy"])


def test_learns_real_handwritten_digits():
    """sklearn's 1,797 real 8x8 digits, upsampled to 32x32, through the same module and loader."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    x = torch.nn.functional.interpolate(x, size=32, mode="bilinear", align_corners=False)
    x = ((x - x.mean()) / x.std()).numpy()
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    train, val = order[:1437], order[1437:]
    data = ArrayData(splits={"train": (x[train], y[train]), "val": (x[val], y[val])}, num_classes=10, name="digits")
    resnet_like = ArchSpec.from_spec([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
                                     ["input", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"])
    config = TrainConfig(budgets=(2, 5, 10), batch_size=64, stem_channels=16, cells_per_stack=1, lr=0.05,
                         augment=False, seed=0)
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        record = train_architecture(resnet_like, data, config, out, resume=False, progress_every_s=1000)
    accuracies = [b["val"]["overall_accuracy"] for b in record["budgets"]]
    assert accuracies[-1] >= 0.90, accuracies
    assert record["budgets"][-1]["val"]["n_samples"] == 360
