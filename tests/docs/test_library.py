"""docs/library.md's complete program is examples/embed.py, and it runs as shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embed.py"
DOC = ROOT / "docs" / "library.md"


def test_the_guide_shows_the_example_verbatim() -> None:
    assert "```python\n" + EXAMPLE.read_text() + "```" in DOC.read_text()


def test_the_example_runs_and_prints_what_the_guide_says() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    expected = DOC.read_text().split("Its output:\n\n```\n", 1)[1].split("```", 1)[0]
    assert result.stdout == expected
