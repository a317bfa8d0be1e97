"""The project installed as a wheel, not from a checkout: the package data it needs (the SLURM job
template, the shipped NB101 CIFAR-10 cells) travel in the wheel, and nothing resolves a path in a
source tree.

The wheel is built from a copy of the project's files and installed with ``pip --target`` into a
fresh virtual environment; that environment reaches the already installed third-party packages
through a ``.pth`` line (installing torch & co. again would take minutes and test pip, not us), so
the only ``nas_assets`` it can import is the wheel's. Every command runs from a directory that is
not the checkout.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "nas_assets", source / "nas_assets", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--disable-pip-version-check", "-q", "-w", str(tmp / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp / "dist").glob("nas_assets-*.whl"))

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c",
                                   "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                                "--disable-pip-version-check", "--target", str(purelib), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    # the third-party packages of the test environment, after the wheel's own files
    (purelib / "zz_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    work = tmp / "elsewhere"
    work.mkdir()
    return python, work


def run(wheel_python: tuple[Path, Path], *args: str) -> subprocess.CompletedProcess:
    python, work = wheel_python
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work)}
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=300, cwd=work,
                          env=env)


def test_the_wheel_is_what_runs(wheel_python):
    out = run(wheel_python, "-c", "import nas_assets; print(nas_assets.__file__)")
    assert out.returncode == 0, out.stderr
    assert str(ROOT) not in out.stdout and "/venv/" in out.stdout


def test_space_hash_from_the_wheel(wheel_python):
    out = run(wheel_python, "-m", "nas_assets", "space", "hash", "--matrix", "011001000",
              "--ops", "input,conv3x3-bn-relu,output", "--in-channels", "3", "--num-classes", "10")
    assert out.returncode == 0, out.stderr
    assert "hash     " in out.stdout and "params   " in out.stdout


def test_slurm_script_renders_from_the_wheel(wheel_python):
    code = textwrap.dedent("""
        from nas_assets.launch.slurm import JobResources, render_script
        print(render_script("nas-abc", ["python", "-m", "nas_assets.train", "--arch", "abc"], "/tmp/job.log",
                            JobResources(time_limit="00:10:00")))
    """)
    out = run(wheel_python, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("#!") and "#SBATCH --job-name=nas-abc" in out.stdout
    assert "python -m nas_assets.train --arch abc" in out.stdout


def test_shipped_reference_reads_from_the_wheel(wheel_python):
    code = "from nas_assets.core.nb101.shipped import load_shipped_raw; print(len(load_shipped_raw()))"
    out = run(wheel_python, "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "20001"
