import subprocess
import sys

import pytest

from learnlab.cli import main


def test_show_writes_png_and_prints_traits(tmp_path, capsys):
    out = tmp_path / "ring.png"
    assert main(["show", "mixture", "--layout", "ring", "--n_modes", "6", "--std=0.05", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "n_modes" in text and "min_separation" in text and str(out) in text


@pytest.mark.parametrize("family,kw", [("manifold", ["--shape", "swiss_roll"]),
                                       ("mixture", ["--dim", "3", "--ambient_dim", "8", "--layout", "random"])])
def test_show_projects_higher_dimensions(tmp_path, family, kw):
    out = tmp_path / "x.png"
    assert main(["show", family, *kw, "--n", "300", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("args,needle", [
    (["show", "mixture", "--n_modes", "0"], "n_modes=0"),
    (["show", "mixture", "--n_modes", "eight"], "n_modes='eight'"),
    (["show", "mixture", "--colour", "red"], "unknown knob 'colour'"),
    (["show", "blobs"], "unknown family 'blobs'"),
    (["show", "manifold", "--gap_fraction", "1.5"], "gap_fraction=1.5"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, capsys, args, needle):
    assert main([*args, "--out", str(tmp_path / "x.png")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "x.png").exists()


def test_the_installed_command_says_bad_input_in_one_line(tmp_path):
    """The same through the real entry point, in a fresh interpreter (no traceback, exit 2)."""
    proc = subprocess.run([sys.executable, "-m", "learnlab", "show", "mixture", "--n_modes", "0",
                           "--out", str(tmp_path / "x.png")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "n_modes=0" in proc.stderr, proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_list_describes_knobs(capsys):
    assert main(["show", "--list"]) == 0
    text = capsys.readouterr().out
    assert "mixture:" in text and "--gap_fraction" in text and "number of mixture components" in text


def test_show_without_out_prints_the_traits_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["show", "mixture", "--layout", "ring", "--n_modes", "8", "--std=0.01"]) == 0
    text = capsys.readouterr().out
    assert "n_modes                8" in text and "wrote" not in text and not list(tmp_path.iterdir())
    assert main(["show", "mixture", "--n_modes", "0"]) == 2           # a knob error is itself, not "--out"
    assert "n_modes=0 is not allowed" in capsys.readouterr().err


def test_show_draws_weights_labels_and_triangle_pieces(tmp_path, monkeypatch):
    import distributions
    from analysis import show
    figs = []
    monkeypatch.setattr(show, "_save", lambda fig, dist, path: figs.append(fig) or path)
    dist = distributions.make("mixture", layout="ring", n_modes=8, imbalance=8, std=0.05)
    show.plot_distribution(dist, tmp_path / "r.png", n=500)
    fig = figs[-1]
    ax = fig.axes[0]
    weights = sorted(float(t.get_text()) for t in ax.texts)
    assert len(weights) == 8 and sum(weights) == pytest.approx(1, abs=0.02) and weights[-1] / weights[0] > 5
    assert ax.get_legend() is None and fig.legends                    # the legend covers no mode
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert ax.get_ylabel() == "x2" and ax.yaxis.label.get_window_extent(renderer).x0 >= 0   # not clipped
    tri = distributions.make("triangles", n_components=3, gap_fraction=0.3)
    show.plot_distribution(tri, tmp_path / "t.png")
    (bar,) = [a for a in figs[-1].axes if "pieces" in a.get_xlabel()]
    kept = [p for p in bar.patches if p.get_facecolor()[0] < 0.5]      # dark: the pieces
    assert [(round(p.get_x()), round(p.get_x() + p.get_width())) for p in kept] == [(0, 28), (40, 68), (80, 108)]
    assert bar.get_xlim() == (0.0, 120.0) and "3 pieces" in bar.get_xlabel()


def test_show_draws_graphs_as_matrices_and_as_graphs(tmp_path, monkeypatch):
    import distributions
    import networkx as nx
    import torch
    from analysis import show
    figs = []
    monkeypatch.setattr(show, "_save", lambda fig, dist, path: figs.append(fig) or path)
    dist = distributions.make("graphs", model="er", n_nodes=12, connectivity=1.5)
    show.plot_distribution(dist, tmp_path / "g.png")
    drawn = [ax for ax in figs[-1].axes if ax.texts and "edges" in ax.texts[0].get_text()]
    assert len(drawn) == 4 and len(figs[-1].axes) == 16
    first = dist.sample(16, generator=torch.Generator().manual_seed(0)).numpy()[0]
    g = nx.from_numpy_array((first > 0.5).astype(int))
    assert drawn[0].texts[0].get_text().startswith(f"{g.number_of_edges()} edges, "
                                                   f"{nx.number_connected_components(g)} component")
