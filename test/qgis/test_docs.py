"""The per-algorithm documentation is generated from the algorithms' own help and must not drift from it."""

from __future__ import annotations

import os
import subprocess

import pytest
from support import ROOT

pytestmark = pytest.mark.qgis


def test_algorithm_pages_are_up_to_date(tmp_path):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"),
        PATH="/usr/bin:/bin:" + os.environ.get("PATH", ""),
    )
    subprocess.run(
        ["/usr/bin/python3", str(ROOT / "scripts" / "make_docs.py"), str(tmp_path / "docs")],
        env=env,
        check=True,
        capture_output=True,
    )
    committed = ROOT / "docs" / "algorithms"
    generated = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert generated == sorted(p.name for p in committed.iterdir())
    assert len(generated) == 16  # 15 algorithms + index
    stale = [n for n in generated if (tmp_path / "docs" / n).read_text() != (committed / n).read_text()]
    assert stale == [], f"regenerate with: /usr/bin/python3 scripts/make_docs.py ({', '.join(stale)})"
    for name in generated:
        if name != "README.md":
            text = (committed / name).read_text()
            assert "## Parameters" in text and "## Outputs" in text and "Reference" in text, name
