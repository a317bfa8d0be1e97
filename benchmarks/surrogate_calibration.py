"""Coverage of the surrogate's std on held-out NB101 cells, raw ensemble spread vs calibrated,
and what the calibration costs in fit time; prints one table.

    python benchmarks/surrogate_calibration.py                 # 108 epochs, 1k/5k/15k train + 20,001 timing
    python benchmarks/surrogate_calibration.py --quick         # the 1k row only (~40 s on 2 busy cores)
    python benchmarks/surrogate_calibration.py --budgets 108 36 12 4 --sizes 1000 --skip-20k
    python benchmarks/surrogate_calibration.py --with-eval     # + calibration from an evaluation's OOF

Data: the shipped NB101 CIFAR-10 sample (20,001 cells, ``nas_assets.core.nb101.shipped``).
Protocol: one seeded permutation; its last 5,000 cells are held out, the first ``n`` of the
rest train. Coverage is the fraction of held-out cells with |measured - mean| <= k std.
"fit s" columns: ``fit_surrogate`` without calibration (``calibration_folds=0``), with its
internal k-fold calibration (default), and -- with ``--with-eval`` -- given the out-of-fold
predictions of a 1 x 5-fold ``evaluate_surrogate`` (what ``fit_target`` does; the evaluation's
own time is listed apart, since the pipeline runs it anyway).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas_assets.core.nb101.reader import normalise_reference  # noqa: E402
from nas_assets.core.nb101.shipped import load_shipped_raw  # noqa: E402
from nas_assets.core.surrogate.model import (  # noqa: E402
    OutOfFold,
    coverage,
    evaluate_surrogate,
    fit_surrogate,
    specs_from_nb101_columns,
)

HELD_OUT = 5_000
SEED = 0


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(budgets: list[int], sizes: list[int], full_timing: bool, with_eval: bool) -> pd.DataFrame:
    raw = load_shipped_raw()
    frame = normalise_reference(raw, source="shipped NB101")
    specs = specs_from_nb101_columns(list(raw["adjacency"]), list(raw["operations"]))
    perm = np.random.default_rng(SEED).permutation(len(raw))
    test, pool = perm[-HELD_OUT:], perm[:-HELD_OUT]
    rows = []
    for budget in budgets:
        y = frame[f"val_accuracy_{budget}"].to_numpy()
        plan = [(pool[:n], True) for n in sizes] + ([(perm, False)] if full_timing else [])
        for train, held_out in plan:
            tr_specs, tr_y = [specs[i] for i in train], y[train]
            _, plain_s = _timed(lambda: fit_surrogate(tr_specs, tr_y, calibration_folds=0))
            model, cal_s = _timed(lambda: fit_surrogate(tr_specs, tr_y))
            row = {"budget": budget, "n_train": len(train), "n_held_out": HELD_OUT if held_out else 0}
            if held_out:
                te_specs, te_y = [specs[i] for i in test], y[test]
                mean, std = model.predict(te_specs)
                _, spread = model.predict(te_specs, calibrated=False)
                r, c = coverage(te_y - mean, spread), coverage(te_y - mean, std)
                # medians in percentage points of accuracy
                row.update({"raw ±1σ": r["1sigma"], "raw ±2σ": r["2sigma"], "cal ±1σ": c["1sigma"],
                            "cal ±2σ": c["2sigma"], "median |err| pp": 100 * np.median(np.abs(te_y - mean)),
                            "median raw σ pp": 100 * np.median(spread),
                            "median cal σ pp": 100 * np.median(std)})
            row.update({"OOF ±2σ (in-sample)": model.calibration.oof_coverage["2sigma"],
                        "fit s (raw)": plain_s, "fit s (calibrated)": cal_s,
                        "folds fitted": model.calibration.source.rsplit("(", 1)[-1].split(" folds")[0]})
            if with_eval:
                report, eval_s = _timed(lambda: evaluate_surrogate(tr_specs, tr_y, n_repeats=1, n_folds=5,
                                                                   seed=SEED))
                oof = OutOfFold(report["oof_predictions"], report["oof_std"], report["protocol"])
                from_oof, oof_s = _timed(lambda: fit_surrogate(tr_specs, tr_y, oof=oof))
                row.update({"eval s (1x5-fold)": eval_s, "fit s (OOF given)": oof_s,
                            "eval ±2σ (cross-fitted)": report["calibration"]["coverage_2sigma"]})
                if held_out:
                    mean, std = from_oof.predict(te_specs)
                    row["OOF-given cal ±2σ"] = coverage(te_y - mean, std)["2sigma"]
            rows.append(row)
            print(f"  budget {budget}, n_train {len(train)}: fit {plain_s:.1f} s raw, "
                  f"{cal_s:.1f} s calibrated",
                  file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="1,000 training cells, 108 epochs, no 20k timing")
    parser.add_argument("--budgets", type=int, nargs="+", default=[108], help="NB101 epoch budgets")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 15001], help="training sizes")
    parser.add_argument("--with-eval", action="store_true", help="also calibrate from an evaluation's OOF")
    parser.add_argument("--skip-20k", action="store_true", help="no timing row on all 20,001 cells")
    args = parser.parse_args()
    sizes = [1000] if args.quick else args.sizes
    table = run([108] if args.quick else args.budgets, sizes, full_timing=not (args.quick or args.skip_20k),
                with_eval=args.with_eval)
    print(f"\n## Surrogate std coverage on {HELD_OUT:,} held-out NB101 CIFAR-10 cells "
          "(shipped 20,001-cell sample; 20,001-row lines: timing only)\n")
    try:
        print(table.to_markdown(index=False, floatfmt=".3g"))
    except ImportError:  # pandas needs tabulate for markdown
        print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
