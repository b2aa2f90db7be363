import pytest
import pytorch_lightning as pl
import torch

import distributions
from distributions.data import DistributionDataModule


class Recorder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)
        self.seen = []

    def training_step(self, batch, idx):
        self.seen.append(batch.clone())
        return self.lin(batch).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def fit(dm, steps=4):
    m = Recorder()
    pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, accelerator="cpu").fit(m, dm)
    return m.seen


@pytest.mark.parametrize("n_train", [None, 500])
def test_trainer_sees_the_same_batches_as_a_plain_loop(n_train):
    d = distributions.make("mixture", n_modes=4)
    seen = fit(DistributionDataModule(d, batch_size=32, n_train=n_train, seed=5))
    plain = DistributionDataModule(d, batch_size=32, n_train=n_train, seed=5).batches()
    assert len(seen) == 4
    for b in seen:
        assert b.shape == (32, 2) and b.dtype == torch.float32
        assert torch.equal(b, next(plain))


def test_fixed_training_set_only_repeats_its_points():
    d = distributions.make("manifold", shape="circle")
    dm = DistributionDataModule(d, batch_size=64, n_train=10, seed=1)
    train = d.sample(10, generator=torch.Generator().manual_seed(1))
    batch = dm.batch()
    assert (batch[:, None] == train[None]).all(dim=-1).any(dim=1).all()      # each row is a training point, bit for bit
    assert len(torch.unique(batch, dim=0)) <= 10


def test_streaming_gives_fresh_samples_and_seed_matters():
    d = distributions.make("mixture")
    a = DistributionDataModule(d, batch_size=16, seed=0).batches()
    first, second = next(a), next(a)
    assert not torch.equal(first, second)
    assert not torch.equal(first, next(DistributionDataModule(d, batch_size=16, seed=1).batches()))


@pytest.mark.parametrize("kw,name", [(dict(batch_size=0), "batch_size"), (dict(batch_size=8, n_train=0), "n_train"),
                                     (dict(batch_size=8, seed=-1), "seed"), (dict(batch_size=2.0), "batch_size")])
def test_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=name):
        DistributionDataModule(distributions.make("mixture"), **kw)


def test_steps_make_one_epoch_of_exactly_that_many_batches():
    dm = DistributionDataModule(distributions.make("mixture"), batch_size=8, steps=7)
    m = Recorder()
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, accelerator="cpu").fit(m, dm)
    assert len(m.seen) == 7


@pytest.mark.parametrize("steps,k", [(7, 3), (9, 3), (5, 1)])
def test_steps_per_batch_stacks_the_same_stream(steps, k):
    d = distributions.make("mixture", n_modes=4)
    seen = []

    class Stacks(Recorder):
        def training_step(self, batch, idx):
            seen.append(batch.clone())
            return super().training_step(batch, idx)

    dm = DistributionDataModule(d, batch_size=8, seed=2, steps=steps, steps_per_batch=k)
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, accelerator="cpu").fit(Stacks(), dm)
    assert len(seen) == -(-steps // k)                       # Lightning batches
    flat = torch.cat(seen) if k > 1 else torch.stack(seen)   # [steps, 8, 2] either way
    assert flat.shape == (steps, 8, 2)
    if k > 1:
        assert [len(b) for b in seen] == [k] * (steps // k) + ([steps % k] if steps % k else [])
    plain = DistributionDataModule(d, batch_size=8, seed=2).batches()
    for b in flat:
        assert torch.equal(b, next(plain))


def test_bad_steps_per_batch():
    with pytest.raises(ValueError, match=r"steps_per_batch=0 is not allowed"):
        DistributionDataModule(distributions.make("mixture"), batch_size=8, steps_per_batch=0)


def test_member_streams_are_the_single_streams():
    """Members: batches [K, B, ...], member k's rows exactly those of a one-distribution module
    with seed k, also with a fixed training set and with several steps per Lightning batch."""
    ring = distributions.make("mixture", layout="ring", n_modes=4)
    line = distributions.make("manifold", shape="line", noise=0.1)
    for n_train in (None, 50):
        both = DistributionDataModule([ring, line], batch_size=16, n_train=n_train, seed=[3, 5])
        alone = [DistributionDataModule(d, batch_size=16, n_train=n_train, seed=s) for d, s in ((ring, 3), (line, 5))]
        for _ in range(3):
            x = both.batch()
            assert x.shape == (2, 16, 2)
            for k, dm in enumerate(alone):
                assert torch.equal(x[k], dm.batch())
    with pytest.raises(ValueError, match="2 distributions for 1 seeds"):
        DistributionDataModule([ring, line], batch_size=4, seed=[0])
    with pytest.raises(ValueError, match="differ in event shape"):
        DistributionDataModule([ring, distributions.make("mixture", n_modes=4, dim=3)], batch_size=4, seed=[0, 1])
