"""``python -m nas_assets.train`` refuses impossible settings before anything is read, trained or
written, and reuses an existing result only when it measured the same configuration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nas_assets.train.cli import main
from tests.unprivileged import call_unprivileged, shared_dir

from .test_training import ARCH, SMALL, SPEC, train_cli


def run_main(capsys, data: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    try:
        code = main(["--arch", ARCH, "--data", str(data), "--out", str(out), *SMALL, *extra])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("args", "message"), [
    (["--lr", "nan"], "--lr nan: expected a finite number > 0"),
    (["--lr", "-0.1"], "--lr -0.1: expected a finite number > 0"),
    (["--lr", "inf"], "--lr inf: expected a finite number > 0"),
    (["--num-stacks", "0"], "--num-stacks 0: expected an integer >= 1"),
    (["--stem-channels", "0"], "--stem-channels 0: expected an integer >= 1"),
    (["--stem-channels", "-5"], "--stem-channels -5: expected an integer >= 1"),
    (["--cells-per-stack", "0"], "--cells-per-stack 0: expected an integer >= 1"),
    (["--batch-size", "0"], "--batch-size 0: expected an integer >= 1"),
    (["--seed", "-1"], "--seed -1: expected an integer >= 0"),
    (["--devices", "0"], "--devices 0: expected an integer >= 1"),
    (["--num-nodes", "0"], "--num-nodes 0: expected an integer >= 1"),
    (["--progress-every", "0"], "--progress-every 0.0: expected a number of seconds > 0"),
    (["--epochs", "abc"], "argument --epochs: 'abc': expected comma-separated whole numbers >= 1"),
    (["--epochs", "0,4"], "argument --epochs: '0,4': expected comma-separated whole numbers >= 1"),
    (["--accelerator", "tpu"], "argument --accelerator: invalid choice: 'tpu'"),
])
def test_impossible_settings_fail_up_front_in_one_line(capsys, so2sat_dir, tmp_path, args, message):
    code, out, err = run_main(capsys, so2sat_dir, tmp_path / "runs", *args)
    assert code == 2 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()[-1]) < 200
    assert not (tmp_path / "runs").exists()  # nothing written


def test_gpu_without_a_gpu_fails_up_front(capsys, so2sat_dir, tmp_path):
    import torch

    code, _, err = run_main(capsys, so2sat_dir, tmp_path / "runs", "--accelerator", "gpu", "--devices", "64")
    assert code == 2
    if torch.cuda.is_available():  # the machine decides which message is right; both are checked
        assert "--devices 64 with accelerator 'gpu': only" in err or "GPU(s) visible" in err
    else:
        assert "accelerator 'gpu': no CUDA GPU is visible on this machine; use cpu or auto" in err


def test_missing_data_fails_even_when_a_result_exists(capsys, so2sat_dir, trained, tmp_path):
    code, out, err = run_main(capsys, tmp_path / "nowhere", trained, "--epochs", "1", "--protocol",
                              "snapshot")
    assert code == 2 and "nowhere: not a directory; expected a So2Sat LCZ42 data directory" in err
    assert "nothing to do" not in out


def test_out_below_a_file_fails_before_training(capsys, so2sat_dir, tmp_path):
    (tmp_path / "file").write_text("")
    code, _, err = run_main(capsys, so2sat_dir, tmp_path / "file" / "runs")
    assert code == 2 and f"--out {tmp_path / 'file' / 'runs'}: cannot write result files there (" in err
    assert "choose a writable directory" in err


def test_read_only_out_fails_before_training(so2sat_dir):
    with shared_dir() as root:  # so2sat_dir sits under pytest's 0700 root: nobody reads a copy
        data = Path(shutil.copytree(so2sat_dir, root / "data"))
        out = root / "runs"
        out.mkdir()
        out.chmod(0o555)

        def attempt() -> str:
            import contextlib
            import io

            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["--arch", ARCH, "--data", str(data), "--out", str(out), *SMALL])
            return f"{code} {err.getvalue()}"

        text = call_unprivileged(attempt)
        assert not list(out.iterdir())
    assert text.startswith("returned: 2 "), text
    assert (f"--out {out}: cannot write result files there (Permission denied); "
            "choose a writable directory" in text)


# -- reuse of an existing result -------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(so2sat_dir, tmp_path_factory) -> Path:
    """A runs directory holding one real result (1 epoch, snapshot, the tiny network)."""
    out = tmp_path_factory.mktemp("trained") / "runs"
    done = train_cli(so2sat_dir, out, "--epochs", "1", "--protocol", "snapshot",
                     "--cache-dir", str(out.parent / "cache"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


SAME = ["--epochs", "1", "--protocol", "snapshot"]


@pytest.mark.parametrize("placement",
                         [[], ["--devices", "2"], ["--accelerator", "cpu"], ["--precision", "bf16-mixed"]])
def test_same_configuration_is_reused_whatever_the_placement(capsys, so2sat_dir, trained, placement):
    code, out, err = run_main(capsys, so2sat_dir, trained, *SAME, *placement)
    assert code == 0, err
    assert "exists with the same configuration; nothing to do (accelerator and devices do not change" in out


@pytest.mark.parametrize(("args", "difference"), [
    (["--epochs", "1,2", "--protocol", "snapshot"], "--epochs: recorded [1], requested [1, 2]"),
    ([*SAME, "--lr", "0.2"], "--lr: recorded 0.1, requested 0.2"),
    ([*SAME, "--stem-channels", "16"], "--stem-channels: recorded 8, requested 16"),
    (["--epochs", "1"], "--protocol: recorded 'snapshot', requested 'nb101'"),
    ([*SAME, "--seed", "3"], "--seed: recorded 0, requested 3"),
    ([*SAME, "--sensor", "s2"], "--sensor: recorded 'fusion', requested 's2'"),
])
def test_another_configuration_is_refused_naming_the_difference(capsys, so2sat_dir, trained, args,
                                                                difference):
    before = (trained / f"{SPEC.arch_hash}.json").read_bytes()
    code, out, err = run_main(capsys, so2sat_dir, trained, *args)
    assert code == 2 and "nothing to do" not in out
    assert f"{trained / SPEC.arch_hash}.json: holds a result of another configuration (" in err
    assert difference in err and "To keep both, pass another --out; to replace it, pass --force" in err
    assert (trained / f"{SPEC.arch_hash}.json").read_bytes() == before


def test_other_data_is_another_configuration(capsys, so2sat_dir, trained, tmp_path):
    other = Path(shutil.copytree(so2sat_dir, tmp_path / "other"))
    code, _, err = run_main(capsys, other, trained, *SAME)
    assert code == 2 and f"--data: recorded '{so2sat_dir}', requested '{other}'" in err


def test_unreadable_result_is_an_error_not_a_reuse(capsys, so2sat_dir, trained, tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    whole = (trained / f"{SPEC.arch_hash}.json").read_text()
    (out / f"{SPEC.arch_hash}.json").write_text(whole[: len(whole) // 2])
    code, stdout, err = run_main(capsys, so2sat_dir, out, *SAME)
    assert code == 2 and "nothing to do" not in stdout
    assert f"{out / SPEC.arch_hash}.json: exists but cannot be read (" in err
    assert "pass --force to train again and replace it" in err
    json.loads(whole)  # the original is intact
