"""The skills this repository ships in `shared/skills/` load in deepagents and their scripts work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from deepagents.middleware.skills import _parse_skill_metadata, _validate_skill_name

SKILLS_DIR = Path(__file__).resolve().parents[2] / "shared" / "skills"
SKILLS = sorted(p for p in SKILLS_DIR.iterdir() if p.is_dir())
PROFILE_CSV = SKILLS_DIR / "csv-profile" / "profile_csv.py"


def test_the_repository_ships_at_least_one_skill() -> None:
    assert [p.name for p in SKILLS] == ["csv-profile"]


@pytest.mark.parametrize("skill", SKILLS, ids=lambda p: p.name)
def test_shipped_skill_follows_the_spec(skill: Path) -> None:
    text = (skill / "SKILL.md").read_text(encoding="utf-8")
    metadata = _parse_skill_metadata(text, f"/shared/skills/{skill.name}/SKILL.md", skill.name)
    assert metadata is not None, "deepagents would skip this skill"
    assert _validate_skill_name(metadata["name"], skill.name) == (True, "")
    assert 20 < len(metadata["description"]) <= 1024
    for line in text.splitlines():
        if "/shared/skills/" in line:
            assert f"/shared/skills/{skill.name}/" in line, f"a path in SKILL.md points at another skill: {line}"


def _profile(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "data.csv"
    data.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, str(PROFILE_CSV), str(data), *args], capture_output=True, text=True, timeout=60, check=False)


def test_csv_profile_reports_types_empties_and_ranges(tmp_path: Path) -> None:
    result = _profile(tmp_path, "id,name,score,joined,active\n1,Ann,9.5,2024-01-02,yes\n2,Bob,,2024-02-03,no\n2,Cid,7,2024-03-04,yes\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("3 rows, 5 columns, delimiter ','")
    assert "- 'id': type=int empty=0 distinct=2 min=1 max=2" in lines
    assert "- 'name': type=text empty=0 distinct=3" in lines
    assert "- 'score': type=float empty=1 distinct=2 min=7 max=9.5" in lines
    assert "- 'joined': type=date empty=0 distinct=3" in lines
    assert "- 'active': type=bool empty=0 distinct=2" in lines
    assert "    most common: 'yes' x2, 'no' x1" in lines


def test_csv_profile_sniffs_semicolons_and_flags_ragged_rows(tmp_path: Path) -> None:
    result = _profile(tmp_path, "a;b\n1;x\n2\n3;y;z\n4;w\n", "--max-rows", "3")
    assert result.returncode == 0, result.stderr
    assert "3 rows, 2 columns, delimiter ';'" in result.stdout
    assert "(stopped after --max-rows 3)" in result.stdout
    assert "warning: 2 rows do not have 2 cells" in result.stdout
    assert "- 'a': type=int empty=0 distinct=3 min=1 max=3" in result.stdout


def test_csv_profile_mixed_column_widens_to_text(tmp_path: Path) -> None:
    result = _profile(tmp_path, "v\n1\n2.5\nn/a\n")
    assert "- 'v': type=text empty=0 distinct=3" in result.stdout


def test_csv_profile_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PROFILE_CSV), str(tmp_path / "nope.csv")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("profile_csv: cannot read ")
