"""Known answers for metrics.verdicts: every outcome on constructed sample sets and histories."""
import json
import math

import pytest
import torch

import distributions
from distributions.curves import Support
from metrics import evaluate, registry
from metrics.evaluate import support_tolerance
from metrics.manifold import coverage, knn_radii
from metrics.verdicts import FLAGS as VERDICT_FLAGS
from metrics.verdicts import Thresholds, judge, placement, summarize

RING = distributions.make("mixture", layout="ring", n_modes=8, radius=1.0, std=0.01)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _verdict(dist, x):
    """Placement and flags of samples ``x``, with coverage measured as the training callback does
    (2,500 real samples, k = 5)."""
    real = dist.sample(2500, generator=_g(9))
    tol = support_tolerance(dist, real, 3.0)[0]
    where = placement(dist, x, tol)
    fake = x[torch.isfinite(x).all(1)].float()
    where["coverage"] = coverage(real, fake, 5, radius=knn_radii(real, 5)) if len(fake) else 0.0
    weights = dist.modes.weights if dist.modes is not None else dist.component_weights
    return where, judge(where, weights)


def test_real_samples_are_learned():
    where, v = _verdict(RING, RING.sample(2500, generator=_g()))
    assert v["learned"] and v["held"] == list(range(8)) and where["on_support"] > 0.98
    assert not v["collapsed"] and where["coverage"] > 0.95


def test_modes_drawn_as_dots_and_a_line_drawn_short_collapse():
    """On the support, every component held, right weights, but under half the data covered:
    collapsed (the module docstring's scale: 2-D modes narrowed to 0.4 of their width, or a line
    half covered, cover about half; at 0.8 of the width nearly all)."""
    x = RING.sample(2500, generator=_g())
    c = RING.modes.centres[RING.modes.assign(x)[0]]
    for s, cov, outcome in ((0.8, (0.9, 1.0), "learned"), (0.4, (0.42, 0.58), None), (0.2, (0.1, 0.3), "collapsed")):
        where, v = _verdict(RING, c + s * (x - c))
        assert cov[0] < where["coverage"] < cov[1] and v["held"] == list(range(8)) and where["on_support"] > 0.98
        assert not v["misweighted"] and not v["blurred"] and not v["dropped_modes"]
        if outcome:
            assert summarize([{"step": 100, **where, **v}], 8)["outcome"] == outcome
    line = distributions.make("manifold", shape="line", n_components=1, noise=0.01)
    x = line.sample(5000, generator=_g())
    where, v = _verdict(line, x[x[:, 0] < 0][:2500])
    assert 0.44 < where["coverage"] < 0.56 and where["on_support"] > 0.98
    point = x[:1].repeat(2500, 1)                                    # the whole line drawn as one point
    where, v = _verdict(line, point)
    assert where["on_support"] == 1 and where["coverage"] < 0.01 and v["held"] == [0]
    assert v["collapsed"] and summarize([{"step": 100, **where, **v}], 1)["outcome"] == "collapsed"
    del where["coverage"]                                             # not measured: not judged on it
    assert judge(where, line.component_weights)["learned"]


def test_three_of_eight_modes_dropped_not_blurred():
    c = RING.modes.centres
    x = c[torch.randint(0, 3, (2500,), generator=_g())] + 0.01 * torch.randn(2500, 2, generator=_g(1))
    where, v = _verdict(RING, x)
    assert v["dropped_modes"] and v["dropped"] == [3, 4, 5, 6, 7] and v["held"] == [0, 1, 2]
    assert not v["blurred"] and not v["bridged"] and not v["misweighted"]
    assert v["collapsed"] and where["coverage"] < 0.45       # about 3 / 8 too: dropped_modes comes first
    assert summarize([{"step": 100, **where, **v}], 8)["outcome"] == "dropped_modes"


def test_every_mode_blurred_by_three_std_is_blurred_not_dropped():
    x = RING.sample(2500, generator=_g())
    c = RING.modes.centres[RING.modes.assign(x)[0]]
    where, v = _verdict(RING, c + 3 * (x - c))
    assert v["blurred"] and not v["dropped_modes"] and not v["bridged"]
    assert where["blur_mass"] > 0.5 and where["gap_mass"] < 0.1


def test_nothing_on_the_support_is_blur_not_dropped_modes():
    """A model that collapsed to the ring's centre holds no mode: it dropped none in particular
    (no component can be judged held or lost), so it reads blurred; one sample on a mode is enough
    to hold it, and the other seven are then dropped."""
    x = 0.01 * torch.randn(1000, 2, generator=_g())
    where, v = _verdict(RING, x)
    assert where["on_support"] == 0 and v["held"] == [] and v["dropped"] == list(range(8))
    assert not v["dropped_modes"] and v["blurred"] and not v["learned"]
    assert summarize([{"step": 100, **where, **v}], 8)["outcome"] == "blurred"
    where, v = _verdict(RING, torch.cat([x, RING.modes.centres[2:3]]))
    assert v["held"] == [2] and v["dropped_modes"] and v["blurred"]
    assert summarize([{"step": 100, **where, **v}], 8)["outcome"] == "dropped_modes"


def test_samples_on_the_gaps_of_a_line_are_bridged():
    line = distributions.make("manifold", shape="line", n_components=4, gap_fraction=0.5, noise=0.01)
    removed = Support([g.pieces[0] for g in line._gaps])
    x = removed.sample(2500, _g(), "cpu").float()              # uniform on the three removed pieces
    where, v = _verdict(line, x)
    assert v["bridged"] and where["gap_mass"] > 0.6 and where["on_support"] < 0.2


def test_mass_between_modes_is_bridged_and_a_filled_disc_is_blurred():
    c = RING.modes.centres
    t, i = torch.rand(2500, 1, generator=_g()), torch.randint(0, 8, (2500,), generator=_g(1))
    assert _verdict(RING, c[i] * (1 - t) + c[(i + 1) % 8] * t)[1]["bridged"]
    arcs = distributions.make("manifold", shape="circle", n_components=3, gap_fraction=0.3, noise=0.01)
    r, a = torch.rand(2500, generator=_g()).sqrt(), torch.rand(2500, generator=_g(1)) * 2 * math.pi
    where, v = _verdict(arcs, torch.stack([r * a.cos(), r * a.sin()], 1))
    assert v["blurred"] and not v["bridged"] and where["gap_mass"] < where["blur_mass"]


def test_gap_region_is_a_corridor_so_the_centre_of_a_ring_is_blur():
    four = distributions.make("mixture", layout="ring", n_modes=4, radius=1.0, std=0.01)
    cloud = torch.randn(2500, 2, generator=_g()) * 0.05                # an untrained GAN: a blob at 0
    where, v = _verdict(four, cloud)
    assert v["blurred"] and not v["bridged"] and where["gap_mass"] == 0
    # across the middle of one link (length sqrt(2)): within a quarter of its length, then beyond
    a, b = four.modes.centres[0], four.modes.centres[1]
    normal = torch.stack([-(b - a)[1], (b - a)[0]]) / (b - a).norm()
    inside, outside = ((a + b) / 2 + f * (b - a).norm() * normal for f in (0.2, -0.3))
    g = four.gap_distance(torch.stack([inside, outside]).double())
    assert g[0] == pytest.approx(0.2 * math.sqrt(2) / 0.01, rel=1e-6) and math.isinf(g[1])


def test_misweighted_modes():
    x = RING.sample(4000, generator=_g())
    k = RING.modes.assign(x)[0]
    keep = (k < 4) | (torch.rand(4000, generator=_g(2)) < 0.55)       # modes 4..7 at ~55% of their share
    where, v = _verdict(RING, x[keep])
    assert v["misweighted"] and not v["dropped_modes"] and v["held_js"] > 0.01


def test_nan_samples_diverged():
    x = RING.sample(100, generator=_g())
    x[:60] = math.nan
    where, v = _verdict(RING, x)
    assert v["diverged"] and not v["learned"] and where["nonfinite_fraction"] == pytest.approx(0.6)
    assert sum(where[k] for k in ("on_support", "blur_mass", "gap_mass", "nonfinite_fraction")) == pytest.approx(1)


def _entry(step, held, n=8, **flags):
    dropped = [m for m in range(n) if m not in held]
    e = {"step": step, "held": sorted(held), "dropped": dropped, "blur_mass": 0.0, "gap_mass": 0.0,
         "held_js": 0.0, "diverged": False, "misweighted": False, "blurred": False, "bridged": False,
         "collapsed": False, "dropped_modes": bool(dropped)}
    e.update(flags)
    e["learned"] = not any(e[f] for f in VERDICT_FLAGS)
    return e


@pytest.mark.parametrize("per_cycle", [1, 2, 3, 4])
def test_hopping_at_any_evaluation_rate(per_cycle):
    """The held set cycles {0, 1} -> {4, 5} -> ...: six changes, seen with 1 to 4 evaluations per set."""
    sets = [{0, 1}, {4, 5}] * 3 + [{0, 1}]
    history = [_entry(0, set(range(8)))]
    for i, s in enumerate(sets):
        history += [_entry(100 * (1 + i * per_cycle + j), s) for j in range(per_cycle)]
    v = summarize(history, 8)
    assert v["hopping"] and v["n_hops"] == 6 and v["outcome"] == "dropped_modes"
    assert v["onset"]["dropped_modes"] == 100


def test_gradual_learning_is_not_hopping_and_never_learned_has_no_onset():
    grow = [_entry(100 * i, set(range(i))) for i in range(1, 5)]
    assert summarize(grow, 8)["n_hops"] == 0
    v = summarize(grow, 8)
    assert v["never_learned"] and v["outcome"] == "dropped_modes" and v["onset"] == {} and v["dropped_modes"]


def test_learned_then_dropped_onset_and_diverged():
    h = [_entry(100, {0}), _entry(200, set(range(8))), _entry(300, {1, 2}), _entry(400, {1, 2})]
    v = summarize(h, 8)
    assert v["ever_learned"] and v["learned_step"] == 200 and v["onset"] == {"dropped_modes": 300}
    d = summarize(h[:2], 8, diverged_at=250)
    assert d["outcome"] == "diverged" and d["onset"]["diverged"] == 250


def test_bad_thresholds_and_names_say_what_is_allowed():
    with pytest.raises(ValueError, match=r"verdict threshold blur=1.5 is not allowed; expected a number in \(0, 1\]"):
        Thresholds(blur=1.5)
    with pytest.raises(ValueError, match="min_hops=0"):
        Thresholds(min_hops=0)
    with pytest.raises(ValueError, match="'covrage' does not exist; closest: coverage"):
        registry.get("covrage")


def test_evaluate_default_reference_is_not_the_users_seed_zero_stream():
    x = RING.sample(1000, generator=_g(0))
    ev = evaluate(RING, x)
    assert ev["precision"] < 1 and ev["sliced_wasserstein"] > 0
    with pytest.warns(UserWarning, match="also in the real reference set"):
        evaluate(RING, x, real=x.clone())


def test_every_evaluated_name_is_declared_once():
    names = set(evaluate(RING, RING.sample(300, generator=_g()))) | set(
        evaluate(distributions.make("manifold", shape="circle", n_components=2, gap_fraction=0.2),
                 torch.zeros(50, 2)).keys())
    for n in names:
        assert registry.known(n), n
    assert len({m.name for m in registry.METRICS.values()}) == len(registry.METRICS)


RING4 = distributions.make("mixture", n_modes=4, std=0.05)
FLAGS = (*VERDICT_FLAGS, "learned")


def test_thresholds_from_the_run_config(tmp_path):
    from experiments.config import validate
    from experiments.train import run
    base = {"data": {"family": "mixture", "n_modes": 4, "std": 0.05},
            "model": {"model": "gan", "g_width": 16, "d_width": 16, "batch_size": 64},
            "train": {"steps": 40, "eval_every": 20, "eval_samples": 200, "final_real": 200, "plots": False,
                      "tensorboard": False}}
    with pytest.raises(ValueError, match=r"verdict threshold blur=1.5 is not allowed; expected a number in \(0, 1\]"):
        validate({**base, "train": {**base["train"], "verdict": {"blur": 1.5}}})
    with pytest.raises(ValueError, match="train: verdict key 'blurr' is not allowed; expected one of held, "):
        validate({**base, "train": {**base["train"], "verdict": {"blurr": 0.2}}})
    strict = run(base, tmp_path / "a")["verdict"]
    loose = {"blur": 1.0, "gap": 1.0, "held": 1e-9}
    lax = run({**base, "train": {**base["train"], "verdict": loose}}, tmp_path / "b")["verdict"]
    assert strict["thresholds"]["blur"] == 0.1 and lax["thresholds"] == {**strict["thresholds"], **loose}
    for name, th in (("a", Thresholds()), ("b", Thresholds(**loose))):    # every evaluation judged by them
        history = json.loads((tmp_path / name / "result.json").read_text())["history"]
        weights = RING4.modes.weights
        assert all({k: h[k] for k in FLAGS} == {k: judge(h, weights, th)[k] for k in FLAGS} for h in history)
    assert strict["outcome"] != "learned" and lax["n_held"] >= strict["n_held"]


def test_triangles_are_judged_from_the_matchers_final_placement():
    from experiments.train import final_verdict
    from metrics.triangles import final_placement
    tri = distributions.make("triangles", image_size=16, n_components=2, gap_fraction=0.3)
    good = {"manifold_precision": 0.95, "manifold_precision_with_gaps": 0.96, "gap_mass": 0.01,
            "nonfinite_fraction": 0.0, "mass_0": 0.48, "mass_1": 0.47}
    entry, weights = final_placement(good, tri)
    assert weights == pytest.approx([0.5, 0.5]) and entry["gap_mass"] == pytest.approx(0.0096)
    assert entry["blur_mass"] == pytest.approx(1 - 0.95 - 0.0096)
    assert final_verdict(good, tri, 400, Thresholds())["outcome"] == "learned"
    assert final_verdict({**good, "manifold_recall": 0.9}, tri, 400, Thresholds())["outcome"] == "learned"
    assert final_verdict({**good, "manifold_recall": 0.3}, tri, 400, Thresholds())["outcome"] == "collapsed"
    one_piece = {**good, "mass_0": 0.95, "mass_1": 0.0}
    assert final_verdict(one_piece, tri, 400, Thresholds())["outcome"] == "dropped_modes"
    bridged = {**good, "manifold_precision": 0.5, "manifold_precision_with_gaps": 0.95, "gap_mass": 0.47}
    v = final_verdict(bridged, tri, 400, Thresholds())
    assert v["bridged"] and v["outcome"] == "bridged"
    far = {"manifold_precision": 0.0, "manifold_precision_with_gaps": 0.0, "gap_mass": 0.0, "nonfinite_fraction": 0.0}
    v = final_verdict(far, tri, 400, Thresholds())        # nothing on the manifold: all blur, no piece held
    assert v["outcome"] == "blurred" and not v["dropped_modes"] and v["dropped"] == [0, 1] and v["never_learned"]
    one = distributions.make("triangles", image_size=16, n_components=1)
    assert final_verdict(far, one, 400, Thresholds())["outcome"] == "blurred"     # one piece is never 'dropped'
    assert final_verdict({**far, "manifold_precision": 0.95, "mass_0": 1.0}, one, 400, Thresholds())["outcome"] == "learned"
