"""TFRecord files without TensorFlow: CRC-32C and the record framing."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from nas_assets.core.nb101 import tfrecord as tfr
from nas_assets.core.nb101.errors import ReferenceDataError
from nas_assets.core.nb101.tfrecord import TFRecordError

# ------------------------------------------------------------------------------------ CRC-32C


def test_crc32c_known_vectors():
    assert tfr.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert tfr.crc32c(b"") == 0
    # RFC 3720 (iSCSI) appendix B.4
    assert tfr.crc32c(bytes(32)) == 0x8A9136AA
    assert tfr.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert tfr.crc32c(bytes(range(32))) == 0x46DD794E
    assert tfr.crc32c(b"56789", tfr.crc32c(b"1234")) == 0xE3069283  # continuation
    c = 0xE3069283
    masked = ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert tfr.masked_crc32c(b"123456789") == masked
    assert tfr.masked_crc32c(b"123456789") == 0xC78AB0E5


def test_crc32c_many_matches_scalar_for_all_lengths():
    rng = np.random.default_rng(0)
    lengths = np.concatenate(
        [np.arange(12), rng.integers(0, 3000, 300), rng.integers(380, 420, 100), [20_000]]
    )
    chunks = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in lengths]
    blob = b"".join(chunks)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    got = tfr.crc32c_many(blob, starts, lengths)
    assert got.tolist() == [tfr.crc32c(c) for c in chunks]
    vectors = [b"123456789", bytes(32), b"\xff" * 32, bytes(range(32))] * 4  # >= 8 rows: the numpy path
    blob = b"".join(vectors)
    lengths = [len(v) for v in vectors]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    expected = [0xE3069283, 0x8A9136AA, 0x62A8AB43, 0x46DD794E] * 4
    assert tfr.crc32c_many(blob, starts, lengths).tolist() == expected


# ---------------------------------------------------------------------------------- TFRecord


def _records(n: int = 50, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, int(k), dtype=np.uint8).tobytes() for k in rng.integers(0, 600, n)] + [b""]


def test_tfrecord_round_trip_and_exact_framing(tmp_path):
    path = tmp_path / "data.tfrecord"
    records = _records()
    assert tfr.write_tfrecord(path, records) == len(records)
    assert list(tfr.read_tfrecord(path)) == records
    raw = path.read_bytes()
    # first record by hand: u64 length, masked CRC of those 8 bytes, data, masked CRC of the data
    n = len(records[0])
    assert raw[:8] == struct.pack("<Q", n)
    assert raw[8:12] == struct.pack("<I", tfr.masked_crc32c(raw[:8]))
    assert raw[12 : 12 + n] == records[0]
    assert raw[12 + n : 16 + n] == struct.pack("<I", tfr.masked_crc32c(records[0]))
    assert len(raw) == sum(16 + len(r) for r in records)
    # records straddling read chunks of every phase
    for chunk in (1, 7, 100, 1000):
        got = [r for b in tfr._tfrecord_batches(path, chunk_bytes=chunk) for r in b.records()]
        assert got == records
    empty = tmp_path / "empty.tfrecord"
    tfr.write_tfrecord(empty, [])
    assert list(tfr.read_tfrecord(empty)) == []
    with pytest.raises(TypeError, match="record 0: expected bytes"):
        tfr.write_tfrecord(tmp_path / "bad.tfrecord", ["text"])


def _offsets(records: list[bytes]) -> list[int]:
    return np.concatenate([[0], np.cumsum([16 + len(r) for r in records])[:-1]]).tolist()


def test_flipped_data_byte_names_file_offset_and_crc(tmp_path):
    path = tmp_path / "flip.tfrecord"
    records = _records()
    tfr.write_tfrecord(path, records)
    k = 7
    at = _offsets(records)[k] + 12 + 3  # a byte inside record k's data
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    seen = []
    with pytest.raises(TFRecordError) as err:
        for r in tfr.read_tfrecord(path):
            seen.append(r)
    msg = str(err.value)
    assert str(path) in msg and f"record {k}" in msg and "corrupt record data" in msg
    assert f"byte offset {_offsets(records)[k] + 12}" in msg and "CRC-32C" in msg
    assert seen == records[:k]  # the good records before the fault were delivered
    # without the data check the flip goes unnoticed (the length CRC is still checked)
    assert len(list(tfr.read_tfrecord(path, verify_data=False))) == len(records)


def test_flipped_length_byte_is_caught_before_reading_on(tmp_path):
    path = tmp_path / "len.tfrecord"
    records = _records()
    tfr.write_tfrecord(path, records)
    for k in (0, 5):
        raw = bytearray(path.read_bytes())
        raw[_offsets(records)[k] + 6] ^= 0x40  # a huge bogus length
        bad = tmp_path / f"len{k}.tfrecord"
        bad.write_bytes(bytes(raw))
        expected = rf"corrupt record header at byte offset {_offsets(records)[k]} \(record {k}\)"
        with pytest.raises(TFRecordError, match=expected) as err:
            list(tfr.read_tfrecord(bad))
        assert str(bad) in str(err.value)


def test_truncated_file_names_offset_and_expectation(tmp_path):
    path = tmp_path / "full.tfrecord"
    records = _records()
    tfr.write_tfrecord(path, records)
    raw = path.read_bytes()
    k = 10
    start = _offsets(records)[k]
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(raw[: start + 12 + 5])  # header and 5 data bytes of record k
    with pytest.raises(TFRecordError) as err:
        list(tfr.read_tfrecord(cut))
    msg = str(err.value)
    assert str(cut) in msg and "truncated at byte offset" in msg
    assert f"record {k} at byte offset {start} declares {len(records[k])} data bytes" in msg
    cut.write_bytes(raw[: start + 5])  # inside the header
    with pytest.raises(TFRecordError, match=rf"expected a 12-byte record header .* at byte offset {start}, "
                                            r"found 5 bytes"):
        list(tfr.read_tfrecord(cut))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ReferenceDataError, match="nope.tfrecord: does not exist; expected a TFRecord file"):
        list(tfr.read_tfrecord(tmp_path / "nope.tfrecord"))
