"The learner trains the loss it names (issue 18): `seg_learner` + `fit_poly`, step by step, against a minimal PyTorch loop written from eq. 4/5; and the check fails on mutated losses."
import tempfile
import pytest
import torch
from pmdice_nb.equivalence import (LOSS_TOL, PARAM_TOL, MUTANTS, paper_loss, pipeline_fit, minimal_run, plain_batches,
                                   step_differences, train_recorded)
from pmdice_nb.losses import get_loss
from pmdice_nb.data.synthetic import SyntheticPolyps

LOSSES = {'dice': ('dice', None), 'pm_dice_g1': ('pm_dice', {'gamma': 1.}), 'pm_dice_g2': ('pm_dice', {'gamma': 2.}),
          'ce+pm_dice': ('ce+pm_dice', None)}

@pytest.fixture(scope='module')
def ds(): return SyntheticPolyps(n=20, size=32)   # 14 training images: 3 batches of 4 per epoch, 30 steps in 10 epochs

@pytest.fixture(scope='module')
def fits(ds):
    torch.set_num_threads(1)
    return {k: pipeline_fit(ds, name, kw) for k, (name, kw) in LOSSES.items()}

@pytest.mark.parametrize('key', list(LOSSES))
def test_pipeline_matches_written_out_loss(fits, key):
    name, kw = LOSSES[key]
    rec, batches = fits[key]
    assert len(rec.losses) == 30
    d = step_differences(rec, *minimal_run(rec, batches, paper_loss(name, (kw or {}).get('gamma', 1.)), 1e-3))
    assert d['loss'] <= LOSS_TOL and d['params'] <= PARAM_TOL, d

@pytest.mark.parametrize('key', list(LOSSES))
def test_pipeline_is_minimal_loop_exactly(fits, key):
    "With the package's loss in the minimal loop, free-running: bitwise the same losses and weights."
    name, kw = LOSSES[key]
    rec, batches = fits[key]
    assert step_differences(rec, *minimal_run(rec, batches, get_loss(name, **(kw or {})), 1e-3, teacher_forced=False)) == {'loss': 0., 'params': 0.}

@pytest.mark.parametrize('mutant', list(MUTANTS))
def test_mutants_fail(fits, mutant):
    loss, kw, wrong = MUTANTS[mutant]
    rec, batches = fits['pm_dice_g2' if kw['gamma'] == 2 else 'pm_dice_g1']
    d = step_differences(rec, *minimal_run(rec, batches, wrong, 1e-3))
    assert d['loss'] > 100 * LOSS_TOL or d['params'] > 100 * PARAM_TOL, d

def test_torch_adam_differs_adamw_matches(fits):
    rec, batches = fits['pm_dice_g1']
    pm = get_loss('pm_dice')
    assert step_differences(rec, *minimal_run(rec, batches, pm, 1e-3, optimiser='torch_adam'))['params'] > 100 * PARAM_TOL
    assert step_differences(rec, *minimal_run(rec, batches, pm, 1e-3, optimiser='torch_adamw'))['params'] <= 1e-6

def test_fast_path_with_augmentation(ds):
    rec, batches = pipeline_fit(ds, 'pm_dice', {'gamma': 1.}, fast=True, augment=True, epochs=3)
    assert all(f is not None for f in rec.fields)
    assert all(torch.equal(x, bx) and torch.equal(y, by) for (x, y), (bx, by) in zip(rec.inputs, batches))
    d = step_differences(rec, *minimal_run(rec, batches, paper_loss('pm_dice'), 1e-3))
    assert d['loss'] <= LOSS_TOL and d['params'] <= PARAM_TOL, d

def test_run_one_training_path():
    "`run_one`'s `_build` and `_train` (what a study runs) train the same steps as the minimal loop."
    from pmdice_nb.experiments import RunConfig, _build, _train
    cfg = RunConfig('synthetic_polyps', 'ce+pm_dice', arch='unet', features=4, lr=1e-3, bs=4, epochs=4, crop=False,
                    augment=False, mixed_precision='no', dataset_kwargs={'n': 20, 'size': 32})
    with tempfile.TemporaryDirectory() as work:
        ds, split, learn = _build(cfg, work, 'cpu', False)
        rec = train_recorded(learn, cfg.epochs, train=lambda l, e, cbs: _train(l, e, cbs, False))
    batches = plain_batches(ds, split['train'], rec, cfg.bs)
    assert len(batches) == len(rec.losses) > 0
    d = step_differences(rec, *minimal_run(rec, batches, paper_loss('ce+pm_dice'), cfg.lr))
    assert d['loss'] <= LOSS_TOL and d['params'] <= PARAM_TOL, d
