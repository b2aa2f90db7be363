"""experiments.rejudge: the committed studies' verdicts are what the current rules derive from
their stored evaluations, and a verdict that disagrees is judged again, in place."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from experiments.rejudge import rejudge
from experiments.results import EXPORTS
from learnlab.cli import main

JUDGED = sorted(p.name[:-len(".csv.gz")] for p in EXPORTS.glob("*.csv.gz") if not p.name.endswith(".history.csv.gz")
                and "verdict.outcome" in pd.read_csv(p, nrows=0).columns)


def _copy(study, tmp_path):
    for p in EXPORTS.glob(f"{study}.*"):
        if p.is_file():
            shutil.copyfile(p, tmp_path / p.name)


@pytest.mark.parametrize("study", JUDGED)
def test_committed_verdicts_follow_the_current_rules(study, tmp_path):
    _copy(study, tmp_path)
    before = pd.read_csv(tmp_path / f"{study}.csv.gz", low_memory=False)
    assert rejudge(study, tmp_path) == {}, f"run `learnlab export --rejudge {study}`"
    after = pd.read_csv(tmp_path / f"{study}.csv.gz", low_memory=False)
    for c in [c for c in before if c.startswith("verdict.")]:
        a, b = before[c], after[c]
        if pd.api.types.is_float_dtype(a):           # held_js: the same sum in another order
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, equal_nan=True, err_msg=c)
        else:
            assert a.astype(str).equals(b.astype(str)), c


def test_a_verdict_that_disagrees_is_judged_again(tmp_path):
    _copy("fig-theory", tmp_path)
    table = pd.read_csv(tmp_path / "fig-theory.csv.gz")
    i = table.index[table["verdict.outcome"] == "dropped_modes"][0]
    table.loc[i, "verdict.outcome"] = "learned"
    table.to_csv(tmp_path / "fig-theory.csv.gz", index=False)
    assert main(["export", "--rejudge", "fig-theory", "--out", str(tmp_path)]) == 0
    assert pd.read_csv(tmp_path / "fig-theory.csv.gz").loc[i, "verdict.outcome"] == "dropped_modes"
    meta = json.loads((tmp_path / "fig-theory.json").read_text())
    assert meta["rejudged"][-1]["outcomes_changed"] == {"learned -> dropped_modes": 1}


def test_rejudging_a_study_not_exported_is_one_line(tmp_path, capsys):
    assert main(["export", "--rejudge", "fig-nope", "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fig-nope" in err[0] and "not exported" in err[0]
