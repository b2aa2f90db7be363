"""Wiring: configs -> one training run (train.run) -> sweeps over traits, seeds and hyper-parameters.
The only package that imports distributions, models and metrics together."""
