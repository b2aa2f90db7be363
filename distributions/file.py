"""A user's own data as a family: points, a folder of PNG images or a folder of graphs.

    dist = distributions.make("file", path="points.npy")    # or .csv, or a folder
    x = dist.sample(500, generator=torch.Generator().manual_seed(0))   # rows of dist.data

``path`` (the one knob, required) is one of
- points: a ``.npy`` array [n, d] or a ``.csv`` file, one row per point, numbers only (no
  header, comma-separated, the same number on every row) -> event shape [d];
- a folder of ``.png`` images, all the same size -> [1, H, W] in [0, 1], as ``triangles``: 8- and
  16-bit values scaled by 255 / 65535; colour converted to grey by PIL's luma (L = 0.299 R +
  0.587 G + 0.114 B), alpha ignored;
- a folder of graphs, one per file: ``.edgelist`` / ``.txt`` (``u v`` per line, ``#`` comments,
  further columns ignored: networkx's edge-list format), ``.graphml`` or ``.gml`` -> adjacency
  [N, N] as ``graphs`` without a signal: 0/1, symmetric, zero diagonal (directions, weights,
  multi-edges and self-loops dropped). Nodes are in the order of their names when every name is
  an integer, else in the file's order; N is the largest node count and smaller graphs get
  isolated nodes appended (an edge list cannot list a node without edges anyway).
Files are read in name order; hidden files (``.name``) and sub-folders are skipped.

A relative ``path`` is resolved against the working directory when the distribution is made
(so when a config is validated) and ``params["path"]`` records it absolute. Everything is read
and checked when the distribution is made: bad input is one ValueError line naming the file,
the problem and what is allowed. Loaded data are cached by path and file modification times.

``sample`` draws rows of ``data`` uniformly with replacement. There is no ground truth: no
modes, log_prob, support distance or support points, and the traits are facts of the data
(n_samples, ambient_dim, height and width or n_nodes). Graph folders have ``graph_structure``:
their samples are graphs, so the graph metrics (against real samples) apply; the ones that need
a family's true values (``*_true``) are skipped. With fewer rows than a metric's real samples,
rows repeat in the reference set.
"""
from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .base import Distribution
from .graphs import Graphs
from .knobs import Knob, check_fits

POINTS, IMAGES, GRAPHS = (".npy", ".csv"), (".png",), (".edgelist", ".txt", ".graphml", ".gml")
ALLOWED = ("a .npy or .csv file of points, or a folder of .png images or of graph files "
           "(.edgelist, .txt, .graphml, .gml)")
NO_TRUTH = "no ground truth for a user's data: only its samples are known"
MAX_NODES = Graphs.knobs["n_nodes"].high


def bad(path: Path | str, problem: str, allowed: str) -> ValueError:
    """One line naming the file, the problem and what is allowed."""
    return ValueError(f"file: path {str(path)!r}{'' if problem.startswith(':') else ' '}{problem}; expected {allowed}")


def load_points(path: Path) -> np.ndarray:
    """The points float64 [n, d] of a .npy or .csv file (finite numbers), or one ValueError line."""
    path = Path(path)
    rows = "one point per row, the same number of comma-separated numbers on every row"
    try:
        if path.suffix.lower() == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".csv":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")               # an empty file: "input contained no data"
                x = np.loadtxt(path, delimiter=",", ndmin=2)
        else:
            raise bad(path, f"has suffix {path.suffix!r}", ALLOWED)
    except (ValueError, OSError, EOFError) as err:
        if str(err).startswith("file: path"):
            raise
        why = " ".join(str(err).split()).split("; use `usecols`")[0][:160]
        raise bad(path, f"cannot be read as numbers ({why})", rows if path.suffix.lower() == ".csv" else
                  "a .npy array of numbers [n, d]") from None
    if x.dtype.kind not in "fiub" or x.ndim != 2 or x.shape[1] < 1:
        raise bad(path, f"holds {x.dtype} values of shape {list(x.shape)}", "numbers of shape [n, d] (points "
                  "as rows; a single column as [n, 1])")
    finite = np.isfinite(x).all(1)
    if not finite.all():
        raise bad(path, f": {int((~finite).sum())} of {len(x)} samples have non-finite values (the first is "
                  f"row {int(np.argmin(finite))})", "finite numbers")
    return x.astype(np.float64)


def _png(path: Path, mode: str = "size"):
    """Open the PNG at ``path`` and return its (width, height), or with mode "pixels" its grey
    values in [0, 1] (16-bit by 65535, anything else as 8-bit luma by 255); one line otherwise."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise bad(path, f"is a {img.format} image", "PNG images")
            if mode == "size":
                return img.size
            if img.mode.startswith("I"):
                return np.asarray(img, dtype=np.float64) / 65535
            return np.asarray(img.convert("L"), dtype=np.float64) / 255
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as err:
        raise bad(path, f"cannot be read as an image ({' '.join(str(err).split())[:120]})", "PNG images") from None


def load_images(files: list[Path]) -> np.ndarray:
    """float32 [n, 1, H, W] of PNG files of one size; every size is checked before pixels are read."""
    w, h = _png(files[0])
    for f in files[1:]:
        size = _png(f)
        if size != (w, h):
            raise bad(f, f"is {size[0]}x{size[1]} pixels (width x height) but {files[0].name!r} is {w}x{h}",
                      "every image the same size")
    check_fits("file", f"path {str(files[0].parent)!r}: the number of images", len(files), (1, h, w))
    out = np.empty((len(files), 1, h, w), dtype=np.float32)
    for i, f in enumerate(files):
        out[i, 0] = _png(f, "pixels")
    return out


def _graph(path: Path):
    """The networkx graph in one file, undirected and simple, or one ValueError line."""
    import networkx as nx
    suffix = path.suffix.lower()
    try:
        if suffix in (".edgelist", ".txt"):
            lines = path.read_text().splitlines()
            for i, line in enumerate(lines):
                tokens = line.split("#")[0].split()
                if len(tokens) == 1:
                    raise bad(path, f"line {i + 1} holds one value ({tokens[0][:40]!r})",
                              "an edge list: two node names per line ('u v', spaces between, # comments)")
            g = nx.parse_edgelist(lines, nodetype=str, data=False)
        else:
            g = nx.read_graphml(path) if suffix == ".graphml" else nx.read_gml(path, label=None)
    except (ValueError, OSError, UnicodeDecodeError, nx.NetworkXError, SyntaxError, TypeError, KeyError) as err:
        if str(err).startswith("file: path"):
            raise
        kind = "an edge list (u v per line)" if suffix in (".edgelist", ".txt") else f"a {suffix[1:]} graph"
        raise bad(path, f"cannot be read as {kind} ({' '.join(str(err).split())[:120]})", kind) from None
    g = nx.Graph(g.to_undirected() if g.is_directed() else g)
    g.remove_edges_from(nx.selfloop_edges(g))
    if g.number_of_nodes() == 0:
        raise bad(path, "holds no graph (no nodes)", "a graph with at least one node (a graph without edges "
                  "needs .graphml or .gml: an edge list cannot list its nodes)")
    if g.number_of_nodes() > MAX_NODES:
        raise bad(path, f"holds a graph of {g.number_of_nodes()} nodes", f"at most {MAX_NODES} nodes "
                  "(the graphs family's limit)")
    return g


def _node_order(g) -> list:
    try:
        return sorted(g.nodes, key=int)          # integer names: in their order
    except (TypeError, ValueError):
        return list(g.nodes)


def load_graphs(files: list[Path]) -> np.ndarray:
    """float32 adjacency [n, N, N] of one graph per file, N the largest node count (padded)."""
    import networkx as nx
    graphs = [_graph(f) for f in files]
    n = max(max(g.number_of_nodes() for g in graphs), 2)
    check_fits("file", f"path {str(files[0].parent)!r}: the number of graphs", len(files), (n, n))
    out = np.zeros((len(graphs), n, n), dtype=np.float32)
    for i, g in enumerate(graphs):
        m = g.number_of_nodes()
        out[i, :m, :m] = nx.to_numpy_array(g, nodelist=_node_order(g), weight=None) > 0
    return out


def _folder(path: Path) -> tuple[str, list[Path]]:
    """(kind, files) of a folder of images or graphs, or one ValueError line."""
    try:
        files = sorted(f for f in path.iterdir() if not f.name.startswith(".") and f.is_file())
    except OSError as err:
        raise bad(path, f"cannot be listed ({err.strerror})", ALLOWED) from None
    if not files:
        raise bad(path, "is an empty folder", ALLOWED)
    kinds = set()
    for f in files:
        s = f.suffix.lower()
        if s not in IMAGES + GRAPHS:
            raise bad(f, f"has suffix {f.suffix!r}", "a folder holding only .png images or only graph files "
                      "(.edgelist, .txt, .graphml, .gml)")
        kinds.add("images" if s in IMAGES else "graphs")
    if len(kinds) > 1:
        raise bad(path, "holds both images and graph files", "a folder of one kind of data")
    return kinds.pop(), files


@functools.lru_cache(maxsize=4)
def _load(path: str, stamp: tuple) -> tuple[str, torch.Tensor]:
    """(kind, float32 data [n, *event]) of ``path``; ``stamp`` (the files' sizes and modification
    times) keys the cache, so a changed file is read again."""
    p = Path(path)
    if p.is_dir():
        kind, files = _folder(p)
        x = (load_images if kind == "images" else load_graphs)(files)
    else:
        if p.suffix.lower() in IMAGES + GRAPHS:
            raise bad(p, f"is a single {p.suffix} file", f"a folder of such files (e.g. {str(p.parent)!r}), "
                      "or a .npy or .csv file of points")
        kind, x = "points", load_points(p).astype(np.float32)
    if len(x) < 2:
        raise bad(p, f"holds {len(x)} sample{'s' * (len(x) != 1)}", "at least 2 samples")
    return kind, torch.from_numpy(x)


def _stamp(p: Path) -> tuple:
    """The (name, size, mtime) of ``p`` or of the files in folder ``p``; one line if it is missing."""
    try:
        files = sorted(p.iterdir()) if p.is_dir() else [p]
        return tuple((f.name, s.st_size, s.st_mtime_ns) for f in files for s in [f.stat()])
    except FileNotFoundError:
        raise bad(p, "does not exist", ALLOWED) from None
    except OSError as err:
        raise bad(p, f"cannot be read ({err.strerror})", ALLOWED) from None


class File(Distribution):
    """``kind`` (points, images or graphs) and ``data``, the rows read, float32 [n, *event_shape] on
    the CPU (shared with the cache: read them, never write)."""
    family = "file"
    cacheable = False               # a member depends on files and the working directory, not only its knobs
    summary = "a user's own data: points (.npy / .csv), a folder of PNG images or a folder of graphs"
    knobs = {"path": Knob("path", str, None, "a .npy / .csv file of points, or a folder of .png images or of "
                          "graph files (.edgelist, .txt, .graphml, .gml); relative to the working directory",
                          required=True)}

    def _setup(self, *, path):
        if not path.strip():
            raise bad(path, "is empty", ALLOWED)
        p = Path(os.path.abspath(os.path.expanduser(path)))
        if not os.access(p, os.R_OK):
            raise bad(p, "does not exist" if not p.exists() else "cannot be read (permission denied)", ALLOWED)
        self.kind, self.data = _load(str(p), _stamp(p))
        self.params["path"] = str(p)
        self.event_shape = tuple(self.data.shape[1:])
        self.ground_truth = frozenset({"graph_structure"}) if self.kind == "graphs" else frozenset()
        self.missing = dict.fromkeys(("log_prob", "support_distance", "modes", "support_points", "traits"), NO_TRUTH)
        shape = dict(zip(("height", "width"), self.event_shape[1:])) if self.kind == "images" else \
            {"n_nodes": self.event_shape[0]} if self.kind == "graphs" else {}
        self.traits = {"n_samples": float(len(self.data)), "ambient_dim": float(self.data[0].numel()),
                       **{k: float(v) for k, v in shape.items()}}
        self._copies: dict[torch.device, torch.Tensor] = {}

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """``n`` rows of ``data`` drawn uniformly with replacement: float32 [n, *event_shape]."""
        generator, dev = self._resolve_generator(n, generator, device)
        if dev not in self._copies:
            self._copies[dev] = self.data.to(dev)
        idx = torch.randint(len(self.data), (n,), generator=generator, device=dev)
        return self._copies[dev][idx]
