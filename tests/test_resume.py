"""experiments.resume: a study continues from its export on a fresh store, training only what the
export lacks (a stopped study's rest, a grown grid's new cells, changed or failed runs), and its
new export has the same rows as one run straight through."""
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from experiments.results import export, read_export, results
from experiments.sweep import run_sweep
from learnlab.cli import main

TINY = yaml.safe_load((Path(__file__).parent / "configs" / "tiny_sweep.yaml").read_text())
SAME = ["key", "model", "seed", "status", "runtime_s", "code_version", "modes_captured", "coverage",
        "verdict.outcome", "verdict.n_held", "verdict.learned_step", "trait.n_modes"]


def _config(tmp_path, name="tiny.yaml", **changes):
    raw = {**TINY, **changes}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _trained(root: Path) -> list[Path]:
    return sorted(p for p in (root / "tiny" / "trials").glob("*") if (p / "result.json").is_file()) \
        if (root / "tiny" / "trials").is_dir() else []


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The tiny sweep run straight through and exported: (folder of its export, its table)."""
    tmp = tmp_path_factory.mktemp("straight")
    run_sweep(_config(tmp), root=tmp / "store", progress=False)
    export("tiny", tmp / "results", root=tmp / "store")
    return tmp / "results", read_export("tiny", tmp / "results")


def _rows(df):
    return df.sort_values("key")[SAME].reset_index(drop=True)


def test_a_study_continues_from_its_export_without_training_again(straight, tmp_path):
    folder, table = straight
    run_sweep(_config(tmp_path), root=tmp_path / "fresh", progress=False, from_export=folder)
    assert _trained(tmp_path / "fresh") == []                       # all 8 runs came from the export
    again = results("tiny", root=tmp_path / "fresh")
    rec = json.loads((Path(again["log_dir"].iloc[0]) / "result.json").read_text())
    assert rec["imported"]["from"].endswith("tiny.csv.gz") and rec["history"]
    export("tiny", tmp_path / "out", root=tmp_path / "fresh")
    pd.testing.assert_frame_equal(_rows(read_export("tiny", tmp_path / "out")), _rows(table))
    meta = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert meta["time"]["busy_s"] == json.loads((folder / "tiny.json").read_text())["time"]["busy_s"]
    assert sorted(meta["trials_carried"]) and (tmp_path / "out" / "tiny.trials").is_dir()   # samples travel on


def test_a_stopped_study_trains_only_the_runs_its_export_lacks(straight, tmp_path):
    folder, table = straight
    half = tmp_path / "half"
    half.mkdir()
    for p in folder.glob("tiny.*"):
        if p.is_file():
            (half / p.name).write_bytes(p.read_bytes())
    kept = pd.read_csv(folder / "tiny.csv.gz")
    kept[kept["data.n_modes"] == 2].to_csv(half / "tiny.csv.gz", index=False)      # stopped after 4 of 8
    meta = json.loads((half / "tiny.json").read_text())
    judged = [{"date": "2026-01-01", "code_version": "abc", "outcomes_changed": {"learned -> blurred": 1}}]
    (half / "tiny.json").write_text(json.dumps({**meta, "rejudged": judged}))     # it was judged again once
    run_sweep(_config(tmp_path), root=tmp_path / "fresh", progress=False, from_export=half)
    assert len(_trained(tmp_path / "fresh")) == 4
    export("tiny", tmp_path / "out", root=tmp_path / "fresh")
    assert json.loads((tmp_path / "out" / "tiny.json").read_text())["rejudged"] == judged   # its history travels on
    again = read_export("tiny", tmp_path / "out")
    pd.testing.assert_frame_equal(_rows(again[again["data.n_modes"] == 2]), _rows(table[table["data.n_modes"] == 2]))
    trained = [c for c in SAME if c != "runtime_s"]                    # the rest trained again: same numbers
    pd.testing.assert_frame_equal(_rows(again)[trained], _rows(table)[trained])


def test_a_grown_grid_runs_its_new_cells_and_a_changed_config_runs_again(straight, tmp_path, capsys):
    folder, _ = straight
    grown = _config(tmp_path, grid={"data.n_modes": [2, 4, 8], "data.radius": [1.0, 2.0]})
    run_sweep(grown, root=tmp_path / "grown", progress=False, from_export=folder)
    assert len(_trained(tmp_path / "grown")) == 4                    # the n_modes = 8 cell, 2 radii x 2 seeds
    assert len(results("tiny", root=tmp_path / "grown")) == 12
    longer = _config(tmp_path, name="longer.yaml", train={**TINY["train"], "steps": 30})
    run_sweep(longer, root=tmp_path / "longer", progress=False, from_export=folder)
    assert len(_trained(tmp_path / "longer")) == 8                   # every run's config changed
    assert "8 whose config changed" in capsys.readouterr().err


def test_from_export_without_an_export_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", str(_config(tmp_path)), "--from-export", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "not exported" in err[-1] and "tiny" in err[-1]
    assert main(["sweep", str(_config(tmp_path)), "--from-export", str(tmp_path / "nope"), "--no-progress"]) != 0
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "lightning_logs").exists()
