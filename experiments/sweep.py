"""Run a sweep: validate it whole, lay out every trial, then let workers claim and run them.

``run_sweep(config_path, storage=None, workers=1)`` is what ``learnlab sweep`` calls. With
``workers > 1`` it starts that many worker processes on the same store and shows one progress
bar; each worker (also on other machines, given a shared ``--storage`` URL) runs ``work``.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import torch
from tqdm import tqdm

import distributions  # noqa: F401  (families register on import)
from metrics import evaluate

from . import optuna_api, store
from .config import make_distribution
from .resume import check_export, import_export
from .sweep_config import Sweep, key_name, load_sweep
from .train import run_group, signature

GRACE = 300.0          # seconds without a heartbeat before another machine's trial is abandoned
BEAT = 20.0            # seconds between heartbeats


def check_metric(sweep: Sweep) -> None:
    """The objective must be a metric that ``evaluate`` gives for this family."""
    dist = make_distribution(sweep.trials[0].config)
    g = torch.Generator().manual_seed(0)
    with warnings.catch_warnings():          # only the names matter (small discrete families repeat samples)
        warnings.simplefilter("ignore")
        names = set(evaluate(dist, dist.sample(64, generator=g), real=dist.sample(64, generator=g)))
    if sweep.metric not in names:
        raise ValueError(f"sweep: objective.metric={sweep.metric!r} is not allowed for family "
                         f"{dist.family!r}; expected one of {', '.join(sorted(names))}")


def first_difference(old: Any, new: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """(dotted key, old value, new value) of the first difference between two configs; None if equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            where = f"{path}.{k}" if path else str(k)
            if k not in old or k not in new:
                return where, old.get(k, "(absent)"), new.get(k, "(absent)")
            found = first_difference(old[k], new[k], where)
            if found:
                return found
        return None
    return None if old == new else (path or "(config)", old, new)


def open_study(sweep: Sweep, url: str | None, root: Path | str = store.ROOT, accept_changes: bool = False) -> optuna.Study:
    """The sweep's study, created on first use. A stored study whose config differs from this one
    is refused (one line naming the first differing key) unless ``accept_changes``: then the new
    config is stored (the old one kept in ``sweep_changes``) and keys already done keep their runs."""
    storage = store.open_storage(sweep.study, url, root)
    direction = "maximize" if sweep.direction == "maximize" else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:                   # load first: create_study appends a record to the journal at every start
        study = optuna.load_study(study_name=sweep.study, storage=storage)
    except KeyError:
        study = optuna.create_study(study_name=sweep.study, storage=storage, direction=direction, load_if_exists=True)
    stored = study.user_attrs.get("sweep")
    if stored is None:
        study.set_user_attr("sweep", sweep.raw)
        study.set_user_attr("metric", sweep.metric)
    elif stored != sweep.raw:
        if not accept_changes:
            where, was, now = first_difference(stored, sweep.raw)
            raise ValueError(f"sweep: study {sweep.study!r} was run with {where}={was!r}, this config has {now!r}; "
                             "use a new --study name, or --accept-changes to continue it (done keys keep their runs)")
        study.set_user_attr("sweep_changes", [*study.user_attrs.get("sweep_changes", []), stored])
        study.set_user_attr("sweep", sweep.raw)
        study.set_user_attr("metric", sweep.metric)
    return study


def prepare(sweep: Sweep, url: str | None, root: Path | str = store.ROOT, grace: float = GRACE,
            accept_changes: bool = False, say=None, from_export: Path | str | None = None) -> optuna.Study:
    """Open the sweep's study and lay out its trials; with ``from_export`` (a folder of exports)
    its exported runs enter the store first as done trials (experiments.resume)."""
    study = open_study(sweep, url, root, accept_changes)
    with store.layout_lock(study, root, say):
        if from_export is not None:
            counts = import_export(study, sweep, from_export, root, url)
            (say or _say)(f"{sweep.study}: {counts['imported']} runs imported from {from_export}; run again: "
                          f"{counts['changed']} whose config changed, {counts['failed']} failed; "
                          f"{counts['held']} already in the store")
        store.ensure_layout(study, sweep, grace, url, root)
    return study


class _Heartbeat(threading.Thread):
    def __init__(self, study: optuna.Study, trial_ids: list[int]):
        super().__init__(daemon=True)
        self.study, self.trial_ids, self.stop = study, list(trial_ids), threading.Event()

    def run(self):
        while not self.stop.wait(BEAT):
            for tid in list(self.trial_ids):
                try:
                    optuna_api.set_attr(self.study, tid, "heartbeat", time.time())
                except Exception:  # noqa: BLE001 - a finished or abandoned trial: stop beating it
                    self.trial_ids.remove(tid)


def _suggest(trial: optuna.Trial, name: str, dist) -> None:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        trial.suggest_categorical(name, dist.choices)
    elif isinstance(dist, optuna.distributions.IntDistribution):
        trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    else:
        trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def work(sweep: Sweep, url: str | None = None, root: Path | str = store.ROOT, grace: float = GRACE,
         on_trial=None, ensemble: int | None = None, say=None) -> int:
    """Claim and run trials until none is waiting; returns how many this worker ran. With
    ``ensemble`` (default: the sweep's) > 1 it claims up to that many trials of one signature
    (experiments.train.signature) at once and trains them as the members of one module. Each run
    sets the torch threads its config asks for (``train.threads``), whatever the worker count.
    The config must match the stored study's (checked by ``run_sweep`` or ``prepare``)."""
    study = prepare(sweep, url, root, grace, accept_changes=False, say=say)
    specs = {s.key: s for s in sweep.trials}
    size = sweep.ensemble if ensemble is None else ensemble
    groups = {s.key: signature(s.config) for s in sweep.trials} if size > 1 else {}
    ran = 0
    while True:
        trials = store.claim_group(study, size, groups.get)
        if not trials:
            with store.layout_lock(study, root, say):    # dead workers' trials?
                if store.ensure_layout(study, sweep, grace, url, root)["queued"] == 0:
                    return ran
            continue
        todo = []
        for trial in trials:
            spec = specs[trial.user_attrs["key"]]
            for name in store.params_of(spec):       # fixed values from the queue, shown as params
                _suggest(trial, name, sweep.space[name])
            todo.append((trial, spec, store.trial_folder(sweep.study, trial.number, root, url)))
        beat = _Heartbeat(study, [optuna_api.trial_id(t) for t, _, _ in todo])
        beat.start()
        try:
            recs = run_group([spec.config for _, spec, _ in todo], [d for _, _, d in todo],
                             names=[key_name(spec.key) for _, spec, _ in todo])
        finally:
            beat.stop.set()
        for (trial, _, log_dir), rec in zip(todo, recs):
            try:
                store.finish(study, optuna_api.trial_id(trial), rec, log_dir, sweep.metric)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass        # abandoned by recovery while it ran (no heartbeat): its replacement counts
            ran += 1
            if on_trial is not None:
                on_trial()


def _worker_main(config_path: str, study_name: str | None, url: str | None, root: str, grace: float,
                 ensemble: int | None) -> None:
    work(load_sweep(config_path, study_name), url, root, grace, ensemble=ensemble)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_sweep(config_path: str | Path, *, storage: str | None = None, workers: int = 1, study: str | None = None,
              root: Path | str = store.ROOT, grace: float = GRACE, progress: bool = True,
              ensemble: int | None = None, accept_changes: bool = False,
              from_export: Path | str | None = None) -> Sweep:
    """Validate, lay out and run a sweep; returns the Sweep (its study holds the results).
    ``ensemble`` overrides the config's ``ensemble`` (trials per batched ensemble);
    ``accept_changes`` continues a stored study whose config differs (``open_study``);
    ``from_export`` continues from the study's export in that folder (experiments.resume)."""
    most = {"workers": 4 * (os.cpu_count() or 1), "ensemble": 4096}
    for name, value in (("workers", workers), ("ensemble", ensemble)):
        if (value is not None or name == "workers") and (isinstance(value, bool) or not isinstance(value, int)
                                                         or not 1 <= value <= most[name]):
            raise ValueError(f"--{name}={value!r} is not allowed; expected an integer from 1 to {most[name]}")
    sweep = load_sweep(config_path, study)
    check_metric(sweep)
    if from_export is not None:
        check_export(sweep.study, from_export)
    opt = prepare(sweep, storage, root, grace, accept_changes, say=_say,   # unreachable storage fails here
                  from_export=from_export)
    total = len(sweep.trials)
    done, _ = store.progress(opt)
    # groups no larger than each local worker's share, so that no worker idles
    ensemble = min(sweep.ensemble if ensemble is None else ensemble, -(-(total - done) // workers) or 1)
    bar = tqdm(total=total, initial=done, desc=sweep.study, unit="trial", disable=not progress, dynamic_ncols=True)
    if workers == 1:
        work(sweep, storage, root, grace, on_trial=lambda: bar.update(store.progress(opt)[0] - bar.n),
             ensemble=ensemble, say=_say)
    else:
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker_main, args=(str(config_path), study, storage, str(root), grace, ensemble))
                 for _ in range(workers)]
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            time.sleep(1.0)
            bar.update(store.progress(opt)[0] - bar.n)
        for p in procs:
            p.join()
    bar.update(store.progress(opt)[0] - bar.n)
    bar.close()
    return sweep
