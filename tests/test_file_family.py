"""The family ``file``: a user's points, PNG folder or graph folder as a distribution, known
answers for what is read, sampling invariants, one-line errors and one tiny run per data kind."""
import json
import math
import re

import networkx as nx
import numpy as np
import pytest
import torch
from PIL import Image

import distributions
import models
from distributions.file import NO_TRUTH
from experiments.config import validate
from experiments.train import run
from learnlab.cli import main


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def data(tmp_path):
    """points.npy [60, 3], points.csv [20, 2], pngs/ (60 grey 8 x 6 images, one RGB, one 16-bit),
    graphs/ (12 edge lists on up to 6 nodes, one .graphml, one .gml)."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "points.npy", rng.normal(size=(60, 3)))
    np.savetxt(tmp_path / "points.csv", rng.random((20, 2)), delimiter=",")
    (tmp_path / "pngs").mkdir()
    for i in range(58):
        Image.fromarray(rng.integers(0, 256, (6, 8), dtype=np.uint8)).save(tmp_path / f"pngs/g{i:02d}.png")
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 255                                     # pure red: luma 0.299 * 255 -> 76
    Image.fromarray(rgb).save(tmp_path / "pngs/rgb.png")
    Image.fromarray(np.full((6, 8), 65535, np.uint16)).save(tmp_path / "pngs/wide.png")  # 16-bit white
    (tmp_path / "graphs").mkdir()
    for i in range(12):
        nx.write_edgelist(nx.gnp_random_graph(6, 0.5, seed=i), tmp_path / f"graphs/e{i:02d}.edgelist", data=False)
    (tmp_path / "graphs/path.txt").write_text("# a path 2 - 10 - 3\n10 2\n3 10 {'weight': 5}\n")
    nx.write_graphml(nx.DiGraph([(0, 1), (1, 2), (2, 0)]), tmp_path / "graphs/tri.graphml")
    g = nx.Graph([(0, 1)])
    g.add_node(2)                                         # an isolated node: kept by .gml
    nx.write_gml(g, tmp_path / "graphs/z.gml")
    return tmp_path


def rows_of(x, data):
    """Is every row of x [n, ...] one of the rows of data [m, ...]?"""
    return bool((x.flatten(1)[:, None] == data.flatten(1)[None]).all(-1).any(1).all())


def test_points_npy_and_csv_sample_rows_of_the_file(data, monkeypatch):
    x = np.load(data / "points.npy")
    monkeypatch.chdir(data)
    d = distributions.make("file", path="points.npy")                     # relative: to the working dir
    assert d.params == {"path": str(data / "points.npy")} and d.kind == "points" and d.event_shape == (3,)
    assert d.traits == {"n_samples": 60.0, "ambient_dim": 3.0}
    assert torch.equal(d.data, torch.from_numpy(x).float())
    s = d.sample(500, generator=gen(1))
    assert s.dtype == torch.float32 and s.shape == (500, 3) and rows_of(s, d.data)
    assert torch.equal(s, d.sample(500, generator=gen(1))) and not torch.equal(s, d.sample(500, generator=gen(2)))
    assert len(torch.unique(s, dim=0)) == 60                             # 500 draws reach every row
    assert d.sample(0, generator=gen(0)).shape == (0, 3)
    c = distributions.make("file", path=str(data / "points.csv"))
    assert c.event_shape == (2,) and torch.allclose(c.data.double(), torch.from_numpy(np.loadtxt(data / "points.csv",
                                                                                               delimiter=",")), atol=1e-7)
    for dist in (d, c):                                                   # no ground truth, said so
        assert dist.capabilities == frozenset() and dist.modes is None
        with pytest.raises(NotImplementedError, match="no ground truth for a user's data"):
            dist.log_prob(s)


def test_png_folder_is_grey_images_in_0_1_shaped_like_triangles(data):
    d = distributions.make("file", path=str(data / "pngs"))
    tri = distributions.make("triangles", image_size=8)
    assert d.kind == "images" and d.event_shape == (1, 6, 8) and len(d.event_shape) == len(tri.event_shape) == 3
    assert d.traits == {"n_samples": 60.0, "ambient_dim": 48.0, "height": 6.0, "width": 8.0}
    first = np.asarray(Image.open(data / "pngs/g00.png"), dtype=np.float64) / 255
    assert torch.allclose(d.data[0, 0].double(), torch.from_numpy(first), atol=1e-7)   # name order: g00 first
    assert torch.allclose(d.data[58], torch.full((1, 6, 8), 76 / 255)) and torch.all(d.data[59] == 1.0)
    assert d.data.min() >= 0 and d.data.max() <= 1
    s = d.sample(32, generator=gen(0))
    assert s.shape == (32, 1, 6, 8) and s.dtype == torch.float32 and rows_of(s, d.data)
    models.check_shape({"model": "gan", "arch": "conv"}, d.event_shape)    # conv models take it


def test_graph_folder_is_padded_adjacency_like_graphs(data):
    d = distributions.make("file", path=str(data / "graphs"))
    assert d.kind == "graphs" and d.event_shape == (6, 6) and d.traits["n_nodes"] == 6.0
    assert d.traits["n_samples"] == 15.0 and d.capabilities == {"graph_structure"}
    a = d.data
    assert torch.equal(a, a.transpose(1, 2)) and not a.diagonal(dim1=1, dim2=2).any() and set(a.unique().tolist()) <= {0, 1}
    ref = nx.to_numpy_array(nx.read_edgelist(data / "graphs/e00.edgelist", nodetype=int), nodelist=range(6))
    assert np.array_equal(a[0].numpy(), ref)
    path, tri, gml = a[12], a[13], a[14]                # path.txt, tri.graphml, z.gml (name order)
    assert path[0, 2] == path[1, 2] == 1 and path.sum() == 4 and path[3:].sum() == 0   # 2, 3, 10: numeric order
    assert tri[:3, :3].sum() == 6 and tri[3:].sum() == 0                              # directed -> undirected
    assert gml[0, 1] == 1 and gml.sum() == 2
    s = d.sample(20, generator=gen(0))
    assert s.shape == (20, 6, 6) and rows_of(s, a)
    models.check_shape({"model": "vae", "arch": "graph"}, d.event_shape)


def bad_files(tmp_path):
    """(path given to the family, name in the message, the problem) for each bad input."""
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    (tmp_path / "header.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "empty.csv").write_text("")
    np.save(tmp_path / "nan.npy", np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]))
    (tmp_path / "inf.csv").write_text("1,2\n3,inf\n")
    np.save(tmp_path / "one.npy", np.zeros((1, 3)))
    np.save(tmp_path / "flat.npy", np.zeros(5))
    (tmp_path / "x.json").write_text("[]")
    for name in ("empty", "sizes", "notpng", "mixed", "other", "badgml", "badtxt", "nonodes"):
        (tmp_path / name).mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "sizes/a.png")
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(tmp_path / "sizes/b.png")
    (tmp_path / "notpng/a.png").write_text("not an image")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "mixed/a.png")
    (tmp_path / "mixed/g.edgelist").write_text("0 1\n")
    (tmp_path / "other/notes.md").write_text("hello")
    (tmp_path / "badgml/g.graphml").write_text("<graphml><graph")
    (tmp_path / "badtxt/g.txt").write_text("0 1\n1,2,3\n")
    (tmp_path / "nonodes/g.edgelist").write_text("# nothing\n")
    return [
        ("none.npy", "none.npy", "does not exist"),
        ("x.json", "x.json", "has suffix '.json'"),
        ("ragged.csv", "ragged.csv", "the number of columns changed from 2 to 1"),
        ("header.csv", "header.csv", "cannot be read as numbers"),
        ("empty.csv", "empty.csv", "holds 0 samples; expected at least 2"),
        ("nan.npy", "nan.npy", r"1 of 3 samples have non-finite values \(the first is row 1\)"),
        ("inf.csv", "inf.csv", "1 of 2 samples have non-finite values"),
        ("one.npy", "one.npy", "holds 1 sample; expected at least 2"),
        ("flat.npy", "flat.npy", r"shape \[5\]; expected numbers of shape \[n, d\]"),
        ("empty", "empty", "is an empty folder"),
        ("sizes", "b.png", "is 4x5 pixels .* but 'a.png' is 4x4; expected every image the same size"),
        ("notpng", "a.png", "cannot be read as an image"),
        ("sizes/a.png", "a.png", "is a single .png file; expected a folder"),
        ("mixed", "mixed", "holds both images and graph files"),
        ("other", "notes.md", "has suffix '.md'; expected a folder holding only .png images or only graph files"),
        ("badgml", "g.graphml", "cannot be read as a graphml graph"),
        ("badtxt", "g.txt", r"line 2 holds one value \('1,2,3'\); expected an edge list"),
        ("nonodes", "g.edgelist", "holds no graph"),
    ]


def test_bad_input_is_one_line_naming_the_file_and_the_problem(tmp_path):
    cases = bad_files(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    for given, name, problem in cases:
        with pytest.raises(ValueError, match=re.escape(name) + ".*" + problem) as err:
            distributions.make("file", path=str(tmp_path / given))
        assert "\n" not in str(err.value) and str(err.value).startswith("file: path ")
    assert sorted(tmp_path.rglob("*")) == before                              # nothing left behind
    with pytest.raises(ValueError, match=r"file: knob path=None is not allowed \(it is required\)"):
        distributions.make("file")


def test_a_config_records_the_absolute_path_and_rereads_a_changed_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    np.save(tmp_path / "a/p.npy", np.zeros((4, 2)))
    np.save(tmp_path / "b/p.npy", np.zeros((4, 5)))
    cfg = {"data": {"family": "file", "path": "p.npy"}, "model": {"model": "gan"}}
    for sub, dim in (("a", 2), ("b", 5)):                    # the same relative path from two folders
        monkeypatch.chdir(tmp_path / sub)
        got = validate(cfg)["data"]
        assert got["path"] == str(tmp_path / sub / "p.npy")
        assert distributions.make("file", path=got["path"]).event_shape == (dim,)
    np.save(tmp_path / "b/p.npy", np.zeros((4, 7)))          # rewritten: read again
    assert distributions.make("file", path="p.npy").event_shape == (7,)
    with pytest.raises(ValueError, match="key arch='conv' is not allowed"):
        validate({**cfg, "model": {"model": "gan", "arch": "conv"}})


TINY = {"steps": 6, "eval_every": 3, "eval_samples": 40, "final_real": 40, "plots": False, "tensorboard": False}
MODELS = {
    "points.npy": {"model": "gan", "g_width": 16, "g_depth": 1, "d_width": 16, "d_depth": 1, "batch_size": 16},
    "pngs": {"model": "vae", "arch": "conv", "channels": 4, "likelihood": "bernoulli", "latent_dim": 4, "batch_size": 8},
    "graphs": {"model": "gan", "arch": "graph", "latent_dim": 4, "g_width": 16, "g_depth": 1, "d_width": 16,
               "d_depth": 1, "batch_size": 8},
}


@pytest.mark.parametrize("path", list(MODELS))
def test_a_tiny_run_on_each_kind_skips_every_ground_truth_metric(data, tmp_path, path):
    cfg = {"data": {"family": "file", "path": str(data / path)}, "model": MODELS[path], "train": TINY}
    rec = run(cfg, tmp_path / "run")
    assert rec["status"] == "complete", rec.get("traceback")
    saved = json.loads((tmp_path / "run/result.json").read_text())
    assert saved["metrics"] == pytest.approx(rec["metrics"]) and saved["traits"]["n_samples"] > 0
    assert json.loads((tmp_path / "run/config.json").read_text())["data"]["path"] == str(data / path)
    met, skipped = rec["metrics"], rec["skipped"]
    assert all(math.isfinite(v) for v in met.values()) and len(rec["history"]) == 2
    truth = ["mode_hq_fraction", "modes_captured", "log_prob_mean", "quality"]
    if path == "graphs":
        truth += ["edge_density_true", "connected_true", "components_mean_true"]
        assert {"mmd2_degree_rbf_0.1", "connected_fake", "connected_real", "unique"} <= set(met)
    else:
        truth += ["support_precision", "support_coverage"]
        assert {"coverage", "precision", "mmd2"} <= set(met)
    if path == "pngs":
        truth += ["likelihood_gap"]
        assert "log_likelihood" in met
    for name in truth:
        assert name not in met and NO_TRUTH in skipped[name], name


def test_show_and_describe_read_user_files(data, capsys):
    out = data / "shown.png"
    assert main(["show", "file", "--path", str(data / "points.npy"), "--n", "200", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "ambient_dim            3" in capsys.readouterr().out
    assert main(["describe", "file", "--path", str(data / "pngs"), "--boot", "1"]) == 0
    text = capsys.readouterr().out
    assert f"file {data / 'pngs'} (images)" in text and "60 samples, embedding: images: pixels" in text
    assert main(["describe", str(data / "points.npy"), "--boot", "1"]) == 0
    assert "60 samples, embedding: points" in capsys.readouterr().out
    assert main(["describe", str(data / "nope.csv")]) == 2
    assert "nope.csv' does not exist" in capsys.readouterr().err
