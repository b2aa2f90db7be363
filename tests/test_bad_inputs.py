"""Every bad input to the CLI is one line on stderr and exit status 2: no traceback, nothing
written (no lightning_logs/<study>, no output file). All of it fails at validation: no training."""
from pathlib import Path

import pytest

from learnlab.cli import main

RUN = """\
data: {family: mixture, layout: ring, n_modes: 4, std: 0.05}
model: {model: gan, g_width: 8, d_width: 8, g_depth: 1, d_depth: 1, batch_size: 16}
train: {steps: 10, eval_every: 10, eval_samples: 50, final_real: 50, plots: false, tensorboard: false}
"""
SWEEP = """\
study: tiny
data: {family: mixture, layout: ring, std: 0.1}
model: {model: gan, g_width: 8, g_depth: 1, d_width: 8, d_depth: 1, batch_size: 16}
train: {steps: 10, eval_every: 10, eval_samples: 50, final_real: 50, plots: false, tensorboard: false}
grid: {data.n_modes: [2, 4]}
seeds: 2
objective: {metric: modes_captured, direction: maximize}
"""


def files(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*")}


def refused(argv, capsys, root: Path) -> str:
    """Run the CLI in-process; assert exit status 2, one line on stderr, nothing new under root."""
    before = files(root)
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and out == "", (out, err)
    assert len(err.splitlines()) == 1, err
    assert files(root) == before, files(root) - before
    return err.strip()


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                   # lightning_logs/ would appear here
    return tmp_path


def write(root: Path, text: str, name: str = "c.yaml") -> Path:
    path = root / name
    path.write_text(text)
    return path


# -- 1. invalid YAML syntax: the file and the line ---------------------------------------------
def test_invalid_yaml_names_file_and_line(here, capsys):
    path = write(here, RUN + "grid: {data.n_modes: [2, 4}\n", "s.yaml")
    line = refused(["train", path], capsys, here)
    assert f"config '{path}': invalid YAML at line 4" in line, line
    line = refused(["sweep", write(here, SWEEP.replace("seeds: 2", "seeds: [0, 1"), "w.yaml")], capsys, here)
    assert "sweep config" in line and "at line 7, column 10: expected ',' or ']', but got ':'; while parsing a flow " \
        "sequence from line 6" in line, line


# -- 2. invalid YAML in a --set value ----------------------------------------------------------
def test_invalid_yaml_in_set(here, capsys):
    line = refused(["train", write(here, RUN), "--set", "train.steps=[1"], capsys, here)
    assert line.startswith("learnlab train: error: --set 'train.steps=[1': invalid YAML"), line


# -- 3. duplicate keys -------------------------------------------------------------------------
@pytest.mark.parametrize("text,needle", [
    (RUN + "data: {family: manifold}\n", "key 'data' appears twice in one mapping (first at line 1)"),
    (RUN.replace("n_modes: 4", "n_modes: 4, n_modes: 8"), "key 'n_modes' appears twice"),
    ("data:\n  family: mixture\n  std: 0.1\n  std: 0.2\n", "at line 4, column 3: key 'std' appears twice"),
])
def test_duplicate_keys_are_refused(here, capsys, text, needle):
    assert needle in refused(["train", write(here, text)], capsys, here)


def test_duplicate_keys_in_set_value(here, capsys):
    line = refused(["train", write(here, RUN), "--set", "train.verdict={blur: 0.1, blur: 0.2}"], capsys, here)
    assert "key 'blur' appears twice" in line, line


# -- 4. unreadable config: no permission, a folder ---------------------------------------------
def test_unreadable_config(here, capsys, monkeypatch):
    path = write(here, RUN)
    real = Path.read_text

    def denied(self, *a, **kw):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **kw)
    monkeypatch.setattr(Path, "read_text", denied)     # chmod 000 does not stop root
    assert f"config file '{path}' cannot be read: Permission denied" in refused(["train", path], capsys, here)
    assert "sweep config file" in refused(["sweep", path], capsys, here)


def test_folder_as_config(here, capsys):
    (here / "d.yaml").mkdir()
    assert "config file 'd.yaml' is a folder; expected a YAML file" in refused(["train", "d.yaml"], capsys, here)
    assert "is a folder" in refused(["sweep", "d.yaml"], capsys, here)


# -- 5. train.seed as a sweep axis ---------------------------------------------------------------
@pytest.mark.parametrize("extra", ["grid: {data.n_modes: [2, 4], train.seed: [0, 1]}",
                                   "search: {space: {train.seed: [0, 1]}}"])
def test_seed_axis_is_refused(here, capsys, extra):
    text = SWEEP.replace("grid: {data.n_modes: [2, 4]}", extra if extra.startswith("grid") else "grid: {}\n" + extra)
    line = refused(["sweep", write(here, text)], capsys, here)
    assert "train.seed is not allowed; expected the seeds in seeds: N" in line, line


# -- 6. study names --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../up", "a\\b", ".hidden", "-x", "a b", "ö"])
def test_bad_study_names(here, capsys, name):
    line = refused(["sweep", write(here, SWEEP), f"--study={name}"], capsys, here)
    assert f"sweep: study={name!r} is not allowed; expected a name of letters" in line, line


def test_bad_study_name_in_config_and_results(here, capsys):
    assert "study='..' is not allowed" in refused(["sweep", write(here, SWEEP.replace("tiny", "'..'"))], capsys, here)
    assert "study='' is not allowed" in refused(["sweep", write(here, SWEEP.replace("tiny", "''"))], capsys, here)
    assert "study='../x' is not allowed" in refused(["results", "../x"], capsys, here)


# -- 7. impossible sizes -----------------------------------------------------------------------------
@pytest.mark.parametrize("knobs,needle", [
    ({"n_modes": 1000000000}, "knob n_modes=1000000000 is not allowed; expected an integer >= 1 and <= 4096"),
    ({"ambient_dim": 100000}, "knob ambient_dim=100000 is not allowed"),
    ({"dim": 1000, "layout": "random"}, "knob dim=1000 is not allowed"),
    ({"n_modes": 4096, "ambient_dim": 100}, "n_modes x ambient_dim = 409600 must be <= 32768"),
])
def test_impossible_mixture_sizes(here, capsys, knobs, needle):
    argv = ["show", "mixture", *[f"--{k}={v}" for k, v in knobs.items()], "--out", "x.png"]
    assert needle in refused(argv, capsys, here)
    text = RUN.replace("layout: ring, n_modes: 4", ", ".join(f"{k}: {v}" for k, v in {"n_modes": 4, **knobs}.items()))
    assert needle in refused(["train", write(here, text)], capsys, here)
    data = {"layout": "ring", "std": 0.1, **{k: v for k, v in knobs.items() if k != "n_modes"}}
    sweep = SWEEP.replace("layout: ring, std: 0.1", ", ".join(f"{k}: {v}" for k, v in data.items()))
    sweep = sweep.replace("[2, 4]", f"[2, {knobs['n_modes']}]" if "n_modes" in knobs else "[2, 4]")
    assert needle in refused(["sweep", write(here, sweep)], capsys, here)


@pytest.mark.parametrize("key,value", [("data.n_train", 10 ** 12), ("train.eval_samples", 10 ** 12),
                                       ("train.final_real", 10 ** 12), ("model.batch_size", 10 ** 12)])
def test_sample_counts_that_cannot_fit(here, capsys, key, value):
    line = refused(["train", write(here, RUN), "--set", f"{key}={value}"], capsys, here)
    name = key.split(".")[1]
    assert f"key {name}={value} is not allowed; expected at most" in line and "half of this machine's memory" in line


def test_show_sizes(here, capsys):
    assert "--n=1000000000000 is not allowed; expected at most" in refused(
        ["show", "mixture", "--n", 10 ** 12, "--out", "x.png"], capsys, here)
    assert "knob n_nodes=100000 is not allowed" in refused(
        ["show", "graphs", "--n_nodes", 100000, "--out", "x.png"], capsys, here)


# -- 8. train --out onto a file ------------------------------------------------------------------
def test_train_out_is_a_file(here, capsys):
    (here / "taken").write_text("x")
    line = refused(["train", write(here, RUN), "--out", "taken"], capsys, here)
    assert line == "learnlab train: error: --out 'taken' is an existing file; expected a folder (made if missing)", line
    line = refused(["train", write(here, RUN), "--out", "taken/run"], capsys, here)
    assert line == "learnlab train: error: --out 'taken/run': 'taken' is a file, not a folder", line


# -- 9. results --csv into a missing folder --------------------------------------------------------
def test_results_csv_into_missing_folder(here, capsys):
    line = refused(["results", "tiny", "--csv", "nowhere/t.csv"], capsys, here)
    assert line == ("learnlab results: error: --csv 'nowhere/t.csv': folder 'nowhere' does not exist; "
                    "expected an existing folder"), line
    assert "is a folder; expected a file name" in refused(["results", "tiny", "--csv", "."], capsys, here)


# -- fuzz: many bad configs and command lines, each one line -----------------------------------
BAD_RUNS = [   # config text (RUN with one change) for learnlab train / learnlab show-like checks
    RUN.replace("n_modes: 4", "n_modes: 0"),
    RUN.replace("n_modes: 4", "n_modes: eight"),
    RUN.replace("n_modes: 4", "n_modes: [4]"),
    RUN.replace("n_modes: 4", "colour: red"),
    RUN.replace("family: mixture", "family: blobs"),
    RUN.replace("family: mixture", "family: [mixture]"),
    RUN.replace("family: mixture", "family: {a: 1}"),
    RUN.replace("family: mixture, layout: ring", "family: mixture, 1: 2"),
    "data: [1, 2]\n",
    "data: 5\n",
    "data: {family: mixture}\ntrain: abc\n",
    "data: {family: mixture}\nmodel: [gan]\n",
    "- a\n- b\n",
    "42\n",
    "1: a\nfoo: b\n",
    RUN + "foo: {}\n",
    RUN.replace("model: gan", "model: flow"),
    RUN.replace("model: gan", "model: [gan]"),
    RUN.replace("g_width: 8", "g_width: -1"),
    RUN.replace("g_width: 8", "g_width: true"),
    RUN.replace("batch_size: 16", "batch_size: 1000000000000"),
    RUN.replace("steps: 10", "steps: 0"),
    RUN.replace("steps: 10", "steps: 1.5"),
    RUN.replace("steps: 10", "stepz: 10"),
    RUN.replace("steps: 10", "steps: 10, verdict: {nope: 1}"),
    RUN.replace("steps: 10", "steps: 10, verdict: 5"),
    RUN.replace("steps: 10", "steps: 10, verdict: {blur: -1}"),
    RUN.replace("steps: 10", "steps: 10, steps_per_batch: 3"),
    RUN.replace("steps: 10", "steps: 10, accelerator: tpu"),
    RUN.replace("steps: 10", "steps: 2020-01-01"),
    RUN.replace("std: 0.05", "std: .nan"),
    RUN.replace("std: 0.05", "std: -0.05"),
    RUN.replace("std: 0.05", "std: 0.05, separation: 3"),
    RUN.replace("n_modes: 4", "n_modes: 5, layout: grid").replace("layout: ring, ", ""),
    RUN.replace("family: mixture, layout: ring, n_modes: 4, std: 0.05", "family: graphs, n_nodes: 100000"),
    RUN.replace("family: mixture, layout: ring, n_modes: 4, std: 0.05", "family: triangles, image_size: 100000"),
    RUN.replace("layout: ring, ", "").replace("n_modes: 4", "n_modes: 4, ambient_dim: 1000000"),
    RUN.replace("n_modes: 4", "n_train: 1000000000000, n_modes: 4"),
    RUN.replace("n_modes: 4", "n_train: -1, n_modes: 4"),
    RUN.replace("eval_samples: 50", "eval_samples: 100000000000"),
    RUN.replace("model: {", "model: {arch: conv, "),
    RUN + "data: {family: mixture}\n",
    "data: {family: mixture\n",
    "data:\n\tfamily: mixture\n",
    "data: {family: mixture}\n  model: x\n",
    "data: !!python/object:os.system x\n",
    "data: {family: \x07}\n",
    "data: " + "[" * 5000 + "]" * 5000 + "\n",
    "&a [*a]\n",
]
BAD_SWEEPS = [   # sweep config text (SWEEP with one change)
    SWEEP.replace("[2, 4]", "[2, 2]"),
    SWEEP.replace("[2, 4]", "[0, 2]"),
    SWEEP.replace("[2, 4]", "[]"),
    SWEEP.replace("[2, 4]", "{low: 2, high: 8, num: 1000000000000}"),
    SWEEP.replace("[2, 4]", "{low: 8, high: 2, num: 3}"),
    SWEEP.replace("[2, 4]", "{low: 2, high: 8}"),
    SWEEP.replace("data.n_modes", "n_modes"),
    SWEEP.replace("data.n_modes", "data.family"),
    SWEEP.replace("grid: {data.n_modes: [2, 4]}", "grid: [1]"),
    SWEEP.replace("grid: {data.n_modes: [2, 4]}", "grid: {1: [2]}"),
    SWEEP.replace("seeds: 2", "seeds: 0"),
    SWEEP.replace("seeds: 2", "seeds: 1000000000000"),
    SWEEP.replace("seeds: 2", "seeds: [0, 0]"),
    SWEEP.replace("seeds: 2", "seeds: [-1]"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {budget: 0}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {budget: 1000000000000}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {seed: abc}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {seed: [1]}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {space: [1]}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {space: {model.lr_g: {low: 1, high: 0}}}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {space: {data.n_modes: [2, 4]}}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: [1]"),
    SWEEP.replace("seeds: 2", "seeds: 2\nsearch: {bogus: 1}"),
    SWEEP.replace("seeds: 2", "seeds: 200\nsearch: {budget: 1000}"),
    SWEEP.replace("seeds: 2", "seeds: 2\nensemble: 0"),
    SWEEP.replace("seeds: 2", "seeds: 2\nensemble: yes"),
    SWEEP.replace("model: {", "models: {a: 1}\nmodel: {"),
    SWEEP.replace("model: {model: gan", "models: {a: {model: gan").replace("batch_size: 16}", "batch_size: 16}}")
    .replace("seeds: 2", "seeds: 2\nsearch: {space: {a: 5}}"),
    SWEEP.replace("direction: maximize", "direction: up"),
    SWEEP.replace("objective: {metric: modes_captured, direction: maximize}", "objective: 5"),
    SWEEP.replace("objective: {metric: modes_captured, direction: maximize}", ""),
    SWEEP.replace("metric: modes_captured", "metric: no_such_metric"),
    SWEEP + "colour: red\n",
    SWEEP + "1: x\ncolour: red\n",
    SWEEP + "seeds: 3\n",
    SWEEP.replace("study: tiny", "study: [tiny]"),
    SWEEP.replace("study: tiny", "study:"),
    SWEEP.replace("study: tiny", "study: a b"),
]
RUN_ARGV = [
    ["train", "CFG", "--set", "train.steps=[1"],
    ["train", "CFG", "--set", "train.steps"],
    ["train", "CFG", "--set", "foo.bar=1"],
    ["train", "CFG", "--set", "train.steps.x=1"],
    ["train", "CFG", "--set", "train.steps=abc"],
    ["train", "CFG", "--set", "train.steps="],
    ["train", "CFG", "--set", "train.steps={a: 1, a: 2}"],
    ["train", "CFG", "--set", "data.n_modes=1000000000000"],
    ["train", "CFG", "--set", "data=1"],
    ["train", "CFG", "--frobnicate"],
    ["train"],
    ["train", "missing.yaml"],
    ["train", "CFG", "--out", "CFG"],
    ["sweep", "missing.yaml"],
    ["show", "mixture", "--n_modes", "0", "--out", "x.png"],
    ["show", "mixture", "--n_modes", "1000000000", "--out", "x.png"],
    ["show", "mixture", "--n", "abc", "--out", "x.png"],
    ["show", "mixture", "--n", "0", "--out", "x.png"],
    ["show", "mixture", "--colour", "red", "--out", "x.png"],
    ["show", "mixture", "--out", "."],
    ["show", "mixture", "--out", "CFG/x.png"],
    ["show", "mixture", "--n_modes"],
    ["show", "mixture", "--n_modes", "-3"],            # no --out: traits only, but a bad knob is still refused
    ["show"],
    ["show", "blobs", "--out", "x.png"],
    ["results", ""],
    ["results", ".."],
    ["results", "tiny", "--csv", "no/such/t.csv"],
    ["results", "no_such_study"],
    ["results"],
    ["results", "fig-ring-quick", "--columns", "nope"],
    ["export", "no_such_study"],
    ["export", "bad name"],
    ["keys", "gann"],
    ["keys"],
    ["figures", "nope"],
    ["figures", "ring_modes", "--rerun", "--no-run"],
    ["frobnicate"],
]
SWEEP_ARGV = [
    ["sweep", "CFG", "--workers", "0"],
    ["sweep", "CFG", "--workers", "abc"],
    ["sweep", "CFG", "--workers", "-2"],
    ["sweep", "CFG", "--ensemble", "0"],
    ["sweep", "CFG", "--ensemble", "1.5"],
    ["sweep", "CFG", "--study", ""],
    ["sweep", "CFG", "--study", ".."],
    ["sweep", "CFG", "--study", "a/b"],
    ["sweep", "CFG", "--nope"],
]
CASES = ([(["train", "CFG"], text) for text in BAD_RUNS] + [(["sweep", "CFG"], text) for text in BAD_SWEEPS]
         + [(argv, RUN) for argv in RUN_ARGV] + [(argv, SWEEP) for argv in SWEEP_ARGV])


@pytest.mark.parametrize("argv,text", CASES, ids=[f"{i}-{a[0]}" for i, (a, _) in enumerate(CASES)])
def test_fuzz_bad_input_is_one_line(here, capsys, argv, text):
    path = write(here, text)
    line = refused([path if a == "CFG" else a.replace("CFG", str(path)) for a in argv], capsys, here)
    assert line.startswith(f"learnlab {argv[0]}: error: " if argv[0] != "frobnicate" else "learnlab: error:"), line


def test_fuzz_has_enough_cases():
    assert len(CASES) >= 40
