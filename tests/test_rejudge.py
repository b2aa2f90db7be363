"""experiments.rejudge: the committed studies' verdicts are what the current rules derive from
their stored evaluations, and a verdict that disagrees is judged again, in place."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from experiments.rejudge import JUDGED as JUDGED_KEYS, rejudge
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
    """The run verdicts (table) and each evaluation's flags (history) are what the current rules
    give; else run `learnlab export --rejudge STUDY`."""
    _copy(study, tmp_path)
    files = [f for f in (f"{study}.csv.gz", f"{study}.history.csv.gz") if (tmp_path / f).is_file()]
    before = [pd.read_csv(tmp_path / f, low_memory=False) for f in files]
    assert rejudge(study, tmp_path) == {}
    for f, old in zip(files, before):
        new = pd.read_csv(tmp_path / f, low_memory=False)
        for c in [c for c in old if c.startswith("verdict.") or c in JUDGED_KEYS]:
            if pd.api.types.is_float_dtype(old[c]):  # held_js: the same sum in another order
                np.testing.assert_allclose(old[c], new[c], rtol=1e-12, atol=1e-15, equal_nan=True, err_msg=f"{f}: {c}")
            else:
                assert old[c].astype(str).equals(new[c].astype(str)), f"{f}: {c}"


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
