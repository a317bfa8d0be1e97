"""``python -m nas_assets``: the space without Dagster."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from nas_assets.core.cells.space import CUMULATIVE_UNIQUE_COUNTS


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas_assets", *args], capture_output=True, text=True,
                          timeout=300)


def test_help_lists_subcommands_with_examples():
    out = run("--help")
    assert out.returncode == 0 and "space" in out.stdout and "examples:" in out.stdout
    out = run("space", "--help")
    assert "export" in out.stdout and "hash" in out.stdout


def test_space_export_writes_parquet(tmp_path):
    target = tmp_path / "sub" / "space5.parquet"
    out = run("space", "export", "--out", str(target), "--max-vertices", "5", "--workers", "1")
    assert out.returncode == 0, out.stderr
    frame = pd.read_parquet(target)
    assert len(frame) == CUMULATIVE_UNIQUE_COUNTS[5]
    assert {"arch_hash", "matrix", "ops", "n_vertices", "n_edges", "params", "flops"} <= set(frame.columns)
    assert frame["arch_hash"].is_unique
    assert not list(target.parent.glob(".*.tmp"))


def test_space_export_rejects_other_suffix(tmp_path):
    out = run("space", "export", "--out", str(tmp_path / "space.csv"))
    assert out.returncode == 2 and "expected a .parquet file name" in out.stderr


def test_space_hash_prints_and_rejects():
    ok = run("space", "hash", "--matrix", "011001000", "--ops", "input,conv3x3-bn-relu,output",
             "--in-channels", "3", "--num-classes", "10")
    assert ok.returncode == 0, ok.stderr
    assert "hash     " in ok.stdout and "params   " in ok.stdout
    bad = run("space", "hash", "--matrix", "010000000", "--ops", "input,conv3x3-bn-relu,output")
    assert bad.returncode == 2 and "input is not connected to output" in bad.stderr


def test_query_and_top_commands(tmp_path):
    missing = run("top", "--db", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 2 and "no such store" in missing.stderr
    bad = run("query", "--matrix", "011001000", "--ops", "input,conv9,output", "--db",
              str(tmp_path / "none.duckdb"))
    assert bad.returncode == 2 and "unknown op 'conv9'" in bad.stderr


def test_space_hash_refuses_impossible_shapes():
    for option, value in (("--stem-channels", "-5"), ("--in-channels", "0"), ("--num-classes", "0")):
        out = run("space", "hash", "--matrix", "011001000", "--ops", "input,conv3x3-bn-relu,output", option,
                  value)
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr == f"error: {option} {value}: expected an integer >= 1\n"
    out = run("space", "export", "--out", "space.parquet", "--in-channels", "0")  # before the enumeration
    assert out.returncode == 2 and out.stderr == "error: --in-channels 0: expected an integer >= 1\n"


def test_top_validates_k_and_says_what_is_missing(tmp_path):
    from nas_assets.core import store
    from nas_assets.core.cells.cost import SO2SAT_SHAPE
    from nas_assets.core.cells.encoding import fla_neighbour_index
    from nas_assets.core.cells.enumeration import enumerate_space
    from nas_assets.core.cells.table import architecture_frame

    space = enumerate_space(max_vertices=3, workers=1)
    db = tmp_path / "nas.duckdb"
    with store.connect(db) as conn:  # the space, nothing trained or predicted yet
        store.write_architectures(conn, architecture_frame(space, SO2SAT_SHAPE, fla_neighbour_index(space)))
    for k in ("-5", "0", "abc"):
        out = run("top", "--k", k, "--db", str(db))
        assert out.returncode == 2 and f"argument --k: '{k}': expected a whole number >= 1" in out.stderr
    out = run("top", "--budget", "4", "--db", str(db))
    assert out.returncode == 2 and "Empty DataFrame" not in out.stdout
    assert out.stderr == (f"error: {db}: no trained values and no surrogate predictions of "
                          "val_macro_accuracy at budget 4 yet; materialize trained_architecture partitions, "
                          "or surrogate_model and surrogate_predictions\n")
    out = run("top", "--budget", "4", "--source", "surrogate", "--db", str(db))
    assert out.returncode == 2 and ("no surrogate predictions of val_macro_accuracy at budget 4 yet; "
                                    "materialize surrogate_model (with val_macro_accuracy@4 among its "
                                    "targets) and surrogate_predictions" in out.stderr)


def test_query_and_top_read_the_store_the_environment_names(tmp_path):
    """Without --db, the CLI opens the same store as the Dagster definitions: NAS_ASSETS_DB, else
    NAS_ASSETS_DATA_DIR/nas_assets.duckdb."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("NAS_ASSETS_DB", "NAS_ASSETS_DATA_DIR")}

    def top(**extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nas_assets", "top"], capture_output=True, text=True,
                              timeout=300, env={**env, **extra}, cwd=tmp_path)

    named = tmp_path / "elsewhere" / "mine.duckdb"
    assert f"{named}: no such store" in top(NAS_ASSETS_DB=str(named)).stderr
    assert (f"{tmp_path / 'dd' / 'nas_assets.duckdb'}: no such store"
            in top(NAS_ASSETS_DATA_DIR=str(tmp_path / "dd")).stderr)
    assert f"{tmp_path / 'data' / 'nas_assets.duckdb'}: no such store" in top().stderr
