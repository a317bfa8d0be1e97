"""NB101 reference data readers: NB101 TFRecords written here from hand-made cells, and the 1k
CIFAR-10 JSON export (CRC-32C and TFRecord framing: test_tfrecord.py; the ModelMetrics protobuf:
test_nb101_proto.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nas_assets.core.cells.space import CONV1X1, CONV3X3, LABEL_OPS, MAXPOOL3X3, ArchSpec
from nas_assets.core.nb101 import errors as reference_errors
from nas_assets.core.nb101 import proto as nb101_proto
from nas_assets.core.nb101 import reader as nd
from nas_assets.core.nb101 import tfrecord
from nas_assets.core.nb101.reader import EvaluationData, ModelMetrics, ReferenceDataError
from tests.factories import nb101_tfrecord_from_json


@pytest.fixture(scope="module")
def reference_json(reference_path) -> Path:
    """A 1k-format JSON export of the first 1,000 shipped cells (conftest writes it)."""
    return Path(reference_path)


def test_moved_names_are_re_exported():
    """Code importing from nb101_data keeps working: the names are the split modules' own."""
    for name in nd.__all__:
        assert getattr(nd, name) is not None
    for name in ("TFRecordError", "crc32c", "crc32c_many", "masked_crc32c", "read_tfrecord",
                 "write_tfrecord"):
        assert getattr(nd, name) is getattr(tfrecord, name)
    for name in ("EvaluationData", "ModelMetrics", "ProtobufDecodeError", "decode_model_metrics",
                 "encode_model_metrics"):
        assert getattr(nd, name) is getattr(nb101_proto, name)
    assert nd.ReferenceDataError is reference_errors.ReferenceDataError
    assert issubclass(nd.TFRecordError, nd.ReferenceDataError)


# ----------------------------------------------------------------------------- NB101 records

# hand-made cells: (matrix, ops)
CELLS = [
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", CONV3X3, "output"]),
    ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", CONV1X1, MAXPOOL3X3, "output"]),
    ([[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
     ["input", CONV3X3, CONV1X1, MAXPOOL3X3, "output"]),
]


def _run(cell: int, budget: int, repeat: int) -> ModelMetrics:
    """Known metrics: validation = 0.5 + cell/10 + budget/1000 + repeat/100 (mean: repeat 1's)."""
    val = 0.5 + cell / 10 + budget / 1000 + repeat / 100
    final = EvaluationData(float(budget), 10.0 * budget + repeat, val + 0.05, val, val - 0.01)
    halfway = EvaluationData(budget / 2, 5.0 * budget, 0.3, 0.3, 0.3)
    return ModelMetrics((EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1), halfway, final), 1000 + cell, 99.0)


def _write_nb101(path: Path, budgets=nd.BUDGETS, specs=None) -> list[ArchSpec]:
    specs = specs or [ArchSpec.from_spec(m, o) for m, o in CELLS]
    records = [
        nd.encode_nb101_record(s.arch_hash, b, s.matrix_string(), s.ops_string(), _run(c, b, r))
        for b in budgets for r in range(3) for c, s in enumerate(specs)  # interleaved, as in a real file
    ]
    nd.write_tfrecord(path, records)
    return specs


def test_nb101_tfrecord_round_trip_averages_the_repeats(tmp_path):
    path = tmp_path / "nb.tfrecord"
    specs = _write_nb101(path)
    raw = nd.load_nb101_tfrecord(path, verify_hash=True)
    assert raw["key"].tolist() == [s.arch_hash for s in specs]
    assert raw["trainable_parameters"].tolist() == [1000, 1001, 1002]
    for c, s in enumerate(specs):
        v = s.n_vertices
        np.testing.assert_array_equal(raw["adjacency"][c][:v, :v], s.matrix)
        assert raw["adjacency"][c].sum() == s.n_edges
        assert raw["operations"][c].tolist() == s.labels + [-3] * (7 - v)
        for b in nd.BUDGETS:
            val = 0.5 + c / 10 + b / 1000 + 0.01  # mean over repeats 0, 1, 2
            row = raw.iloc[c]
            assert row[f"{b}_final_validation_accuracy"] == pytest.approx(val, abs=1e-12)
            assert row[f"{b}_final_test_accuracy"] == pytest.approx(val - 0.01, abs=1e-12)
            assert row[f"{b}_final_train_accuracy"] == pytest.approx(val + 0.05, abs=1e-12)
            assert row[f"{b}_final_training_time"] == pytest.approx(10.0 * b + 1)
            assert row[f"{b}_repeats"] == 3
    assert raw["final_training_time"].tolist() == pytest.approx([1081.0] * 3)

    ref = nd.load_reference(path)
    assert ref["arch_hash"].tolist() == [s.arch_hash for s in specs]
    assert ref["matrix"].tolist() == [s.matrix_string() for s in specs]
    assert ref["ops"].tolist() == [s.ops_string() for s in specs]
    assert ref["n_vertices"].tolist() == [3, 4, 5] and ref["n_edges"].tolist() == [3, 3, 5]
    assert ref["val_accuracy_36"].tolist() == pytest.approx([0.5 + c / 10 + 0.036 + 0.01 for c in range(3)])
    assert ref["test_accuracy_4"].tolist() == pytest.approx([0.5 + c / 10 + 0.004 for c in range(3)])
    assert ref["training_time_12"].tolist() == pytest.approx([121.0] * 3)

    only = nd.load_nb101_tfrecord(path, budgets=(36, 108))
    assert [c for c in only.columns if "validation" in c] == ["36_final_validation_accuracy",
                                                              "108_final_validation_accuracy"]


def test_only108_file_leaves_other_budgets_nan(tmp_path):
    path = tmp_path / "nasbench_only108.tfrecord"
    _write_nb101(path, budgets=(108,))
    ref = nd.load_reference(path)
    assert ref[[f"val_accuracy_{b}" for b in (4, 12, 36)]].isna().all().all()
    assert ref["val_accuracy_108"].notna().all() and ref["test_accuracy_108"].notna().all()
    raw = nd.load_nb101_tfrecord(path)
    assert (raw["4_repeats"] == 0).all() and (raw["108_repeats"] == 3).all()


def test_hash_mismatch_and_bad_records_are_named(tmp_path):
    spec = ArchSpec.from_spec(*CELLS[0])
    wrong = "0" * 32
    path = tmp_path / "wrong.tfrecord"
    nd.write_tfrecord(path, [nd.encode_nb101_record(wrong, 108, spec.matrix_string(), spec.ops_string(),
                                                    _run(0, 108, 0))])
    assert nd.load_nb101_tfrecord(path)["key"].tolist() == [wrong]  # not verified by default
    with pytest.raises(ReferenceDataError, match=f"key '{wrong}', computed '{spec.arch_hash}'"):
        nd.load_nb101_tfrecord(path, verify_hash=True)

    run = _run(0, 108, 0)
    good = nd.encode_nb101_record(spec.arch_hash, 108, spec.matrix_string(), spec.ops_string(), run)
    head = [spec.arch_hash, 108, spec.matrix_string(), spec.ops_string()]
    cases = {
        b"not json": f"record 1 at byte offset {16 + len(good)}: not JSON",
        json.dumps(head).encode(): "expected a JSON list",
        json.dumps([*head, "@@"]).encode(): "not base64",
        json.dumps([*head, "CwAA"]).encode(): "not a ModelMetrics protobuf",  # 0x0b: wire type 3
    }
    for record, match in cases.items():
        with pytest.raises(ReferenceDataError, match=match) as err:
            nd.write_tfrecord(path, [good, record])
            nd.load_nb101_tfrecord(path)
        assert str(path) in str(err.value)

    bad_cell = nd.encode_nb101_record(spec.arch_hash, 108, "011001000", "input,conv5x5,output", run)
    nd.write_tfrecord(path, [bad_cell])
    with pytest.raises(ReferenceDataError, match="V comma-separated op names"):
        nd.load_nb101_tfrecord(path)
    # vertex 2 feeds nothing: NB101 stores pruned cells only
    unpruned = nd.encode_nb101_record(spec.arch_hash, 108, "0111000100000000",
                                      f"input,{CONV3X3},{CONV3X3},output", run)
    nd.write_tfrecord(path, [unpruned])
    with pytest.raises(ReferenceDataError, match="not a pruned cell"):
        nd.load_nb101_tfrecord(path)


def test_load_reference_dispatch_errors(tmp_path):
    for name in ("missing.json", "missing.tfrecord", "missing.csv"):
        with pytest.raises(ReferenceDataError, match=f"{name}: does not exist; expected"):
            nd.load_reference(tmp_path / name)
    other = tmp_path / "table.csv"
    other.write_text("a,b\n")
    expected = r"table.csv: unknown suffix '.csv'; expected .*\.json or \.tfrecord"
    with pytest.raises(ReferenceDataError, match=expected):
        nd.load_reference(other)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"key": ["0" * 32]}))
    with pytest.raises(ReferenceDataError, match="broken.json: missing columns"):
        nd.load_reference(broken)


# ---------------------------------------------------------------------------- the 1k JSON


def test_json_1k_loads_with_cifar10_anchors(reference_json):
    raw = nd.load_nb101_json(reference_json)
    assert len(raw) == 1000
    file = json.loads(reference_json.read_text())
    assert raw["key"].tolist() == file["key"]
    # NB101's rows are pruned with padding at the end: the raw frame keeps them as they are
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(raw["adjacency"], file["adjacency"]))
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(raw["operations"], file["operations"]))

    ref = nd.load_reference(reference_json)  # verifies every key against our hash
    assert len(ref) == 1000 and ref["arch_hash"].is_unique
    val108 = ref["val_accuracy_108"]
    assert 0.89 <= val108.mean() <= 0.93
    assert 0.02 <= val108.std() <= 0.07
    assert 0.2 <= ref["val_accuracy_4"].mean() <= 0.4
    assert ref[[f"test_accuracy_{b}" for b in nd.BUDGETS]].isna().all().all()
    assert ref["training_time_108"].notna().all() and ref["training_time_4"].isna().all()
    for i in (0, 499, 999):
        row = ref.iloc[i]
        assert ArchSpec.from_strings(row["matrix"], row["ops"]).arch_hash == row["arch_hash"]


def test_json_agrees_with_conftest_reference(reference, reference_json):
    ref = nd.load_reference(reference_json)
    rows = reference["rows"]
    assert ref["arch_hash"].tolist() == [r["key"] for r in rows]
    assert ref["trainable_parameters"].tolist() == [r["params"] for r in rows]
    for i in range(0, 1000, 97):
        assert ref["matrix"][i] == "".join(str(x) for x in rows[i]["matrix"].ravel())
        assert ref["ops"][i] == ",".join(LABEL_OPS[x] for x in rows[i]["labels"])


def test_json_and_tfrecord_give_the_same_normalised_frame(reference_json, tmp_path):
    raw = nd.load_nb101_json(reference_json).head(20)
    path = tmp_path / "twenty.tfrecord"
    assert nb101_tfrecord_from_json(reference_json, path, n=20) == 20

    from_json = nd.normalise_reference(raw)
    from_tfrecord = nd.load_reference(path, verify_hash=True)
    assert list(from_json.columns) == list(from_tfrecord.columns)
    same = [c for c in from_json.columns if not c.startswith("test_") and c not in
            ("training_time_4", "training_time_12", "training_time_36")]
    pd.testing.assert_frame_equal(from_json[same], from_tfrecord[same], check_exact=False, rtol=1e-12)
    assert from_tfrecord["test_accuracy_108"].tolist() == pytest.approx([0.9] * 20)
    assert from_json["test_accuracy_108"].isna().all()


# ---------------------------------------------------------------------------- the shipped 20k


def test_shipped_reference_is_the_nb101_20k_sample(shipped_raw):
    """Every shipped hash is the NB101 hash of its shipped cell; values and sizes as published."""
    from nas_assets.core.cells.cost import CIFAR10_SHAPE, count_parameters
    assert len(shipped_raw) == 20_001 and shipped_raw["key"].is_unique
    # the sample is NB101's smallest md5 hashes: sorted keys
    assert shipped_raw["key"].is_monotonic_increasing
    keys = shipped_raw["key"].to_numpy(dtype=object)
    matrices = np.stack(shipped_raw["adjacency"].to_numpy())
    labels = np.stack(shipped_raw["operations"].to_numpy())
    nd._verify_hashes(Path("shipped"), keys, matrices, labels, (labels != -3).sum(axis=1))
    ref = nd.load_shipped_reference()
    means = {b: ref[f"val_accuracy_{b}"].mean() for b in nd.BUDGETS}
    assert means[108] == pytest.approx(0.9104, abs=5e-4) and means[36] == pytest.approx(0.8421, abs=5e-4)
    assert means[4] == pytest.approx(0.2783, abs=5e-4)
    assert ref[[f"val_accuracy_{b}" for b in nd.BUDGETS]].notna().all().all()
    assert ref["training_time_108"].notna().all()
    for i in np.random.default_rng(0).choice(len(ref), 25, replace=False):
        row = ref.iloc[i]
        spec = ArchSpec.from_strings(row["matrix"], row["ops"])
        assert spec.arch_hash == row["arch_hash"]
        assert count_parameters(spec, CIFAR10_SHAPE) == row["trainable_parameters"]


def test_shipped_reference_fingerprint_is_stable_and_reads_from_package_data():
    from nas_assets.core.nb101 import shipped as nb101_shipped

    assert nb101_shipped.shipped_fingerprint() == nb101_shipped.shipped_fingerprint()
    assert len(nb101_shipped.shipped_fingerprint()) == 16
    # a Traversable of the installed package, not a path climbing out of it
    assert nb101_shipped.SHIPPED_REFERENCE.name == "nb101_cifar10_20k.npz"
    assert nb101_shipped.SHIPPED_REFERENCE.is_file()


def test_pack_and_unpack_cells_round_trip(space):
    from nas_assets.core.nb101.shipped import pack_cells, unpack_cells

    rows = np.random.default_rng(1).choice(len(space), 500, replace=False)
    bits, labels = pack_cells(space.matrices[rows], space.labels[rows])
    assert bits.shape == (500, 3) and bits.dtype == np.uint8
    assert np.array_equal(unpack_cells(bits), space.matrices[rows])
    assert np.array_equal(labels, space.labels[rows])
