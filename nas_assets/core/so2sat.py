"""So2Sat LCZ42 constants as published: classes, bands, file layout, v2 statistics and counts.

Pure numpy so that the core stays free of torch; the reader, cache and loader in
``nas_assets.train.data`` and anything reporting per-class metrics import from here. Arrays are
read-only so a caller cannot change a constant for everyone else by accident.
"""

from __future__ import annotations

import numpy as np


def _frozen(values: list[float] | list[int], dtype: type) -> np.ndarray:
    array: np.ndarray = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


#: Local Climate Zone names in label order: class index i = argmax of a label row.
CLASS_NAMES: tuple[str, ...] = (
    "compact high-rise",  # LCZ 1
    "compact mid-rise",  # LCZ 2
    "compact low-rise",  # LCZ 3
    "open high-rise",  # LCZ 4
    "open mid-rise",  # LCZ 5
    "open low-rise",  # LCZ 6
    "lightweight low-rise",  # LCZ 7
    "large low-rise",  # LCZ 8
    "sparsely built",  # LCZ 9
    "heavy industry",  # LCZ 10
    "dense trees",  # LCZ A
    "scattered trees",  # LCZ B
    "bush, scrub",  # LCZ C
    "low plants",  # LCZ D
    "bare rock or paved",  # LCZ E
    "bare soil or sand",  # LCZ F
    "water",  # LCZ G
)
#: Short LCZ codes, same order as :data:`CLASS_NAMES`.
CLASS_CODES: tuple[str, ...] = tuple(str(i) for i in range(1, 11)) + tuple("ABCDEFG")
N_CLASSES = len(CLASS_NAMES)
#: Validation metrics a results table records per budget (budget_metrics columns), the ones
#: surrogates, queries and footprints may use as fitness.
VALIDATION_METRICS: tuple[str, ...] = ("val_macro_accuracy", "val_overall_accuracy", "val_kappa")

#: Sentinel-1 channels of ``sen1`` (last axis), in file order.
S1_BANDS: tuple[str, ...] = (
    "VH real",
    "VH imag",
    "VV real",
    "VV imag",
    "Lee VH intensity",
    "Lee VV intensity",
    "Lee covariance real",
    "Lee covariance imag",
)
#: Sentinel-2 bands of ``sen2`` (last axis), reflectance / 10,000.
S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
#: Channels per sensor choice; ``fusion`` stacks S1 then S2.
SENSORS: dict[str, int] = {"s1": len(S1_BANDS), "s2": len(S2_BANDS), "fusion": len(S1_BANDS) + len(S2_BANDS)}
#: Band names per sensor choice, in channel order.
SENSOR_BANDS: dict[str, tuple[str, ...]] = {"s1": S1_BANDS, "s2": S2_BANDS, "fusion": S1_BANDS + S2_BANDS}

#: HDF5 layout: dataset names at the file root and the patch size (channels last).
SEN1 = "sen1"
SEN2 = "sen2"
LABEL = "label"
DATASETS: tuple[str, ...] = (SEN1, SEN2, LABEL)
PATCH = 32
#: Trailing shape of each dataset (the leading axis is the sample count N).
DATASET_SHAPES: dict[str, tuple[int, ...]] = {
    SEN1: (PATCH, PATCH, len(S1_BANDS)),
    SEN2: (PATCH, PATCH, len(S2_BANDS)),
    LABEL: (N_CLASSES,),
}

#: Split names (also the file stems: ``training.h5`` ...), in canonical order.
SPLITS: tuple[str, ...] = ("training", "validation", "testing")
#: So2Sat v3 root: one sub-directory per split strategy, each holding training.h5 + testing.h5.
V3_VARIANTS: tuple[str, ...] = ("random", "block", "culture_10")
#: Samples per split of the v2 release.
V2_SPLIT_SIZES: dict[str, int] = {"training": 352_366, "validation": 24_119, "testing": 24_188}

#: v2 per-class sample counts (So2Sat LCZ42 as published); the sums equal :data:`V2_SPLIT_SIZES`.
TRAIN_CLASS_COUNTS = _frozen(
    [5068, 24431, 31693, 8651, 16493, 35290, 3269, 39326, 13584, 11954, 42902, 9514, 9165, 41377, 2392,
     7898, 49359],
    np.int64,
)
VAL_CLASS_COUNTS = _frozen(
    [256, 1254, 2353, 849, 757, 1906, 474, 3395, 1914, 860, 2287, 382, 1202, 2747, 202, 672, 2609],
    np.int64,
)

#: v2 per-band means / stds of the *raw* values, S1 (8) then S2 (10) (So2Sat LCZ42 as published).
BAND_MEANS = _frozen(
    [-3.591e-05, -7.659e-06, 5.937e-05, 2.517e-05, 0.044201, 0.257610, 7.557e-04, 1.350e-03,
     0.123757, 0.109277, 0.101086, 0.114240, 0.159266, 0.181472, 0.174574, 0.195016, 0.154285, 0.109051],
    np.float64,
)
BAND_STDS = _frozen(
    [0.175552, 0.175565, 0.459988, 0.455989, 2.855991, 8.324801, 2.449876, 1.464735,
     0.039588, 0.047778, 0.066366, 0.063589, 0.077444, 0.091016, 0.092185, 0.101646, 0.099918, 0.087806],
    np.float64,
)


def sensor_channels(sensor: str) -> slice:
    """Which of the 18 fusion channels (S1 then S2) a sensor choice uses.

    Args:
        sensor: ``"s1"``, ``"s2"`` or ``"fusion"``.

    Returns:
        A slice into fusion-ordered per-band arrays such as :data:`BAND_MEANS`.

    Raises:
        ValueError: for an unknown sensor name.
    """
    n1 = len(S1_BANDS)
    slices = {"s1": slice(0, n1), "s2": slice(n1, n1 + len(S2_BANDS)), "fusion": slice(0, n1 + len(S2_BANDS))}
    if sensor not in slices:
        raise ValueError(f"unknown sensor {sensor!r}; expected one of {', '.join(SENSORS)}")
    return slices[sensor]
