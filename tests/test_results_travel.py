"""Results travel with the code: every committed figure is redrawn from the exported studies in
results/ alone (no store, no training) into the same CSV of plotted numbers."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import figures
from experiments.results import EXPORTS, exported
from learnlab.cli import main

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = sorted((ROOT / "figures").glob("*.csv")) + sorted((ROOT / "figures" / "quick").glob("*.csv"))
NAMED = [p for p in COMMITTED if p.stem in figures.FIGURES]


def same_numbers(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.kind in "fi" and y.dtype.kind in "fi":
            if not np.allclose(x, y, rtol=1e-9, atol=0, equal_nan=True):
                return False
        elif not (x.astype(str) == y.astype(str)).all():
            return False
    return True


def test_every_committed_named_figure_has_its_study_exported():
    assert len(NAMED) >= 20
    missing = [f"{p.parent.name}/{p.name}" for p in NAMED if not exported(pd.read_csv(p)["study"].iloc[0])]
    assert not missing, f"committed figures whose study is not in results/: {missing}"


@pytest.mark.parametrize("path", NAMED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_figure_redraws_from_results(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                                 # no lightning_logs/ here: nothing stored
    quick = path.parent.name == "quick"
    study = pd.read_csv(path)["study"].iloc[0]
    assert study.endswith("-quick") == quick                    # quick figures live apart from full ones
    assert figures.source(*figures.study_of(path.stem, quick)) == "table"
    figures.make(path.stem, quick=quick, out="out", formats=("png",))       # the PDF: same drawing, slower
    assert same_numbers(pd.read_csv(tmp_path / "out" / path.name), pd.read_csv(path))
    assert (tmp_path / "out" / f"{path.stem}.png").stat().st_size > 0
    assert not (tmp_path / "lightning_logs").exists()           # nothing was trained or stored


def test_the_command_says_it_drew_the_exported_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["figures", "veegan_ring", "--no-run", "--out", "out"]) == 0
    assert f"drew the exported table {EXPORTS.name}/fig-veegan-ring.csv.gz" in capsys.readouterr().out
    assert (tmp_path / "out" / "veegan_ring.pdf").stat().st_size > 0


def test_figures_without_a_store_or_table_say_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="neither stored complete nor exported"):
        figures.make("ring_modes", exports=tmp_path / "none")
    assert main(["figures", "ring_modes", "--rerun", "--no-run"]) == 2
    assert "--rerun trains and --no-run never does" in capsys.readouterr().err


def test_figures_list_is_light_and_says_what_is_stored_or_exported():
    import subprocess
    import sys
    code = ("import sys, io, contextlib; from learnlab.cli import main; out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out): main(['figures', '--list'])\n"
            "print('torch' in sys.modules, 'matplotlib' in sys.modules); print(out.getvalue())")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    first, *lines = proc.stdout.splitlines()
    assert first == "False False", proc.stderr                 # neither torch nor matplotlib: about a second
    assert sum(line.startswith(tuple(figures.FIGURES)) for line in lines) == len(figures.FIGURES)
    assert any("fig-ring-quick" in line and "+results" in line for line in lines)
