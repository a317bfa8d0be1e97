"""The NB101 ``ModelMetrics`` protobuf (``nasbench/lib/model_metrics.proto``), wire format by hand.

Pure Python + numpy: no protobuf runtime. :func:`decode_model_metrics` /
:func:`encode_model_metrics` handle one message; :func:`_final_metrics` reads the final
evaluation of many messages at once, decoding each message shape once and the rest with numpy.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["EvaluationData", "ModelMetrics", "ProtobufDecodeError", "decode_model_metrics",
           "encode_model_metrics"]


class ProtobufDecodeError(ValueError):
    """Bytes that are not a well-formed ModelMetrics message (the message gives the byte)."""


# --------------------------------------------------------------------------------------------
# ModelMetrics protobuf (proto2), google-research/nasbench nasbench/lib/model_metrics.proto:
#   message ModelMetrics { repeated EvaluationData evaluation_data = 1;
#                          optional int32 trainable_parameters = 2; optional double total_time = 3; }
#   message EvaluationData { optional double current_epoch = 1; optional double training_time = 2;
#       optional double train_accuracy = 3; optional double validation_accuracy = 4;
#       optional double test_accuracy = 5; optional string checkpoint_path = 6; }

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_DOUBLE = struct.Struct("<d")
_EVAL_DOUBLES = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")


@dataclass(frozen=True)
class EvaluationData:
    """One evaluation during a training run (``None``: the field is absent from the message)."""

    current_epoch: float | None = None
    training_time: float | None = None
    train_accuracy: float | None = None
    validation_accuracy: float | None = None
    test_accuracy: float | None = None
    checkpoint_path: str | None = None


@dataclass(frozen=True)
class ModelMetrics:
    """The metrics of one training run: NB101 stores 3 evaluations (start, halfway, end)."""

    evaluation_data: tuple[EvaluationData, ...] = ()
    trainable_parameters: int | None = None
    total_time: float | None = None


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    start = pos
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufDecodeError(f"byte {start}: varint longer than 10 bytes")
    raise ProtobufDecodeError(f"byte {start}: varint runs past the end of its message (byte {end})")


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(field, wire_type, key_start, value_start, value_end)`` of each field of one message."""
    while pos < end:
        start = pos
        key, pos = _read_varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ProtobufDecodeError(f"byte {start}: field number 0 is invalid")
        if wire == _VARINT:
            _, stop = _read_varint(buf, pos, end)
        elif wire == _FIXED64:
            stop = pos + 8
        elif wire == _LEN:
            n, pos = _read_varint(buf, pos, end)
            stop = pos + n
        elif wire == _FIXED32:
            stop = pos + 4
        else:
            raise ProtobufDecodeError(
                f"byte {start}: field {field} has wire type {wire} (groups are not supported)"
            )
        if stop > end:
            raise ProtobufDecodeError(
                f"byte {start}: field {field} runs past the end of its message ({stop} > {end})"
            )
        yield field, wire, start, pos, stop
        pos = stop


def _expect(field: int, wire: int, expected: int, what: str, at: int) -> None:
    if wire != expected:
        raise ProtobufDecodeError(
            f"byte {at}: field {field} ({what}) has wire type {wire}, expected {expected}"
        )


def _int32(value: int, at: int) -> int:
    if value >= 1 << 63:  # negative int32s are sign-extended to 64 bits on the wire
        value -= 1 << 64
    if not -(1 << 31) <= value < 1 << 31:
        raise ProtobufDecodeError(f"byte {at}: trainable_parameters {value} does not fit an int32")
    return value


def _decode_evaluation(buf: bytes, pos: int, end: int) -> EvaluationData:
    values: dict[str, Any] = {}
    for field, wire, start, vpos, stop in _fields(buf, pos, end):
        if 1 <= field <= 5:
            _expect(field, wire, _FIXED64, "double", start)
            values[_EVAL_DOUBLES[field - 1]] = _DOUBLE.unpack_from(buf, vpos)[0]
        elif field == 6:
            _expect(field, wire, _LEN, "string", start)
            try:
                values["checkpoint_path"] = buf[vpos:stop].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtobufDecodeError(f"byte {vpos}: checkpoint_path is not UTF-8") from None
    return EvaluationData(**values)


def decode_model_metrics(data: bytes | bytearray | memoryview) -> ModelMetrics:
    """Decode a serialised ``nasbench.ModelMetrics`` (unknown fields are skipped, as protobuf does).

    Raises:
        ProtobufDecodeError: malformed wire format or a known field with the wrong wire type.
    """
    buf = bytes(data)
    evaluations = []
    params = total = None
    for field, wire, start, vpos, stop in _fields(buf, 0, len(buf)):
        if field == 1:
            _expect(field, wire, _LEN, "EvaluationData", start)
            evaluations.append(_decode_evaluation(buf, vpos, stop))
        elif field == 2:
            _expect(field, wire, _VARINT, "int32", start)
            params = _int32(_read_varint(buf, vpos, stop)[0], vpos)
        elif field == 3:
            _expect(field, wire, _FIXED64, "double", start)
            total = _DOUBLE.unpack_from(buf, vpos)[0]
    return ModelMetrics(tuple(evaluations), params, total)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_model_metrics(metrics: ModelMetrics) -> bytes:
    """Serialise ``metrics`` (fields in number order, ``None`` fields omitted), as protobuf would."""
    parts = []
    for ev in metrics.evaluation_data:
        body = b"".join(
            bytes([(k << 3) | _FIXED64]) + _DOUBLE.pack(v)
            for k, name in enumerate(_EVAL_DOUBLES, start=1)
            if (v := getattr(ev, name)) is not None
        )
        if ev.checkpoint_path is not None:
            text = ev.checkpoint_path.encode("utf-8")
            body += bytes([(6 << 3) | _LEN]) + _varint_bytes(len(text)) + text
        parts.append(bytes([(1 << 3) | _LEN]) + _varint_bytes(len(body)) + body)
    if metrics.trainable_parameters is not None:
        p = int(metrics.trainable_parameters)
        if not -(1 << 31) <= p < 1 << 31:
            raise ValueError(f"trainable_parameters {p} does not fit an int32")
        parts.append(bytes([(2 << 3) | _VARINT]) + _varint_bytes(p % (1 << 64)))
    if metrics.total_time is not None:
        parts.append(bytes([(3 << 3) | _FIXED64]) + _DOUBLE.pack(metrics.total_time))
    return b"".join(parts)


#: Columns of :func:`_final_metrics`: what the loader keeps of each run.
_FINAL_COLUMNS = (
    "trainable_parameters", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy",
)


def _final_of(metrics: ModelMetrics) -> list[float]:
    if not metrics.evaluation_data:
        raise ProtobufDecodeError("ModelMetrics has no evaluation_data")
    last = metrics.evaluation_data[-1]
    values = [metrics.trainable_parameters, last.training_time, last.train_accuracy,
              last.validation_accuracy, last.test_accuracy]
    return [np.nan if v is None else float(v) for v in values]


@dataclass(frozen=True)
class _Layout:
    """Where one message's values sit, so same-shaped messages can be read by numpy at once.

    Two messages of equal length whose keys and length prefixes (``fixed``) are byte-identical,
    and whose ``trainable_parameters`` varint has the same continuation bits, decode through the
    same path of :func:`decode_model_metrics`: their values sit at the same offsets. (Only the
    template message's ``checkpoint_path`` is checked to be UTF-8; the loader does not use it.)
    """

    fixed: np.ndarray  # byte positions that must match exactly
    varint: np.ndarray  # positions of the trainable_parameters varint (continuation bits must match)
    doubles: dict[str, int]  # final-evaluation field -> offset of its 8 bytes
    has_params: bool

    @classmethod
    def of(cls, buf: bytes) -> "_Layout":
        fixed: list[int] = []
        varint: list[int] = []
        evaluations: list[dict[str, int]] = []
        for field, wire, start, vpos, stop in _fields(buf, 0, len(buf)):
            fixed.extend(range(start, vpos))
            if field == 1 and wire == _LEN:
                doubles: dict[str, int] = {}
                for f2, w2, s2, v2, e2 in _fields(buf, vpos, stop):
                    fixed.extend(range(s2, v2))
                    if 1 <= f2 <= 5 and w2 == _FIXED64:
                        doubles[_EVAL_DOUBLES[f2 - 1]] = v2
                    elif w2 == _VARINT or not (f2 == 6 and w2 == _LEN):
                        fixed.extend(range(v2, e2))  # unknown or odd fields: match them whole
                evaluations.append(doubles)
            elif field == 2 and wire == _VARINT:
                fixed.extend(varint)  # the last occurrence wins, as in protobuf: pin earlier ones
                varint = list(range(vpos, stop))
            elif not (field == 3 and wire == _FIXED64):
                fixed.extend(range(vpos, stop))
        decode_model_metrics(buf)  # wire-type errors and the like: raise them here
        if not evaluations:
            raise ProtobufDecodeError("ModelMetrics has no evaluation_data")
        return cls(np.array(fixed, dtype=np.int64), np.array(varint, dtype=np.int64), evaluations[-1],
                   bool(varint))

    def extract(self, block: np.ndarray) -> np.ndarray:
        """(G, 5) values (see :data:`_FINAL_COLUMNS`) of the rows of ``block`` (G, L) uint8."""
        out = np.full((block.shape[0], len(_FINAL_COLUMNS)), np.nan)
        if self.has_params:
            value = np.zeros(block.shape[0], dtype=np.uint64)
            for k, pos in enumerate(self.varint):
                value |= (block[:, pos] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
            params = value.view(np.int64)
            if ((params < -(1 << 31)) | (params >= 1 << 31)).any():
                raise ProtobufDecodeError("trainable_parameters does not fit an int32")
            out[:, 0] = params
        for col, name in enumerate(_FINAL_COLUMNS[1:], start=1):
            if name in self.doubles:
                pos = self.doubles[name]
                out[:, col] = np.ascontiguousarray(block[:, pos : pos + 8]).view("<f8").ravel()
        return out

    def matches(self, block: np.ndarray) -> np.ndarray:
        ok = (block[:, self.fixed] == block[0, self.fixed]).all(axis=1)
        if self.varint.size:
            cont = block[:, self.varint] & 0x80
            ok &= (cont == cont[0]).all(axis=1)
        return ok


def _final_metrics(messages: Sequence[bytes]) -> np.ndarray:
    """(N, 5) final-evaluation values of serialised ModelMetrics (NaN where a field is absent).

    NB101's messages come in a handful of shapes; each shape is decoded once by
    :func:`decode_model_metrics` and all messages of that shape are read by numpy, ~20x faster
    than decoding every message in Python.
    """
    n = len(messages)
    out = np.full((n, len(_FINAL_COLUMNS)), np.nan)
    lengths = np.fromiter(map(len, messages), dtype=np.int64, count=n)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        blob = b"".join([messages[int(i)] for i in rows])
        block = np.frombuffer(blob, dtype=np.uint8).reshape(rows.size, int(length))
        pending = np.arange(rows.size)
        while pending.size:
            if pending.size < 4:  # stragglers: a layout would not pay off
                for p in pending:
                    out[rows[p]] = _final_of(decode_model_metrics(messages[rows[p]]))
                break
            layout = _Layout.of(messages[rows[pending[0]]])
            sub = block[pending]
            ok = layout.matches(sub)
            out[rows[pending[ok]]] = layout.extract(sub[ok])
            pending = pending[~ok]
    return out
