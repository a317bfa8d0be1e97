"""The README's test command on a machine that cannot install what some tests need: the rest
runs, and the last lines say what was skipped and the one command that adds it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_without_chromium_slurm_or_apt_the_last_lines_name_the_skips_and_the_fix(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with a shell and nothing else: no chromium, sbatch or apt-get
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NAS_ASSETS_REQUIRE")},
           "PATH": str(bin_dir), "PYTHON": sys.executable}
    proc = subprocess.run([str(bin_dir / "bash"), "tools/run_tests.sh", "tests/core/test_files.py", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-4:]
    assert last == [
        "make test: skipped, because this machine lacks what they need:",
        "  - the UI browser tests (tests/ui): Debian's chromium is not installed",
        "  - the SLURM tests (tests/slurm): the SLURM packages are not installed",
        "  add them: sudo make test   (as root with apt-get it installs chromium and SLURM, then "
        "runs everything)",
    ]
    assert " passed" in proc.stdout
