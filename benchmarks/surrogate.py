"""Benchmark of the XGBoost surrogate on real NAS-Bench-101 CIFAR-10 data; prints tables.

    python benchmarks/surrogate.py            # all tables (~6 min on 2 busy cores)
    python benchmarks/surrogate.py --quick    # 3 repeats, no nested-tuning row, no full space
    python benchmarks/surrogate.py --tune     # the random search that chose SurrogateConfig's defaults

Data: the first 1,000 cells of the NB101 CIFAR-10 reference shipped with the package (the cells
of NB101's public 1k export; ``nas_assets.core.nb101.shipped``).
Protocol: repeated random 800/200 splits; the reported splits are the children of
``SeedSequence(0)`` (``REPORT_SEED``). The defaults of :class:`SurrogateConfig` were chosen by
``--tune`` on the splits of ``SeedSequence(1)`` (``TUNE_SEED``, disjoint repeats, never the
reported test folds). The "nested" row re-tunes inside each reported training part (4-fold CV
on the 800 points only), so its numbers carry no tuning leak at all.
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

from nas_assets.core.surrogate.model import (  # noqa: E402
    SurrogateConfig,
    evaluate_surrogate,
    fit_surrogate,
    learning_curve,
    specs_from_nb101_columns,
)

#: The benchmark's cells: the first of the shipped 20,001 (NB101's public 1k export).
N_CELLS = 1000
REPORT_SEED = 0
TUNE_SEED = 1
#: NASLib's XGBoost predictor settings (depth 6, eta 0.1, min_child_weight 1, no subsampling,
#: 500 rounds) on raw accuracy with one model: the "plain" literature baseline.
PLAIN = dict(feature_sets=("adjacency",), n_estimators=500, max_depth=6, learning_rate=0.1, subsample=1.0,
             colsample_bytree=1.0, min_child_weight=1.0, reg_lambda=1.0, ensemble_size=1,
             target_transform="none")
#: Small grid for the nested row: around the defaults, both feature families.
NESTED_CANDIDATES = [
    {"feature_sets": fs, "max_depth": d, "colsample_bytree": c}
    for fs in (("adjacency", "cost"), ("fla", "adjacency", "cost"))
    for d in (3, 6)
    for c in (0.6, 1.0)
]


def load_nb101(n: int = N_CELLS) -> tuple[list, dict[int, np.ndarray]]:
    from nas_assets.core.nb101.shipped import load_shipped_raw

    raw = load_shipped_raw().head(n)
    specs = specs_from_nb101_columns([a.tolist() for a in raw["adjacency"]],
                                     [o.tolist() for o in raw["operations"]])
    targets = {e: raw[f"{e}_final_validation_accuracy"].to_numpy(dtype=np.float64) for e in (36, 108)}
    return specs, targets


def fmt(mean: float, std: float, scale: float = 1.0, digits: int = 3) -> str:
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def row(name: str, report: dict) -> dict:
    m, s = report["mean"], report["std"]
    return {
        "config": name,
        "R²": fmt(m["r2"], s["r2"]),
        "τ": fmt(m["kendall_tau"], s["kendall_tau"]),
        "sparse τ": fmt(m["sparse_kendall_tau"], s["sparse_kendall_tau"]),
        "ρ": fmt(m["spearman_rho"], s["spearman_rho"]),
        "RMSE (pp)": fmt(m["rmse"], s["rmse"], 100, 2),
        "fit s": f"{m['fit_seconds']:.2f}",
    }


def quality_tables(specs: list, targets: dict[int, np.ndarray], repeats: int, nested: bool) -> None:
    configs = [
        ("plain: adjacency, NASLib xgb, 1 model", SurrogateConfig(**PLAIN)),
        ("plain + neg-log-error target", SurrogateConfig(**{**PLAIN, "target_transform": "neg_log_error"})),
        ("adjacency (default cfg)", SurrogateConfig(feature_sets=("adjacency",))),
        ("adjacency+cost (default cfg)", SurrogateConfig(feature_sets=("adjacency", "cost"))),
        ("fla (default cfg)", SurrogateConfig(feature_sets=("fla",))),
        ("fla+adjacency+cost = default", SurrogateConfig()),
        ("default, 1 model", SurrogateConfig(ensemble_size=1)),
        ("default, raw target", SurrogateConfig(target_transform="none")),
        ("default, bootstrap members", SurrogateConfig(bootstrap=True)),
    ]
    for epochs in (108, 36):
        rows = []
        for name, cfg in configs:
            rep = evaluate_surrogate(specs, targets[epochs], n_repeats=repeats, train_fraction=0.8,
                                     seed=REPORT_SEED, config=cfg)
            rows.append(row(name, rep))
            if name.endswith("= default"):
                default_rep = rep
            print(f"  [{epochs} epochs] {name}: τ {rep['mean']['kendall_tau']:.3f}",
                  file=sys.stderr, flush=True)
        if nested:
            rep = evaluate_surrogate(specs, targets[epochs], n_repeats=repeats, train_fraction=0.8,
                                     seed=REPORT_SEED, config=SurrogateConfig(),
                                     tune_candidates=NESTED_CANDIDATES)
            rows.append(row(f"tuned ensemble (nested 4-fold CV, {len(NESTED_CANDIDATES)} cands)", rep))
            chosen = pd.Series([r["chosen"] for r in rep["per_split"]]).value_counts().to_dict()
            print(f"  nested: candidates chosen per split {chosen}", file=sys.stderr)
        print(f"\n## NB101 CIFAR-10, {epochs}-epoch validation accuracy: {repeats} random 800/200 splits "
              f"(seed {REPORT_SEED}), mean ± std over splits\n")
        print(_table(pd.DataFrame(rows)))
        # R² and RMSE swing with the few diverged runs (NB101 has cells at 10 % and 51 %): say so
        y = targets[epochs]
        low = np.flatnonzero(y < 0.6)
        held = np.array([not np.isin(low, _train_rows(r)).all() for r in range(repeats)])
        r2 = np.array([s["r2"] for s in default_rep["per_split"]])
        parts = [f"mean {r2[mask].mean():.3f} on the {mask.sum()} folds {what}"
                 for mask, what in ((held, "holding one out"), (~held, "without")) if mask.any()]
        print(f"\nR²/RMSE note: {low.size} architectures score < 60 % at {epochs} epochs. "
              f"Default config R²: median {np.median(r2):.3f}; " + "; ".join(parts) + ".")


def _train_rows(repeat: int, n: int = 1000) -> np.ndarray:
    """Training indices of reported split ``repeat`` (as evaluate_surrogate draws them)."""
    from nas_assets.core.surrogate.metrics import random_splits

    return list(random_splits(n, int(round(0.8 * n)), repeat + 1, REPORT_SEED))[repeat][2]


def curve_table(specs: list, y: np.ndarray, repeats: int) -> None:
    frame = learning_curve(specs, y, [100, 200, 400, 800], n_repeats=repeats, test_size=200, seed=REPORT_SEED)
    out = pd.DataFrame({
        "n_train": frame["n_train"],
        "R²": [fmt(a, b) for a, b in zip(frame["r2_mean"], frame["r2_std"])],
        "τ": [fmt(a, b) for a, b in zip(frame["kendall_tau_mean"], frame["kendall_tau_std"])],
        "sparse τ": [fmt(a, b) for a, b in zip(frame["sparse_kendall_tau_mean"],
                                                frame["sparse_kendall_tau_std"])],
        "ρ": [fmt(a, b) for a, b in zip(frame["spearman_rho_mean"], frame["spearman_rho_std"])],
        "RMSE (pp)": [fmt(a, b, 100, 2) for a, b in zip(frame["rmse_mean"], frame["rmse_std"])],
        "fit s": [f"{v:.2f}" for v in frame["fit_seconds_mean"]],
    })
    print(f"\n## Learning curve (default config, 108 epochs): fixed 200-point test set per repeat, "
          f"{repeats} repeats\n")
    print(_table(out))


def predict_all(specs: list, y: np.ndarray) -> None:
    from nas_assets.core.cells.enumeration import enumerate_space

    t0 = time.perf_counter()
    space = enumerate_space()
    t_enum = time.perf_counter() - t0
    print(f"\n## Whole space ({len(space):,} cells; enumeration {t_enum:.1f} s, not counted)\n")
    for name, cfg in [("default (fla+adjacency+cost)", SurrogateConfig()),
                      ("adjacency+cost", SurrogateConfig(feature_sets=("adjacency", "cost")))]:
        model = fit_surrogate(specs, y, config=cfg)
        model.predict_arrays(space.matrices[:1000], space.labels[:1000], space.n_vertices[:1000])  # warm-up
        t0 = time.perf_counter()
        mean, std = model.predict_arrays(space.matrices, space.labels, space.n_vertices)
        seconds = time.perf_counter() - t0
        best = int(np.argmax(mean))
        print(f"- {name}: featurize + predict {len(space):,} cells x {cfg.ensemble_size} members in "
              f"{seconds:.1f} s (nthread={cfg.nthread}); predicted best {space.hashes[best]} "
              f"{mean[best]:.4f} ± {std[best]:.4f}; mean ensemble std {std.mean():.4f}")


def tune(specs: list, y: np.ndarray, n_candidates: int, repeats: int, top: int = 6) -> None:
    """Random search over SurrogateConfig, scored by mean τ on the TUNE_SEED splits only."""
    rng = np.random.default_rng(TUNE_SEED)
    space = {
        "feature_sets": [("adjacency", "cost"), ("fla", "adjacency", "cost"), ("fla", "cost")],
        "max_depth": [3, 4, 5, 6, 8],
        "learning_rate": [0.01, 0.02, 0.03, 0.05, 0.1],
        "n_estimators": [200, 400, 600, 800, 1000],
        "subsample": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        "colsample_bytree": [0.3, 0.4, 0.5, 0.6, 0.8, 1.0],
        "min_child_weight": [1.0, 2.0, 3.0, 5.0, 8.0],
        "reg_lambda": [0.1, 1.0, 3.0, 10.0],
        "target_transform": ["neg_log_error", "none"],
    }
    rows = []
    for i in range(n_candidates):
        cand = {k: v[rng.integers(len(v))] for k, v in space.items()}
        if i == 0:
            cand = {k: getattr(SurrogateConfig(), k) for k in space}  # the incumbent, for reference
        rep = evaluate_surrogate(specs, y, n_repeats=repeats, train_fraction=0.8, seed=TUNE_SEED,
                                 ensemble_size=1, **cand)
        rows.append({**cand, "feature_sets": "+".join(cand["feature_sets"]),
                     "tau": rep["mean"]["kendall_tau"], "tau_std": rep["std"]["kendall_tau"],
                     "sparse_tau": rep["mean"]["sparse_kendall_tau"], "r2": rep["mean"]["r2"],
                     "fit_s": rep["mean"]["fit_seconds"]})
        print(f"  {i:3d} τ {rows[-1]['tau']:.4f} {cand}", file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows).sort_values("tau", ascending=False)
    print(f"\n## Stage 1: {n_candidates} random candidates (row 0 = current defaults), single models, "
          f"{repeats} random 800/200 splits of seed {TUNE_SEED} "
          f"(disjoint from the reported seed {REPORT_SEED})\n")
    print(frame.head(15).round(4).to_string(index=False))
    # Stage 2: the top few as the deployed 5-member ensembles on twice as many tuning splits, since
    # stage-1 differences of ~0.01 are within one standard error
    finals = []
    for _, r in frame.head(top).iterrows():
        cand = {k: r[k] for k in space if k != "feature_sets"}
        cand["feature_sets"] = tuple(r["feature_sets"].split("+"))
        cand = {k: (v.item() if hasattr(v, "item") else v) for k, v in cand.items()}
        rep = evaluate_surrogate(specs, y, n_repeats=2 * repeats, train_fraction=0.8, seed=TUNE_SEED, **cand)
        finals.append({**cand, "feature_sets": r["feature_sets"], "tau": rep["mean"]["kendall_tau"],
                       "tau_std": rep["std"]["kendall_tau"], "sparse_tau": rep["mean"]["sparse_kendall_tau"],
                       "r2": rep["mean"]["r2"], "fit_s": rep["mean"]["fit_seconds"]})
        print(f"  stage 2 τ {finals[-1]['tau']:.4f} {cand}", file=sys.stderr, flush=True)
    print(f"\n## Stage 2: top {top} as 5-member ensembles, {2 * repeats} splits of seed {TUNE_SEED}\n")
    print(pd.DataFrame(finals).sort_values("tau", ascending=False).round(4).to_string(index=False))


def _table(frame: pd.DataFrame) -> str:
    """Markdown when ``tabulate`` is installed (pandas needs it), plain text otherwise."""
    try:
        return frame.to_markdown(index=False)
    except ImportError:
        return frame.to_string(index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="3 repeats, no nested row, no whole-space timing")
    parser.add_argument("--tune", action="store_true", help="run the hyper-parameter random search instead")
    parser.add_argument("--candidates", type=int, default=40, help="random-search candidates (--tune)")
    parser.add_argument("--repeats", type=int, default=None, help="splits per row (default 10; --quick 3)")
    args = parser.parse_args()
    specs, targets = load_nb101()
    repeats = args.repeats or (3 if args.quick else 10)
    if args.tune:
        tune(specs, targets[108], args.candidates, args.repeats or 5)
        return
    quality_tables(specs, targets, repeats, nested=not args.quick)
    curve_table(specs, targets[108], repeats)
    if not args.quick:
        predict_all(specs, targets[108])


if __name__ == "__main__":
    main()
