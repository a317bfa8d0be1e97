"""The ModelMetrics protobuf by hand: decoding, encoding and the batched numpy path."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from nas_assets.core.nb101 import proto as pb
from nas_assets.core.nb101.proto import EvaluationData, ModelMetrics, ProtobufDecodeError

# --------------------------------------------------------------------------- ModelMetrics protobuf


EVAL_DOUBLES = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")


def _double(field: int, value: float) -> bytes:
    return bytes([field << 3 | 1]) + struct.pack("<d", value)


def test_decode_hand_encoded_model_metrics():
    # EvaluationData{current_epoch: 108, validation_accuracy: 0.5, checkpoint_path: "ckpt"}
    evaluation = _double(1, 108.0) + _double(4, 0.5) + b"\x32\x04ckpt"
    assert evaluation.hex() == "09" + "0000000000005b40" + "21" + "000000000000e03f" + "3204" + b"ckpt".hex()
    message = (
        b"\x0a" + bytes([len(evaluation)]) + evaluation  # evaluation_data
        + b"\x0a\x09" + _double(5, 0.25)  # a second one: test_accuracy 0.25 only
        + b"\x10\x8a\x98\x8a\x04"  # trainable_parameters = 8555530 (varint)
        + b"\x38\x96\x01"  # unknown field 7, varint 150: skipped
        + _double(3, 1800.0)  # total_time
    )
    m = pb.decode_model_metrics(message)
    assert m == ModelMetrics(
        (EvaluationData(current_epoch=108.0, validation_accuracy=0.5, checkpoint_path="ckpt"),
         EvaluationData(test_accuracy=0.25)),
        trainable_parameters=8555530,
        total_time=1800.0,
    )
    # the encoder writes the same bytes, less the unknown field
    assert pb.encode_model_metrics(m) == message.replace(b"\x38\x96\x01", b"")
    # negative int32: ten-byte sign-extended varint
    neg = b"\x10\xfb\xff\xff\xff\xff\xff\xff\xff\xff\x01"
    assert pb.decode_model_metrics(neg).trainable_parameters == -5
    assert pb.encode_model_metrics(ModelMetrics(trainable_parameters=-5)) == neg


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x0a\x05\x09\x00", "runs past the end"),  # length says 5, 2 bytes follow
        (b"\x10\x80", "varint runs past the end"),
        (b"\x11" + bytes(8), r"field 2 \(int32\) has wire type 1, expected 0"),
        (b"\x0b", "wire type 3"),
        (b"\x10" + b"\xff" * 4 + b"\x7f", "does not fit an int32"),
    ],
)
def test_decode_rejects_malformed_messages(data, match):
    with pytest.raises(ProtobufDecodeError, match=match):
        pb.decode_model_metrics(data)


def test_batched_final_metrics_equal_message_by_message_decoding(monkeypatch):
    """The numpy path (one decode per message shape) against decode_model_metrics, message by message."""
    rng = np.random.default_rng(1)
    # NB101-shaped runs (3 full evaluations, params of 3 or 4 varint bytes) plus odd shapes
    messages = [
        pb.encode_model_metrics(ModelMetrics(
            tuple(EvaluationData(*rng.random(5)) for _ in range(3)), int(rng.integers(1e5, 5e6)), 1.0))
        for _ in range(600)
    ]
    for i in range(400):
        evs = []
        for _ in range(int(rng.integers(1, 4))):
            values = {name: float(rng.random()) for name in EVAL_DOUBLES if rng.random() < 0.9}
            if rng.random() < 0.3:
                values["checkpoint_path"] = "/model.ckpt-" + "7" * int(rng.integers(0, 4))
            evs.append(EvaluationData(**values))
        choices = [None, int(rng.integers(0, 200)), int(rng.integers(1e5, 5e7)), -int(rng.integers(1, 9))]
        params = choices[i % 4]
        messages.append(pb.encode_model_metrics(ModelMetrics(tuple(evs), params, float(rng.random()))))
    messages += [messages[602] + b"\x10\x05"] * 5  # a repeated field: the last value wins
    layouts = []
    original = pb._Layout.of
    monkeypatch.setattr(pb._Layout, "of", classmethod(lambda cls, buf: layouts.append(buf) or original(buf)))
    got = pb._final_metrics(messages)
    expected = np.array([pb._final_of(pb.decode_model_metrics(m)) for m in messages])
    np.testing.assert_array_equal(got, expected)
    assert (got[-5:, 0] == 5).all()
    assert 0 < len(layouts) < len(messages) / 3  # most messages went through a shared layout
