"""Graph GAN / VAE (models.graph, config ``arch: graph``): every objective trains with the MLP and
the GCN critic, generated adjacencies are symmetric with a zero diagonal, the Bernoulli edge
decoder's likelihood matches a brute-force sum, and a tiny run on graphs completes with the
graph metrics."""
import math

import pytest
import pytorch_lightning as pl
import torch

import distributions
import models
from distributions.data import DistributionDataModule
from experiments.train import run
from models.graph import EdgeHead, GraphHead, gan_nets

N = 6


def fit(module, dist, steps, batch_size=8):
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=DistributionDataModule(dist, batch_size=batch_size, steps=steps, seed=0))
    return module


def check_graphs(x, n, binary=True):
    a = x.reshape(len(x), n, -1)[..., :n]
    assert torch.equal(a, a.transpose(1, 2))
    assert bool((a.diagonal(dim1=1, dim2=2) == 0).all())
    if binary:
        assert bool(((a == 0) | (a == 1)).all())


@pytest.mark.parametrize("loss", list(models.objectives.OBJECTIVES))
@pytest.mark.parametrize("d_arch", ["mlp", "gcn"])
def test_graph_gan_trains_with_every_objective(loss, d_arch):
    signal = d_arch == "gcn"                         # the GCN case also carries a node signal
    dist = distributions.make("graphs", n_nodes=N, **({"signal": "gmrf"} if signal else {}))
    cfg = {"model": "gan", "arch": "graph", "d_arch": d_arch, "loss": loss, "latent_dim": 4, "g_width": 16,
           "g_depth": 1, "d_width": 16, "d_depth": 2, "batch_size": 8, "pack": 2}
    if loss == "wgan_gp":
        cfg["gp_weight"] = 1.0
    pl.seed_everything(0, verbose=False)
    dim = N * (N + 1) if signal else N * N
    m = fit(models.build(cfg, dim, event_shape=dist.event_shape), dist, steps=3)
    assert m.status(0) == "complete" and m.steps == 3
    x = m.sample(7, generator=torch.Generator().manual_seed(0))
    assert x.shape == (7, dim)
    check_graphs(x, N)
    assert torch.equal(x, m.sample(7, generator=torch.Generator().manual_seed(0)))   # edge noise seeded too


@pytest.mark.parametrize("edges", ["straight_through", "relaxed"])
def test_edge_generator_is_symmetric_and_passes_gradients(edges):
    torch.manual_seed(0)
    cfg = models.validate_config({"model": "gan", "arch": "graph", "edges": edges, "latent_dim": 3,
                                  "g_width": 8, "g_depth": 1})
    net, _, head = gan_nets(cfg, (N, N))
    x = head(net(torch.randn(50, 3)), torch.rand(50, head.n_edges))
    assert isinstance(head, EdgeHead) and not list(head.parameters())   # the head has nothing to learn
    check_graphs(x.detach(), N, binary=edges == "straight_through")
    if edges == "relaxed":
        assert 0 < x.detach().mean() < 1
    (x * torch.randn_like(x)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_graph_vae_bernoulli_edges_match_brute_force_and_sample_graphs():
    torch.manual_seed(0)
    head = GraphHead(4, signal=False, decoder_var="learned", decoder_std=None)
    logits = torch.randn(3, 6)
    x = distributions.make("graphs", n_nodes=4, connectivity=2.0).sample(3, generator=torch.Generator().manual_seed(0))
    want = torch.zeros(3)
    for b in range(3):
        k = 0
        for i in range(4):
            for j in range(i + 1, 4):
                p = torch.sigmoid(logits[b, k])
                want[b] += torch.log(p if x[b, i, j] == 1 else 1 - p)
                k += 1
    assert torch.allclose(head.log_prob(x.flatten(1), logits), want, atol=1e-5)
    dist = distributions.make("graphs", n_nodes=N, signal="gmrf")
    pl.seed_everything(0, verbose=False)
    m = fit(models.build({"model": "vae", "arch": "graph", "latent_dim": 4, "enc_width": 16, "dec_width": 16,
                          "batch_size": 8}, N * (N + 1), event_shape=dist.event_shape), dist, steps=5)
    assert m.status(0) == "complete"
    check_graphs(m.sample(9, generator=torch.Generator().manual_seed(0)), N)
    assert math.isfinite(m.log_likelihood(dist.sample(4).flatten(1), k=8).mean().item())


def test_graph_config_errors():
    with pytest.raises(ValueError, match=r"key arch='graph' is not allowed for data of event shape \(1, 8, 8\)"):
        models.build({"model": "gan", "arch": "graph"}, 64, event_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="key d_arch='gcn' is not allowed: it applies to arch 'graph'"):
        models.validate_config({"model": "gan", "d_arch": "gcn"})
    with pytest.raises(ValueError, match="key likelihood='gaussian' is not allowed"):
        models.validate_config({"model": "vae", "arch": "graph", "likelihood": "gaussian"})
    with pytest.raises(ValueError, match="key temperature=1.0 is not allowed: it applies to arch 'graph'"):
        models.validate_config({"model": "gan", "temperature": 1.0})


@pytest.mark.parametrize("model", ["gan", "vae"])
def test_tiny_run_on_graphs_has_the_graph_metrics(tmp_path, model):
    spec = ({"model": "gan", "arch": "graph", "g_width": 16, "d_width": 16} if model == "gan"
            else {"model": "vae", "arch": "graph", "enc_width": 16, "dec_width": 16})
    cfg = {"data": {"family": "graphs", "n_nodes": 8, "connectivity": 1.5},
           "model": {**spec, "latent_dim": 4, "batch_size": 16},
           "train": {"steps": 10, "eval_every": 5, "eval_samples": 40, "final_real": 40, "plots": False,
                     "tensorboard": False}}
    rec = run(cfg, tmp_path)
    assert rec["status"] == "complete", rec.get("traceback")
    met = rec["metrics"]
    for key in ("connected_fake", "connected_real", "mmd2_degree_rbf_0.1", "mmd2_spectrum_rbf_0.1", "unique"):
        assert key in met and math.isfinite(met[key])
    assert 0 <= met["connected_fake"] <= 1 and met["asymmetry"] == 0.0
    assert all(0 <= h["coverage"] <= 1 for h in rec["history"])
