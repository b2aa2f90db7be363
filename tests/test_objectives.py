"""GAN objectives on hand-computed inputs, and the gradient penalties on critics with known gradients."""
import math

import pytest
import torch

from models import objectives
from models.objectives import OBJECTIVES

sp = lambda a: math.log1p(math.exp(a))          # softplus: -log sigma(-a) = -log(1 - sigma(a))

# r = C(x_real), f = C(x_fake); E r = 0.5, E f = -0.5
R = torch.tensor([0.0, 1.0])
F = torch.tensor([0.0, -1.0])

KNOWN = {  # name: (critic loss, generator loss), worked out by hand from REFERENCES.md section 5
    "non_saturating": (sp(0) + sp(-1), (sp(0) + sp(1)) / 2),
    "minimax": (sp(0) + sp(-1), -(sp(0) + sp(-1)) / 2),
    "wgan_gp": (-1.0, 0.5),
    "hinge": ((1 + 0) / 2 + (1 + 0) / 2, 0.5),
    "least_squares": ((1 + 0) / 2 + (0 + 1) / 2, (1 + 4) / 2),
    "rsgan": ((sp(0) + sp(-2)) / 2, (sp(0) + sp(2)) / 2),
    "ragan": (2 * (sp(-0.5) + sp(-1.5)) / 2, 2 * (sp(0.5) + sp(1.5)) / 2),
    "wgan_div": (-1.0, 0.5),
    "gan_qp": (-1.0, 1.0),      # critic loss without the quadratic term, tested below
}


def test_registry_names():
    assert list(OBJECTIVES) == ["non_saturating", "minimax", "wgan_gp", "hinge", "least_squares",
                                "rsgan", "ragan", "wgan_div", "gan_qp"]
    assert objectives.CONSTANTS == {"gp_weight": ("wgan_gp",), "div_k": ("wgan_div",),
                                    "div_p": ("wgan_div",), "qp_lambda": ("gan_qp",)}
    with pytest.raises(ValueError, match="unknown loss 'ns'.*'non_saturating'"):
        objectives.get("ns")


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_losses_known_answers(name):
    obj = OBJECTIVES[name]
    d, g = KNOWN[name]
    assert obj.d_loss(R, F).item() == pytest.approx(d, abs=1e-6)
    assert obj.g_loss(R if obj.g_uses_real else None, F).item() == pytest.approx(g, abs=1e-6)


def test_minimax_and_ns_share_the_critic_loss_and_their_generator_gradients_differ():
    f = torch.tensor([-3.0], requires_grad=True)         # a confident critic: sigma(f) ~ 0.047
    (g_mm,) = torch.autograd.grad(OBJECTIVES["minimax"].g_loss(None, f), f)
    (g_ns,) = torch.autograd.grad(OBJECTIVES["non_saturating"].g_loss(None, f), f)
    s = 1 / (1 + math.exp(3))
    assert g_mm.item() == pytest.approx(-s, rel=1e-5)           # saturates
    assert g_ns.item() == pytest.approx(-(1 - s), rel=1e-5)     # does not


def linear_critic():
    c = torch.nn.Linear(2, 1)
    with torch.no_grad():
        c.weight.copy_(torch.tensor([[3.0, 4.0]]))              # ||w|| = 5
        c.bias.fill_(0.7)
    return c


def test_gradient_penalty_of_a_linear_critic():
    x_real, x_fake, alpha = torch.randn(64, 2), torch.randn(64, 2), torch.rand(64, 1)
    gp = objectives.gradient_penalty(linear_critic(), x_real, x_fake, alpha, gp_weight=0.1)
    assert gp.item() == pytest.approx(0.1 * (5 - 1) ** 2, rel=1e-6)
    obj = OBJECTIVES["wgan_gp"]
    assert obj.interpolates and not OBJECTIVES["gan_qp"].interpolates
    assert obj.penalty(linear_critic(), x_real, x_fake, None, None, alpha, gp_weight=10.0).item() == pytest.approx(160.0)
    # K members: x [K, n, D] -> one penalty per member
    two = lambda x: torch.stack([linear_critic()(x[0]), 2 * linear_critic()(x[1])])      # ||grad|| 5 and 10
    gp = objectives.gradient_penalty(two, x_real.expand(2, 64, 2), x_fake.expand(2, 64, 2), alpha.expand(2, 64, 1), 1.0)
    assert gp.tolist() == pytest.approx([16.0, 81.0])


def test_gradient_penalty_is_taken_on_the_line_between_real_and_fake():
    critic = lambda x: 0.5 * (x ** 2).sum(1, keepdim=True)     # grad C(x) = x
    x = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    # real == fake: x_hat = x whatever alpha is, ||grad|| = ||x|| = 3 and 0.5
    gp = objectives.gradient_penalty(critic, x, x.clone(), torch.rand(2, 1), gp_weight=2.0)
    assert gp.item() == pytest.approx(2.0 * ((3 - 1) ** 2 + (0.5 - 1) ** 2) / 2)
    # real = 0, fake = x: x_hat = alpha x
    alpha = torch.tensor([[0.25], [0.5]])
    gp = objectives.gradient_penalty(critic, torch.zeros_like(x), x, alpha, gp_weight=1.0)
    expected = ((alpha[:, 0] * x.norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-6)


def test_gradient_penalty_keeps_the_graph_for_the_critic_update():
    critic = linear_critic()
    gp = objectives.gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2), torch.rand(8, 1), gp_weight=1.0)
    gp.backward()                                   # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(critic.weight.grad, 2 * 4 * torch.tensor([[3.0, 4.0]]) / 5)


def test_wgan_div_penalty_of_a_linear_critic():
    x_real, x_fake = torch.randn(16, 2), torch.randn(16, 2)
    assert objectives.div_penalty(linear_critic(), x_real, x_fake, torch.rand(16, 1), div_k=2.0,
                                  div_p=6.0).item() == pytest.approx(2 * 5 ** 6)
    assert OBJECTIVES["wgan_div"].constants == {"div_k": 2.0, "div_p": 6.0}


def test_gan_qp_quadratic_term():
    x_real = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    x_fake = torch.tensor([[1.0, 1.0], [0.0, 2.0]])       # mean |difference| = 1 for both pairs
    # (r - f)^2 = [0, 4]; / (2 * 10 * 1) -> [0, 0.2]; mean 0.1
    assert objectives.qp_penalty(R, F, x_real, x_fake, qp_lambda=10.0).item() == pytest.approx(0.1)
    obj = OBJECTIVES["gan_qp"]
    total = obj.d_loss(R, F) + obj.penalty(None, x_real, x_fake, R, F, None, qp_lambda=10.0)
    assert total.item() == pytest.approx(-1.0 + 0.1)
