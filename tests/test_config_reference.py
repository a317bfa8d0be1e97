"""docs/configuration.md's field tables are what the config classes say (tools/config_reference.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "config_reference.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_a_changed_default_makes_it_stale(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import config_reference
    finally:
        sys.path.remove(str(ROOT / "tools"))
    doc = tmp_path / "configuration.md"
    text = config_reference.DOC.read_text()
    doc.write_text(text.replace("| `lock_timeout_s` | `30.0` |", "| `lock_timeout_s` | `31.0` |"))
    monkeypatch.setattr(config_reference, "DOC", doc)
    assert config_reference.main(["--check"]) == 1
    assert config_reference.main([]) == 0 and doc.read_text() == text
