"""Training end to end on the CPU: result records, both budget protocols, resume after a kill,
2-process DDP, real data."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_assets.core.cells.cost import NetworkShape, count_parameters
from nas_assets.core.cells.space import ArchSpec
from nas_assets.core.classification import summarize
from nas_assets.core.store.results import load_result
from nas_assets.train.config import TrainConfig
from nas_assets.train.runner import ArrayData, train_architecture

SPEC = ArchSpec.from_spec(
    [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
    ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"],
)
ARCH = f"{SPEC.matrix_string()}:{SPEC.ops_string()}"
SMALL = ["--stem-channels", "8", "--cells-per-stack", "1", "--batch-size", "16", "--progress-every", "1000"]


def train_cli(data: Path, out: Path, *extra: str, wait: bool = True):
    cmd = [sys.executable, "-m", "nas_assets.train", "--arch", ARCH, "--data", str(data), "--out", str(out),
           *SMALL, *extra]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_cli_writes_a_valid_result_and_is_idempotent(so2sat_dir, tmp_path):
    out = train_cli(so2sat_dir, tmp_path / "runs", "--epochs", "1,2", "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    path = tmp_path / "runs" / f"{SPEC.arch_hash}.json"
    record = load_result(path)  # the ingestion-side validator accepts it
    # the CLI's default is the config's
    assert record["config"]["protocol"] == TrainConfig.protocol == "nb101"
    assert [b["epoch"] for b in record["budgets"]] == [1, 2]
    shape = NetworkShape(in_channels=18, num_classes=17, stem_channels=8, cells_per_stack=1)
    assert record["trainable_parameters"] == count_parameters(SPEC, shape)
    assert record["budgets"][-1]["val"]["n_samples"] == 34
    assert all(b["test"]["n_samples"] == 34 and len(b["test"]["per_class_accuracy"]) == 17
               for b in record["budgets"])
    assert record["test"] == {"epoch": 2, **record["budgets"][-1]["test"]}  # schema 1's place for it
    assert len(record["budgets"][0]["val"]["per_class_accuracy"]) == 17
    ckpts = tmp_path / "runs" / "checkpoints" / SPEC.arch_hash
    assert {p.relative_to(ckpts).as_posix() for p in ckpts.rglob("*") if p.is_file()} == {
        "budget-001/last.ckpt", "budget-001/record.json", "budget-002/last.ckpt", "budget-002/record.json"}
    again = train_cli(so2sat_dir, tmp_path / "runs", "--epochs", "1,2", "--cache-dir",
                      str(tmp_path / "cache"))
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_bad_inputs_fail_clearly(tmp_path):
    (tmp_path / "empty").mkdir()
    out = train_cli(tmp_path / "empty", tmp_path / "runs", "--epochs", "1")
    assert out.returncode == 2 and "training.h5" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "nas_assets.train", "--arch", "0100:input,output,output",
                          "--data", str(tmp_path), "--out", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr


#: protocol -> (budgets, the checkpoint whose appearance means the run is part-way through a
#: budget run that is not its first: the kill lands there)
KILL_POINTS = {
    "snapshot": ("1,2,3,4", "budget-002.ckpt"),
    # budget 1 finished (record.json saved), budget 3's run checkpointed after 1 of its 3 epochs
    "nb101": ("1,3", "budget-003/last.ckpt"),
}


@pytest.mark.parametrize("protocol", ["snapshot", "nb101"])
def test_killed_run_resumes_and_matches_an_uninterrupted_one(so2sat_dir, tmp_path, protocol, monkeypatch):
    # the same thread count in every run, whatever the load: the metrics are compared to 1e-9
    monkeypatch.setenv("NAS_ASSETS_CPU_SHARING", "fixed")
    budgets, kill_at = KILL_POINTS[protocol]
    cache = ["--cache-dir", str(tmp_path / "cache"), "--epochs", budgets, "--protocol", protocol]
    ref = train_cli(so2sat_dir, tmp_path / "ref", *cache)
    assert ref.returncode == 0, ref.stdout[-2000:]
    proc = train_cli(so2sat_dir, tmp_path / "run", *cache, wait=False)
    ckpt = tmp_path / "run" / "checkpoints" / SPEC.arch_hash / kill_at
    deadline = time.monotonic() + 300
    while not ckpt.exists():
        assert proc.poll() is None and time.monotonic() < deadline, f"run ended before {kill_at} was written"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # as a node failure or a TIMEOUT would
    proc.wait()
    assert not (tmp_path / "run" / f"{SPEC.arch_hash}.json").exists()
    resumed = train_cli(so2sat_dir, tmp_path / "run", *cache)
    assert resumed.returncode == 0 and "resuming" in resumed.stdout, resumed.stdout[-2000:]
    a = json.loads((tmp_path / "ref" / f"{SPEC.arch_hash}.json").read_text())
    b = json.loads((tmp_path / "run" / f"{SPEC.arch_hash}.json").read_text())
    epochs = [int(e) for e in budgets.split(",")]
    assert [r["epoch"] for r in b["budgets"]] == epochs  # nothing lost, nothing duplicated
    assert b["resumed_from"]
    if protocol == "nb101":  # the finished budget run was reused, not trained again
        assert b["reused_budgets"] == [1] and "reusing" in resumed.stdout
        assert b["resumed_from"].endswith("budget-003/last.ckpt")
    for ra, rb in zip(a["budgets"], b["budgets"]):  # same data order and augmentation per epoch
        for split in ("train", "val", "test"):
            assert ra[split]["confusion"] == rb[split]["confusion"]
            assert ra[split]["loss"] == pytest.approx(rb[split]["loss"], rel=1e-9)
    assert a["test"]["confusion"] == b["test"]["confusion"]


def _numbers(budget: dict) -> dict[str, float]:
    """A budget record's metrics, flat (what two equal runs share; timings aside)."""
    out = {}
    for split in ("train", "val", "test"):
        m = budget[split]
        out |= {f"{split}.{name}": m[name]
                for name in ("overall_accuracy", "macro_accuracy", "kappa", "loss", "n_samples")}
        out |= {f"{split}.class{k}": math.nan if v is None else v
                for k, v in enumerate(m["per_class_accuracy"])}
        out |= {f"{split}.confusion{k}": v for k, v in enumerate(np.ravel(m["confusion"]))}
    return out


def test_nb101_budgets_are_independent_annealed_runs(so2sat_dir, tmp_path):
    """nb101 with budgets (1, 2) measures at epoch b exactly what a snapshot run with budgets (b,)
    measures -- same seeded start, own schedule annealed over b epochs -- while a snapshot run with
    budgets (1, 2) measures epoch 1 of a schedule spanning 2 epochs: a different number."""
    from nas_assets.train.so2sat_data import load_so2sat_arrays

    data = load_so2sat_arrays(so2sat_dir, tmp_path / "cache")
    small = dict(stem_channels=8, cells_per_stack=1, batch_size=16)

    def train(budgets: tuple[int, ...], protocol: str) -> dict:
        config = TrainConfig(budgets=budgets, protocol=protocol, **small)
        return train_architecture(SPEC, data, config, tmp_path / f"{protocol}-{budgets}", accelerator="cpu",
                                  resume=False, progress_every_s=1000)

    nb101 = train((1, 2), "nb101")
    alone = {b: train((b,), "snapshot")["budgets"][0] for b in (1, 2)}
    snapshot = train((1, 2), "snapshot")
    assert nb101["config"]["protocol"] == "nb101" and snapshot["config"]["protocol"] == "snapshot"
    for budget in nb101["budgets"]:
        assert _numbers(budget) == pytest.approx(_numbers(alone[budget["epoch"]]), rel=1e-9, nan_ok=True)
    # the 2-epoch runs agree however they are launched; epoch 1 of the long schedule does not
    assert _numbers(snapshot["budgets"][1]) == pytest.approx(_numbers(alone[2]), rel=1e-9, nan_ok=True)
    assert snapshot["budgets"][0]["val"]["loss"] != pytest.approx(nb101["budgets"][0]["val"]["loss"],
                                                                  rel=1e-6)
    assert snapshot["budgets"][0]["train"]["loss"] != pytest.approx(nb101["budgets"][0]["train"]["loss"],
                                                                    rel=1e-6)
    # test metrics at every budget, in both protocols
    for record in (nb101, snapshot):
        assert [b["test"]["n_samples"] for b in record["budgets"]] == [34, 34]
    assert nb101["timings"]["train_seconds"] == pytest.approx(sum(b["train_seconds"]
                                                                  for b in nb101["budgets"]))


def test_a_bad_protocol_is_refused_naming_the_field(tmp_path):
    with pytest.raises(ValueError,
                       match=r"protocol 'nb201' unknown; expected one of \['snapshot', 'nb101'\]"):
        TrainConfig(protocol="nb201")
    out = train_cli(tmp_path, tmp_path / "runs", "--protocol", "nb201")
    assert out.returncode == 2 and "--protocol: invalid choice: 'nb201'" in out.stderr


@pytest.mark.parametrize("protocol, final_ckpt",
                         [("snapshot", "last.ckpt"), ("nb101", "budget-002/last.ckpt")])
def test_two_process_ddp_reduces_metrics_over_all_samples(so2sat_dir, tmp_path, protocol, final_ckpt):
    out = train_cli(so2sat_dir, tmp_path / "ddp", "--epochs", "1,2", "--devices", "2", "--accelerator", "cpu",
                    "--protocol", protocol, "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = list((tmp_path / "ddp").glob("*.json"))
    assert len(results) == 1  # only global rank 0 writes
    record = load_result(results[0])
    assert record["environment"]["world_size"] == 2 and record["config"]["protocol"] == protocol
    for budget in record["budgets"]:  # every Trainer.fit of the process reduces over both ranks
        for split in ("val", "test"):
            # not rank 0's 17
            assert budget[split]["n_samples"] == 34 and np.sum(budget[split]["confusion"]) == 34
        assert budget["train"]["n_samples"] == 68  # 2 ranks x 34 (68 samples split evenly)
    last = record["budgets"][-1]
    # the reduced confusion equals a single-process evaluation of the final weights
    from nas_assets.train.data import prepare_cache
    from nas_assets.train.network import NB101Network

    cache = prepare_cache(so2sat_dir, tmp_path / "cache")
    net = NB101Network(SPEC, NetworkShape(in_channels=18, num_classes=17, stem_channels=8, cells_per_stack=1))
    state = torch.load(tmp_path / "ddp" / "checkpoints" / SPEC.arch_hash / final_ckpt,
                       weights_only=False)["state_dict"]
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
    data = ArrayData(splits={"train": (x[train], y[train]), "val": (x[val], y[val])}, num_classes=10,
                     name="digits")
    resnet_like = ArchSpec.from_spec([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
                                     ["input", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"])
    # snapshot: one 10-epoch run measured at 2 and 5 (nb101 would train 17 epochs for the same check)
    config = TrainConfig(budgets=(2, 5, 10), protocol="snapshot", batch_size=64, stem_channels=16,
                         cells_per_stack=1, lr=0.05, augment=False, seed=0)
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        record = train_architecture(resnet_like, data, config, out, resume=False, progress_every_s=1000)
    accuracies = [b["val"]["overall_accuracy"] for b in record["budgets"]]
    assert accuracies[-1] >= 0.90, accuracies
    assert record["budgets"][-1]["val"]["n_samples"] == 360
