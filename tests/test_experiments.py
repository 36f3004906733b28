"Integration tests of pmdice_nb.experiments and pmdice_nb.cli: resuming grids, shards, tables, configs, one run per dataset kind."
import json, os, subprocess, sys, textwrap, warnings
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch

from pmdice_nb.losses import PAPER_LOSSES
from pmdice_nb.records import run_path, load_records
from pmdice_nb.experiments import (RunConfig, DATASETS, grid_configs, shard_configs, parse_shard, run_grid, run_one, is_done)
from pmdice_nb.tables import results_table, format_table, rank_marks, write_tables
from pmdice_nb.cli import main
from pmdice_nb.data.fakes import make_fake_acdc, make_fake_msseg2016

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / 'data' / 'samples'
TINY = dict(arch='unet', features=4, epochs=1, bs=4, size=(32, 32), crop=False, lr=3e-3,
            dataset_kwargs={'n': 8, 'size': 32})


pytestmark = pytest.mark.usefixtures('one_thread')   # tests/conftest.py


def _all_files(runs):
    return sorted(p.relative_to(runs).as_posix() for p in Path(runs).rglob('*') if p.is_file())


# --- resuming --------------------------------------------------------------------------------------------------

class Stop(Exception): pass


def test_grid_resumes_after_an_exception(tmp_path):
    grid = grid_configs('synthetic_polyps', losses=['dice', 'ce', 'pm_dice'], seeds=(0,), **TINY)
    calls = []
    def stop_after_first(cfg, record):
        calls.append(cfg.loss)
        raise Stop(cfg.loss)
    with pytest.raises(Stop): run_grid(grid, tmp_path, progress=False, after_run=stop_after_first)
    first = run_path(tmp_path, grid[0])
    stamp = json.loads(first.read_text())['finished'], first.stat().st_mtime_ns
    status = run_grid(grid, tmp_path, progress=False, after_run=lambda cfg, rec: calls.append(cfg.loss))
    assert calls == ['dice', 'ce', 'pm_dice']  # every run exactly once
    assert status['skipped'] == [str(first)] and len(status['done']) == 2
    assert (json.loads(first.read_text())['finished'], first.stat().st_mtime_ns) == stamp  # not redone
    assert _all_files(tmp_path) == [f'synthetic_polyps/{l}/seed0.json' for l in ('ce', 'dice', 'pm_dice')]


KILLER = textwrap.dedent('''
    import os, signal, sys, torch
    from pathlib import Path
    torch.set_num_threads(1)
    from fastai.callback.core import Callback
    from pmdice_nb.experiments import grid_configs, run_grid
    runs, marker = sys.argv[1], Path(sys.argv[2])
    class KillInSecondRun(Callback):
        order = 100  # after the checkpoint is saved: a half-done run leaves files behind
        def after_epoch(self):
            if marker.exists(): os.kill(os.getpid(), signal.SIGKILL)
    tiny = dict(arch='unet', features=4, epochs=1, bs=4, size=(32, 32), crop=False, lr=3e-3,
                dataset_kwargs={'n': 8, 'size': 32})
    grid = grid_configs('synthetic_polyps', losses=['dice', 'pm_dice'], seeds=(0,), **tiny)
    run_grid(grid, runs, progress=False, cbs=[KillInSecondRun()], after_run=lambda cfg, rec: marker.touch())
''')


def test_grid_resumes_after_sigkill(tmp_path):
    runs, marker = tmp_path / 'runs', tmp_path / 'first-done'
    proc = subprocess.run([sys.executable, '-c', KILLER, str(runs), str(marker)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert marker.exists()
    left = _all_files(runs)
    assert 'synthetic_polyps/dice/seed0.json' in left and 'synthetic_polyps/pm_dice/seed0.json' not in left
    assert 'synthetic_polyps/pm_dice/.seed0.lock' in left and (runs / 'synthetic_polyps' / 'pm_dice' / '.seed0.work').is_dir()  # the killed run's
    grid = grid_configs('synthetic_polyps', losses=['dice', 'pm_dice'], seeds=(0,), **TINY)
    status = run_grid(grid, runs, progress=False)
    assert len(status['done']) == 1 and len(status['skipped']) == 1
    assert _all_files(runs) == ['synthetic_polyps/dice/seed0.json', 'synthetic_polyps/pm_dice/seed0.json']
    assert len(load_records(runs)) == 2


def test_record_of_another_config_is_an_error(tmp_path):
    cfg = RunConfig('synthetic_polyps', 'dice', **TINY)
    run_grid([cfg], tmp_path, progress=False)
    assert is_done(tmp_path, cfg)
    assert is_done(tmp_path, RunConfig('synthetic_polyps', 'dice', **{**TINY, 'num_workers': 1}))  # no effect on results
    with pytest.raises(ValueError, match='bs'):
        is_done(tmp_path, RunConfig('synthetic_polyps', 'dice', **{**TINY, 'bs': 2}))


# --- shards ----------------------------------------------------------------------------------------------------

def test_shards_partition_the_grid_deterministically():
    grid = grid_configs('synthetic_polyps', seeds=(0, 1, 2))
    assert len(grid) == 3 * len(PAPER_LOSSES) == 42
    key = lambda c: (c.seed, c.loss)
    for n in (1, 2, 4, 5, 42, 50):
        shards = [shard_configs(grid, f'{i}/{n}') for i in range(n)]
        flat = [key(c) for s in shards for c in s]
        assert sorted(flat) == sorted(map(key, grid)) and len(set(flat)) == len(grid)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
        assert [key(c) for c in shard_configs(grid, (0, n))] == [key(c) for c in shards[0]]  # same every time
    assert parse_shard(None) is None and shard_configs(grid, None) == grid
    for bad in ('4/4', '-1/4', '1/0', 'x/2', '1', '1/2/3'):
        with pytest.raises(ValueError, match=bad.replace('/', '.')): parse_shard(bad)


# --- tables ----------------------------------------------------------------------------------------------------

def _record(loss, seed, dice, prec=0.9, dataset='kvasir', tag=''):
    m = {'mDice': dice, 'mIoU': dice - 0.1, 'mNSD': 0.5, 'mPrec': prec, 'mRec': 0.8, 'Dice_polyp': dice}
    return {'dataset': dataset, 'loss': loss, 'name': loss + (f'-{tag}' if tag else ''), 'seed': seed,
            'metrics': m, 'config': {}}


def test_table_aggregates_and_marks_best_and_second(tmp_path):
    recs = []
    for seed, noise in enumerate((-0.01, 0.0, 0.01)):
        recs += [_record('pm_dice', seed, 0.90 + noise, prec=0.95), _record('ce', seed, 0.88 + noise, prec=0.97),
                 _record('dice', seed, 0.89 + noise), _record('topk_dice', seed, 0.85, prec=0.97)]
    recs.append(_record('pm_dice', 0, 0.5, tag='gamma2'))
    recs.append(_record('pm_dice', 0, 0.99, dataset='acdc'))  # another dataset: its own table
    df = results_table(recs, 'kvasir')
    assert list(df.index) == ['ce', 'dice', 'topk_dice', 'pm_dice', 'pm_dice-gamma2']  # paper order, variants last
    assert df.loc['pm_dice-gamma2', 'Loss functions'] == 'PM Dice (our)-gamma2'
    assert df.loc['pm_dice', 'mDice'] == pytest.approx(90.0)
    assert df.loc['pm_dice', 'mDice_std'] == pytest.approx(1.0)
    assert np.isnan(df.loc['pm_dice-gamma2', 'mDice_std'])  # one seed: no std
    assert list(df['n_seeds']) == [3, 3, 3, 3, 1]
    md = format_table(df)
    lines = {l.split(' | ')[0][2:]: l for l in md.splitlines()[2:]}
    assert '**90.00** ± 1.00' in lines['PM Dice (our)'] and '<u>89.00</u> ± 1.00' in lines['Dice']
    # mPrec.: CE and TopK Dice tie for best (97.00), PM Dice second
    prec = [l.split(' | ')[4] for l in md.splitlines()[2:]]
    assert prec[:4] == ['**97.00** ± 0.00', '90.00 ± 0.00', '**97.00** ± 0.00', '<u>95.00</u> ± 0.00']
    assert rank_marks([1., float('nan'), 3., 2.]) == [0, 0, 1, 2]
    with pytest.raises(ValueError, match='several datasets'): results_table(recs)
    # written as markdown and CSV, one pair per dataset, atomically (no temporary files)
    for r in recs: (tmp_path / r['dataset'] / r['name']).mkdir(parents=True, exist_ok=True)
    for r in recs: (tmp_path / r['dataset'] / r['name'] / f"seed{r['seed']}.json").write_text(json.dumps(r))
    paths = write_tables(tmp_path)
    assert sorted(p.name for p in paths) == ['table_acdc.csv', 'table_acdc.md', 'table_kvasir.csv', 'table_kvasir.md']
    csv = pd.read_csv(tmp_path / 'table_kvasir.csv', index_col=0)
    assert csv.loc['ce', 'mDice'] == pytest.approx(88.0) and 'mDice_std' in csv.columns
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]


def test_cli_table_and_errors(tmp_path, capsys):
    for r in [_record('ce', 0, 0.8), _record('pm_dice', 0, 0.9)]:
        d = tmp_path / r['dataset'] / r['loss']; d.mkdir(parents=True)
        (d / 'seed0.json').write_text(json.dumps(r))
    assert main(['table', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert '| PM Dice (our) | **90.00** |' in out and (tmp_path / 'table.csv').is_file()
    assert main(['table', str(tmp_path / 'nothing')]) == 2
    assert 'nothing' in capsys.readouterr().err


# --- configurations --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('kwargs, named', [
    (dict(dataset='kvasirseg'), "'kvasirseg'"),
    (dict(dataset='acdc'), 'needs root'),
    (dict(dataset='synthetic_polyps', loss='pm_dice2'), "'pm_dice2'"),
    (dict(dataset='synthetic_polyps', loss='pm_dice', loss_kwargs={'gamma': -1}), '-1'),
    (dict(dataset='synthetic_polyps', loss_kwargs={'pm_dice': {'gamma': 1}, 'dice': {}}), "'dice'"),
    (dict(dataset='synthetic_polyps', epochs=0), 'epochs must be >= 1, got 0'),
    (dict(dataset='synthetic_polyps', epochs=2.5), '2.5'),
    (dict(dataset='synthetic_polyps', bs=0), 'bs must be >= 1, got 0'),
    (dict(dataset='synthetic_polyps', seed=-1), 'seed must be >= 0, got -1'),
    (dict(dataset='synthetic_polyps', lr=0.), '0.0'),
    (dict(dataset='synthetic_polyps', arch='resnet50'), "'resnet50'"),
    (dict(dataset='synthetic_polyps', head='half'), "'half'"),
    (dict(dataset='synthetic_polyps', size=(0, 32)), r'\(0, 32\)'),
    (dict(dataset='synthetic_polyps', crop='big'), "'big'"),
    (dict(dataset='synthetic_polyps', checkpoint='first'), "'first'"),
    (dict(dataset='synthetic_polyps', mixed_precision='fp8'), "'fp8'"),
    (dict(dataset='synthetic_polyps', tag='a/b'), "'a/b'"),
])
def test_bad_config_names_the_value(kwargs, named):
    with pytest.raises(ValueError, match=named): RunConfig(**kwargs)


def test_config_defaults_are_the_papers():
    assert RunConfig('kvasir', root='x').arch == 'resnet34' and RunConfig('acdc', root='x').arch == 'resnet34'
    ms = RunConfig('msseg2', 'focal_ce+pm_dice', root='x')
    assert ms.arch == 'unet' and ms.loss_kwargs == {'pm_dice': {'gamma': [1.0, 2.0]}}
    assert RunConfig('open_ms', 'ce', root='x').loss_kwargs == {}
    assert RunConfig('kvasir', 'pm_dice', root='x').loss_kwargs == {}
    assert set(DATASETS) == {'synthetic_polyps', 'synthetic_cardiac', 'synthetic_ms', 'kvasir', 'acdc', 'msseg2016',
                             'msseg2', 'open_ms'}


def test_missing_dataset_folder(tmp_path):
    cfg = RunConfig('kvasir', root=str(tmp_path / 'absent'), **{**TINY, 'dataset_kwargs': {}})
    with pytest.raises(FileNotFoundError, match='absent'): run_one(cfg, tmp_path / 'runs', progress=False)


# --- one tiny run per dataset kind -----------------------------------------------------------------------------

def _check_record(rec, runs, cfg, foreground):
    on_disk = json.loads(run_path(runs, cfg).read_text())
    assert on_disk['config'] == rec['config'] and on_disk['metrics'].keys() == rec['metrics'].keys()
    m = rec['metrics']
    for k in ('mDice', 'mIoU', 'mNSD', 'mPrec', 'mRec'): assert k in m
    assert [k for k in m if k.startswith('Dice_')] == [f'Dice_{c}' for c in foreground]
    assert rec['n_cases']['test'] == m['n_cases'] == len(rec['per_case'])
    assert rec['epochs'] == cfg.epochs and len(rec['history']) == cfg.epochs
    assert rec['config']['root'] == (cfg.root and Path(cfg.root).name)
    assert {**rec['config'], 'root': cfg.root, 'dataset_kwargs': cfg.dataset_kwargs} == cfg.to_dict()
    assert rec['versions']['fastai'] and rec['device']
    assert rec['wall_time_s'] > 0 and 'git_commit' in rec
    assert not [f for f in _all_files(runs) if '.work' in f or f.endswith('.tmp')]


def test_run_kvasir_sample(tmp_path):
    cfg = RunConfig('kvasir', root=str(SAMPLES / 'kvasir-seg-sample'), **{**TINY, 'bs': 2, 'size': (32, 32),
                    'crop': (24, 24), 'dataset_kwargs': {'cache_dir': str(tmp_path / 'cache')}})
    rec = run_one(cfg, tmp_path / 'runs', progress=False)
    _check_record(rec, tmp_path / 'runs', cfg, ['polyp'])


def test_run_acdc_fake_resnet34_quarter_head(tmp_path):
    root = make_fake_acdc(tmp_path / 'acdc')
    cfg = RunConfig('acdc', 'focal_ce+pm_dice', root=str(root), epochs=1, bs=4, size=(32, 32), head='quarter',
                    dataset_kwargs={'cache_dir': None})
    assert cfg.arch == 'resnet34' and cfg.pretrained
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # offline: no ImageNet weights
        rec = run_one(cfg, tmp_path / 'runs', progress=False, keep_checkpoints=True)
    _check_record(rec, tmp_path / 'runs', cfg, ['RV', 'MYO', 'LV'])
    assert (run_path(tmp_path / 'runs', cfg).parent / 'seed0.last.pth').is_file()


def test_run_msseg2016_fake(tmp_path):
    root = make_fake_msseg2016(tmp_path / 'ms')
    cfg = RunConfig('msseg2016', 'ce+pm_dice', root=str(root), **{**TINY, 'size': (16, 16), 'dataset_kwargs': {'cache_dir': None}})
    rec = run_one(cfg, tmp_path / 'runs', progress=False)
    _check_record(rec, tmp_path / 'runs', cfg, ['lesion'])
    assert rec['config']['loss_kwargs'] == {'pm_dice': {'gamma': [1.0, 2.0]}}


def test_run_open_ms_sample_via_cli(tmp_path, capsys):
    runs = tmp_path / 'runs'
    argv = ['train', '--dataset', 'open_ms', '--root', str(SAMPLES / 'open-ms-sample'), '--loss', 'pm_dice',
            '--features', '4', '--epochs', '1', '--bs', '16', '--size', '24', '--runs-dir', str(runs), '--quiet',
            '--dataset-kwargs', json.dumps({'cache_dir': str(tmp_path / 'cache')})]
    assert main(argv) == 0
    assert 'mDice' in capsys.readouterr().out
    recs = load_records(runs)
    assert len(recs) == 1 and recs[0]['dataset'] == 'open_ms' and recs[0]['config']['arch'] == 'unet'
    assert main(argv) == 0 and 'already done' in capsys.readouterr().out  # not run twice


# --- records and tables you can trust (issue 6, section 1) ------------------------------------------------------

import shutil, signal, socket
from pmdice_nb import experiments

# A record exactly as `run_one` wrote it before records had a status (commit f73691f), trimmed: bare NaN included.
OLD_RECORD = ('{"dataset": "synthetic_polyps", "loss": "ce", "loss_display": "CE", "name": "ce", "seed": 0, "metrics": '
              '{"mDice": 0.18766016441137992, "mIoU": 0.1064453125, "mNSD": NaN, "mPrec": 0.1064453125, "mRec": 1.0, '
              '"Dice_polyp": 0.18766016441137992, "n_cases": 2, "n_nan": 0}, "per_case": [{"id": "polyp00002", "dice": '
              '[0.09488372093023256], "iou": [0.0498046875], "precision": [0.0498046875], "recall": [1.0], "nsd": [0.0]}], '
              '"history": [{"epoch": 0, "train_loss": 1.10, "valid_loss": 0.89, "mDice": 0.25, "mIoU": 0.14, "mNSD": 0.0, '
              '"mPrec": 0.14, "mRec": 1.0}], "epochs": 2, "n_cases": {"train": 5, "valid": 1, "test": 2}, '
              '"pretrained_used": false, "wall_time_s": 0.25, "train_time_s": 0.22, "device": "cpu (x86_64, 2 cores)", '
              '"versions": {"python": "3.11.7", "pmdice_nb": "0.1.0", "torch": "2.14.1"}, "git_commit": "f73691f", '
              '"finished": "2026-11-27T20:49:11+00:00", "config": {"dataset": "synthetic_polyps", "loss": "ce", "seed": 0, '
              '"root": null, "loss_kwargs": {}, "epochs": 2, "bs": 4, "lr": 0.003, "arch": "unet", "head": "full", '
              '"features": 4, "pretrained": true, "size": [32, 32], "crop": false, "augment": true, "dataset_kwargs": '
              '{"n": 8, "size": 32}, "split_seed": 0, "checkpoint": "last", "mixed_precision": "auto", "num_workers": 0, '
              '"tag": ""}}')
OLD_TINY = dict(arch='unet', features=4, epochs=2, bs=4, size=(32, 32), crop=False, lr=3e-3,
                dataset_kwargs={'n': 8, 'size': 32})


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return path


def _full_record(loss, seed, dice, **config):
    "A record with a complete configuration, as `run_one` writes it."
    cfg = RunConfig('synthetic_polyps', loss, seed=seed, **{**OLD_TINY, **config})
    return {'status': 'done', 'dataset': cfg.dataset, 'loss': cfg.loss, 'name': cfg.name, 'seed': seed,
            'metrics': {'mDice': dice, 'mIoU': dice, 'mNSD': dice, 'mPrec': dice, 'mRec': dice},
            'pretrained_used': False, 'precision': 'fp32', 'device': 'cpu', 'config': cfg.to_dict()}


@pytest.mark.parametrize('text, named', [
    ('{"dataset": "kvasir", "loss": "ce", "seed": 1, "metr', 'not JSON'),
    ('this is not json', 'not JSON'),
    ('[1, 2, 3]', 'JSON list'),
    (json.dumps({'loss': 'ce', 'seed': 1, 'metrics': {'mDice': .5}, 'config': {}}), "field 'dataset' is missing"),
    (json.dumps({'dataset': 'kvasir', 'loss': 'ce', 'seed': 1, 'metrics': {'mDice': 'high'}, 'config': {}}),
     "field 'metrics.mDice' is 'high', not a number"),
])
def test_unreadable_records_are_named_and_stop_the_table(tmp_path, text, named):
    _write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', _record('ce', 0, 0.8))
    bad = _write(tmp_path / 'kvasir' / 'ce' / 'seed1.json', text)
    with pytest.raises(ValueError) as e: write_tables(tmp_path)
    assert str(bad) in str(e.value) and named in str(e.value)
    assert not (tmp_path / 'table.md').exists()
    write_tables(tmp_path, skip_bad=True)  # explicit: left out, and the caption says so
    md = (tmp_path / 'table.md').read_text()
    assert 'Left out: 1 unreadable record(s)' in md and str(bad) in md and '| CE |' in md


def test_two_experiments_in_one_folder_are_not_averaged(tmp_path):
    _write(tmp_path / 'a' / 'synthetic_polyps' / 'dice' / 'seed0.json', _full_record('dice', 0, .8))
    _write(tmp_path / 'b' / 'synthetic_polyps' / 'dice' / 'seed0.json', _full_record('dice', 0, .6, epochs=5))
    with pytest.raises(ValueError, match=r'epochs \(2 vs 5\)'): write_tables(tmp_path)
    _write(tmp_path / 'b' / 'synthetic_polyps' / 'dice' / 'seed0.json', _full_record('dice', 0, .6, arch='resnet34'))
    with pytest.raises(ValueError, match='arch'): write_tables(tmp_path)
    # what does not change a result (root, num_workers, cache_dir) does not split a table
    _write(tmp_path / 'b' / 'synthetic_polyps' / 'dice' / 'seed1.json', _full_record('dice', 1, .6, num_workers=3))
    (tmp_path / 'b' / 'synthetic_polyps' / 'dice' / 'seed0.json').unlink()
    write_tables(tmp_path)
    assert '| Dice | **70.00** ± 14.14 |' in (tmp_path / 'table.md').read_text()


def test_one_seed_cannot_count_twice(tmp_path):
    rec = _full_record('dice', 0, .8)
    first = _write(tmp_path / 'synthetic_polyps' / 'dice' / 'seed0.json', rec)
    copy = _write(tmp_path / 'backup' / 'synthetic_polyps' / 'dice' / 'seed0.json', rec)
    with pytest.raises(ValueError, match="seed 0 of 'dice' twice") as e: write_tables(tmp_path)
    assert str(first) in str(e.value) and str(copy) in str(e.value)


def test_loss_names_are_normalised(tmp_path):
    assert RunConfig('synthetic_polyps', 'CE').loss == 'ce' and RunConfig('synthetic_polyps', 'CE + PM_Dice').loss == 'ce+pm_dice'
    assert run_path(tmp_path, RunConfig('synthetic_polyps', 'CE')) == run_path(tmp_path, RunConfig('synthetic_polyps', 'ce'))
    old = json.loads(OLD_RECORD); old['loss'] = old['name'] = old['config']['loss'] = 'CE'  # an older CLI kept the case
    _write(tmp_path / 'synthetic_polyps' / 'CE' / 'seed0.json', old)
    _write(tmp_path / 'synthetic_polyps' / 'ce' / 'seed1.json', _full_record('ce', 1, .5, scored_at='input'))  # as the old one
    df = results_table(load_records(tmp_path))
    assert list(df.index) == ['ce'] and df.loc['ce', 'n_seeds'] == 2


def test_old_records_still_count_as_done_and_group(tmp_path):
    _write(tmp_path / 'synthetic_polyps' / 'ce' / 'seed0.json', OLD_RECORD)
    fewer = json.loads(OLD_RECORD.replace('NaN', 'null'))  # a record from before 'checkpoint' and 'tag' existed
    for k in ('checkpoint', 'tag', 'mixed_precision'): del fewer['config'][k]
    fewer['seed'] = fewer['config']['seed'] = 1
    _write(tmp_path / 'synthetic_polyps' / 'ce' / 'seed1.json', fewer)
    grid = grid_configs('synthetic_polyps', losses=['ce'], seeds=(0, 1), scored_at='input', **OLD_TINY)  # what old records did
    assert [is_done(tmp_path, c) for c in grid] == [True, True]
    status = run_grid(grid, tmp_path, progress=False)
    assert status['done'] == [] and len(status['skipped']) == 2
    recs = load_records(tmp_path)
    assert [r['status'] for r in recs] == ['done', 'done'] and np.isnan(recs[0]['metrics']['mNSD'])
    _write(tmp_path / 'synthetic_polyps' / 'dice' / 'seed0.json', _full_record('dice', 0, .9, scored_at='input'))  # today's code
    df = results_table(load_records(tmp_path))  # one experiment: old and new records in one table
    assert list(df.index) == ['ce', 'dice'] and list(df['n_seeds']) == [2, 1]


def test_diverged_run_is_failed_left_out_and_retried(tmp_path):
    bad = RunConfig('synthetic_polyps', 'dice', **{**OLD_TINY, 'lr': 1e9})
    status = run_grid([bad], tmp_path, progress=False)
    path = run_path(tmp_path, bad)
    assert status['failed'] == [str(path)] and status['done'] == []
    rec = json.loads(path.read_text())
    assert rec['status'] == 'failed' and rec['diverged_epoch'] == 0 and 'metrics' not in rec and 'valid_loss' in rec['error']
    assert not is_done(tmp_path, bad)
    again = run_grid([bad], tmp_path, progress=False)  # a rerun of the grid retries it
    assert again['failed'] == [str(path)] and again['skipped'] == []
    _write(tmp_path / 'synthetic_polyps' / 'ce' / 'seed0.json', _full_record('ce', 0, .5, lr=1e9))
    write_tables(tmp_path)
    md = (tmp_path / 'table.md').read_text()
    assert '| CE |' in md and '| Dice |' not in md and 'Left out: 1 failed (diverged) run(s)' in md and str(path) in md


def test_record_is_strict_json_and_says_what_ran(tmp_path, monkeypatch):
    from pmdice_nb import learner
    real = learner.evaluate
    def with_nan(*args, **kwargs):
        summary, per_case = real(*args, **kwargs)
        return {**summary, 'mNSD': float('nan')}, per_case
    monkeypatch.setattr(learner, 'evaluate', with_nan)
    monkeypatch.setattr(experiments, 'evaluate', with_nan, raising=False)
    cfg = RunConfig('synthetic_polyps', 'dice', mixed_precision='fp16', **{**OLD_TINY, 'epochs': 1})
    run_one(cfg, tmp_path, progress=False, device='cpu')
    text = run_path(tmp_path, cfg).read_text()
    def refuse(c): raise ValueError(f'bare {c} in the record')
    rec = json.loads(text, parse_constant=refuse)  # strict JSON
    assert rec['metrics']['mNSD'] is None and rec['status'] == 'done'
    assert rec['precision'] == 'fp32' and rec['config']['mixed_precision'] == 'fp16'  # asked fp16, ran fp32 on the CPU
    assert rec['nsd_units'] and 'dataset_describe' in rec
    assert np.isnan(load_records(tmp_path)[0]['metrics']['mNSD'])


def test_random_encoder_is_part_of_the_runs_identity(tmp_path, monkeypatch):
    cfg = RunConfig('synthetic_polyps', 'dice', **{**OLD_TINY, 'arch': 'resnet34'})
    rec = _full_record('dice', 0, .7, arch='resnet34')  # asked for ImageNet weights, offline: random ones
    _write(run_path(tmp_path, cfg), rec)
    monkeypatch.setattr(experiments, '_imagenet_available', lambda: False, raising=False)
    assert is_done(tmp_path, cfg)  # offline, a rerun would do the same
    monkeypatch.setattr(experiments, '_imagenet_available', lambda: True, raising=False)
    assert not is_done(tmp_path, cfg)  # online: the run asked for is not the one that ran
    assert is_done(tmp_path, RunConfig('synthetic_polyps', 'dice', **{**OLD_TINY, 'arch': 'resnet34', 'pretrained': False}))
    write_tables(tmp_path)
    assert 'encoder from scratch' in (tmp_path / 'table.md').read_text()


def test_a_claimed_run_is_left_to_its_owner(tmp_path):
    cfg = RunConfig('synthetic_polyps', 'dice', **{**OLD_TINY, 'epochs': 1})
    path = run_path(tmp_path, cfg)
    owner = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        lock = _write(path.parent / '.seed0.lock', {'pid': owner.pid, 'host': socket.gethostname()})
        status = run_grid([cfg], tmp_path, progress=False)
        assert status['busy'] == [str(path)] and not path.exists() and lock.exists()
    finally:
        owner.kill(); owner.wait()
    status = run_grid([cfg], tmp_path, progress=False)  # the owner is gone: the lock is stale
    assert status['done'] == [str(path)] and path.exists() and not lock.exists()


GRID = textwrap.dedent('''
    import json, sys, torch
    torch.set_num_threads(1)
    from pmdice_nb.experiments import grid_configs, run_grid
    tiny = dict(arch='unet', features=4, epochs=1, bs=4, size=(32, 32), crop=False, lr=3e-3,
                dataset_kwargs={'n': 8, 'size': 32})
    status = run_grid(grid_configs('synthetic_polyps', losses=['dice', 'ce', 'pm_dice', 'log_dice'], seeds=(0,), **tiny),
                      sys.argv[1], progress=False)
    print(json.dumps(status))
''')


def test_two_grids_on_one_folder_share_the_work(tmp_path):
    procs = [subprocess.Popen([sys.executable, '-c', GRID, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    status = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    ran = status[0]['done'] + status[1]['done']
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 4  # every run trained exactly once
    assert len(load_records(tmp_path)) == 4 and not list(tmp_path.rglob('.*.lock'))


# --- issue 17: no silent or unsafe result from a folder of records ---------------------------------------------

import errno, threading, time
from datetime import datetime, timedelta, timezone
from pmdice_nb.records import find_records, read_record, RecordError, claim_run, lock_path

RESULTS = ROOT / 'nbs' / 'results'


def _two_seeds(tmp_path, value_of_seed1):
    "kvasir records of CE and Dice, seeds 0 and 1; Dice seed 1's mDice holds `value_of_seed1` (JSON text)."
    for loss in ('ce', 'dice'):
        for seed in (0, 1):
            p = _write(tmp_path / 'kvasir' / loss / f'seed{seed}.json', _record(loss, seed, 0.8 + seed / 100))
    bad = tmp_path / 'kvasir' / 'dice' / 'seed1.json'
    bad.write_text(bad.read_text().replace('"mDice": 0.81', f'"mDice": {value_of_seed1}'))
    return bad


@pytest.mark.parametrize('value', ['null', 'NaN'])
def test_a_missing_metric_in_one_seed_is_counted_in_the_cell_and_csv(tmp_path, value):
    bad = _two_seeds(tmp_path, value)
    write_tables(tmp_path)
    md, csv = (tmp_path / 'table.md').read_text(), pd.read_csv(tmp_path / 'table.csv', index_col=0)
    dice_row = next(l for l in md.splitlines() if l.startswith('| Dice |'))
    assert dice_row.split(' | ')[1] == '<u>80.00</u> (n=1)'  # the other seed alone, and said so
    assert '| CE | **80.50** ± 0.71 |' in md          # complete cells unchanged
    assert str(bad) in md and 'mDice' in md.split('\n\n')[0]  # the caption names the file and the metric
    assert list(csv['mDice_n']) == [2, 1] and list(csv['n_seeds']) == [2, 2] and 'mIoU_n' not in csv.columns


@pytest.mark.parametrize('value, named', [('55.3', '55.3'), ('-0.2', '-0.2'), ('1.0000001', '1.0000001'),
                                          ('Infinity', 'inf'), ('-Infinity', 'inf'), ('1e400', 'inf')])
def test_out_of_range_or_infinite_metrics_are_bad_records(tmp_path, value, named):
    bad = _two_seeds(tmp_path, value)
    with pytest.raises(RecordError) as e: write_tables(tmp_path)
    assert str(bad) in str(e.value) and "'metrics.mDice'" in str(e.value) and named in str(e.value)
    write_tables(tmp_path, skip_bad=True)
    md = (tmp_path / 'table.md').read_text()
    assert 'Left out: 1 unreadable record(s)' in md and '| Dice | <u>80.00</u> |' in md


def test_counts_in_metrics_are_not_fractions(tmp_path):
    rec = _record('ce', 0, 0.8); rec['metrics'].update(n_cases=100, n_nan=3)
    assert read_record(_write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', rec))['metrics']['n_cases'] == 100
    rec['metrics']['n_nan'] = -1
    with pytest.raises(RecordError, match="'metrics.n_nan' is -1"): read_record(_write(tmp_path / 'seed1.json', rec))


def test_every_committed_record_reads():
    for folder in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        found = find_records(folder)
        assert found.bad == [], found.bad


def test_schema_version_is_written_and_a_newer_one_refused(tmp_path):
    from pmdice_nb.records import RECORD_SCHEMA
    rec = _record('ce', 0, 0.8)
    assert read_record(_write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', rec))['status'] == 'done'  # no version: 1
    rec['schema_version'], rec['scored_at'] = RECORD_SCHEMA, 'original'  # unknown extra fields are fine
    assert read_record(_write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', rec))['scored_at'] == 'original'
    rec['schema_version'] = RECORD_SCHEMA + 1
    p = _write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', rec)
    with pytest.raises(RecordError, match=f"{p}: record schema version {RECORD_SCHEMA + 1}.*newer"): read_record(p)
    for v in ('2', 0, True):
        rec['schema_version'] = v
        with pytest.raises(RecordError, match='schema_version'): read_record(_write(p, rec))


def test_a_deeply_nested_record_is_a_bad_record(tmp_path):
    _write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', _record('ce', 0, 0.8))
    deep = _write(tmp_path / 'kvasir' / 'ce' / 'seed1.json', '[' * 100_000 + ']' * 100_000)
    with pytest.raises(RecordError, match='nested too deeply') as e: write_tables(tmp_path)
    assert str(deep) in str(e.value)
    write_tables(tmp_path, skip_bad=True)
    assert str(deep) in (tmp_path / 'table.md').read_text()


def test_a_symlinked_record_is_named_not_tabulated(tmp_path):
    _write(tmp_path / 'runs' / 'kvasir' / 'ce' / 'seed0.json', _record('ce', 0, 0.8))
    outside = _write(tmp_path / 'elsewhere' / 'x.json', _record('ce', 1, 0.1))
    link = tmp_path / 'runs' / 'kvasir' / 'ce' / 'seed1.json'
    link.symlink_to(outside)
    with pytest.raises(RecordError, match='symbolic link') as e: write_tables(tmp_path / 'runs')
    assert str(link) in str(e.value)
    write_tables(tmp_path / 'runs', skip_bad=True)
    md = (tmp_path / 'runs' / 'table.md').read_text()
    assert '| CE | **80.00** |' in md and str(link) in md


def test_a_fifo_record_is_never_opened(tmp_path):
    _write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', _record('ce', 0, 0.8))
    fifo = tmp_path / 'kvasir' / 'ce' / 'seed1.json'
    os.mkfifo(fifo)
    result = {}
    def tabulate():
        try: write_tables(tmp_path, skip_bad=True); result['md'] = (tmp_path / 'table.md').read_text()
        except Exception as e: result['error'] = e
    t = threading.Thread(target=tabulate, daemon=True); t.start(); t.join(30)
    if t.is_alive():  # it opened the FIFO and waits for a writer: let it go, and fail
        with open(fifo, 'w'): pass
        t.join(30)
        pytest.fail('write_tables hung on a FIFO')
    assert 'md' in result, result
    assert str(fifo) in result['md'] and 'not a regular file' in result['md']
    with pytest.raises(RecordError, match='not a regular file'): read_record(fifo)


@pytest.mark.parametrize('dataset', ['x/../../../escaped_table', '../x', '/abs', '.hidden', 'a b', ''])
def test_a_dataset_name_never_forms_a_path(tmp_path, dataset):
    runs, out = tmp_path / 'a' / 'b' / 'c' / 'runs', tmp_path / 'a' / 'b' / 'c' / 'out'
    _write(runs / 'kvasir' / 'ce' / 'seed0.json', _record('ce', 0, 0.8))
    bad = _write(runs / 'other' / 'ce' / 'seed0.json', _record('ce', 0, 0.8, dataset=dataset))
    with pytest.raises(RecordError, match="field 'dataset'") as e: write_tables(runs, out)
    assert str(bad) in str(e.value)
    write_tables(runs, out, skip_bad=True)
    assert sorted(p.name for p in tmp_path.rglob('*table*')) == ['table.csv', 'table.md']
    assert sorted(p.parent for p in tmp_path.rglob('*table*')) == [out, out]
    assert main(['table', str(runs), '--out', str(out), '--skip-bad']) == 0
    assert sorted(p.parent for p in tmp_path.rglob('*table*')) == [out, out]


def test_output_file_refuses_names_that_leave_the_folder(tmp_path):
    from pmdice_nb.experiments import output_file
    assert output_file(tmp_path, 'table_kvasir.md') == tmp_path / 'table_kvasir.md'
    for name in ('../x.md', 'a/b.md', '/etc/x.md', '.md', '', 'x\x00.md'):
        with pytest.raises(ValueError, match='file name'): output_file(tmp_path, name)


def test_a_symlinked_work_folder_is_refused(tmp_path):
    cfg = RunConfig('synthetic_polyps', 'dice', **TINY)
    work = run_path(tmp_path / 'runs', cfg).parent / '.seed0.work'
    work.parent.mkdir(parents=True)
    (tmp_path / 'outside').mkdir()
    work.symlink_to(tmp_path / 'outside')
    with pytest.raises(ValueError, match='symbolic link') as e: run_one(cfg, tmp_path / 'runs', progress=False)
    assert str(work) in str(e.value)
    assert list((tmp_path / 'outside').iterdir()) == [] and not run_path(tmp_path / 'runs', cfg).exists()


def _failing_checkpoint(monkeypatch, exc):
    "torch.save writes half a file, then raises `exc` (a full disk, Ctrl-C)."
    import torch as _torch
    def half_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b'PK\x03\x04 half a checkpoint')
        raise exc
    monkeypatch.setattr(_torch, 'save', half_save)


@pytest.mark.parametrize('exc', [OSError(errno.ENOSPC, 'No space left on device'), KeyboardInterrupt()])
def test_a_run_stopped_while_saving_leaves_no_partial_files_nor_lock(tmp_path, monkeypatch, exc):
    cfg = RunConfig('synthetic_polyps', 'dice', checkpoint='best', **TINY)
    _failing_checkpoint(monkeypatch, exc)
    with pytest.raises(type(exc)): run_grid([cfg], tmp_path, progress=False, keep_checkpoints=True)
    assert _all_files(tmp_path) == [] and not [p for p in tmp_path.rglob('*') if p.name.startswith('.')]
    monkeypatch.undo()
    assert run_grid([cfg], tmp_path, progress=False)['done'] == [str(run_path(tmp_path, cfg))]  # runs again


def _lock(tmp_path, owner, age_s=0.):
    cfg = RunConfig('synthetic_polyps', 'dice', **TINY)
    lock = lock_path(tmp_path, cfg)
    _write(lock, owner)
    t = time.time() - age_s
    os.utime(lock, (t, t))
    return cfg, lock


def _started(age_s): return (datetime.now(timezone.utc) - timedelta(seconds=age_s)).isoformat(timespec='seconds')


@pytest.mark.parametrize('owner, age_s, stale', [
    ([], 0, False), ([], 120, True), ('{"pid": 1', 120, True), ({'pid': 'x'}, 120, True), (7, 120, True),
    ({'pid': 1, 'host': 'another-host', 'started': _started(60)}, 60, False),
    ({'pid': 1, 'host': 'another-host', 'started': _started(25 * 3600)}, 0, True),   # the age in the lock counts
    ({'pid': 1, 'host': 'another-host'}, 25 * 3600, True),                           # else the file's
])
def test_every_lock_grows_stale(tmp_path, owner, age_s, stale):
    from pmdice_nb.records import lock_stale
    cfg, lock = _lock(tmp_path, owner if isinstance(owner, str) else json.dumps(owner), age_s)
    assert lock_stale(lock) == stale
    with claim_run(tmp_path, cfg) as mine: assert mine == stale


def test_a_live_unrelated_process_does_not_hold_a_lock(tmp_path):
    from pmdice_nb.records import lock_stale, describe_lock
    with claim_run(tmp_path, RunConfig('synthetic_polyps', 'dice', **TINY)) as mine:
        lock = lock_path(tmp_path, RunConfig('synthetic_polyps', 'dice', **TINY))
        me = json.loads(lock.read_text())
        assert mine and not lock_stale(lock) and me['pid'] == os.getpid() and me['pid_started']
    # pid 1 is alive, but it is not the process that wrote the lock (its start time differs)
    cfg, lock = _lock(tmp_path, json.dumps({**me, 'pid': 1}))
    assert lock_stale(lock)
    cfg, lock = _lock(tmp_path, json.dumps({**me, 'host': 'another-host'}))
    text = describe_lock(run_path(tmp_path, cfg))
    assert str(lock) in text and 'another-host' in text and '24 h' in text


def test_a_busy_run_names_its_lock(tmp_path, capsys):
    from pmdice_nb.records import describe_lock
    cfg, lock = _lock(tmp_path, json.dumps({'pid': os.getpid(), 'host': socket.gethostname(), 'started': _started(0)}))
    status = run_grid([cfg], tmp_path, progress=False)
    assert status['busy'] == [str(run_path(tmp_path, cfg))]
    assert str(lock) in describe_lock(status['busy'][0]) and f"pid {os.getpid()}" in describe_lock(lock)


def test_records_hold_no_machine_paths(tmp_path):
    from pmdice_nb.records import RECORD_SCHEMA
    from pmdice_nb.data.fakes import make_fake_kvasir
    root = make_fake_kvasir(tmp_path / 'data' / 'kvasir-seg', n=12, split_lists=True)
    cfg = RunConfig('kvasir', 'dice', root=str(root), **{**TINY, 'dataset_kwargs': {'cache_dir': str(tmp_path / 'cache')}})
    rec = run_one(cfg, tmp_path / 'runs', progress=False)
    text = run_path(tmp_path / 'runs', cfg).read_text()
    assert str(tmp_path) not in text and '"/' not in text, [l for l in text.splitlines() if '"/' in l]
    assert rec['schema_version'] == RECORD_SCHEMA and rec['config']['root'] == root.name
    assert rec['dataset_describe']['root'] == root.name
    assert is_done(tmp_path / 'runs', cfg)  # the record still stands for its configuration


@pytest.mark.parametrize('kwargs, named', [
    ({'n': 'ten'}, "dataset_kwargs option 'n' of 'synthetic_polyps' must be an integer, got 'ten'"),
    ({'size': float('nan')}, "dataset_kwargs option 'size' of 'synthetic_polyps' must be an integer, got nan"),
    ({'size': 64.0}, "option 'size'"),
    ({'test_fraction': float('nan')}, "option 'test_fraction' of 'synthetic_polyps' must be a finite number, got nan"),
    ({'test_fraction': True}, "option 'test_fraction'"),
])
def test_dataset_options_of_a_wrong_type_are_named(kwargs, named):
    with pytest.raises(ValueError) as e: RunConfig('synthetic_polyps', dataset_kwargs=kwargs)
    assert named in str(e.value)


def test_dataset_option_types_of_the_real_loaders():
    for ok in ({'split': 'pranet'}, {'split': [['a'], ['b']]}, {'cache_dir': None}, {'mask_threshold': 100}):
        RunConfig('kvasir', root='x', dataset_kwargs=ok)
    with pytest.raises(ValueError, match="option 'mask_threshold' of 'kvasir' must be an integer"):
        RunConfig('kvasir', root='x', dataset_kwargs={'mask_threshold': '100'})
    with pytest.raises(ValueError, match="option 'test_ids' of 'open_ms'"):
        RunConfig('open_ms', root='x', dataset_kwargs={'test_ids': 'patient07'})
    RunConfig('open_ms', root='x', dataset_kwargs={'test_ids': ['patient07']})


def test_cli_names_a_dataset_option_of_a_wrong_type_and_bad_digits(tmp_path, capsys):
    def run(argv):
        try: return main(argv)
        except SystemExit as e: return e.code  # argparse's own errors
    argv = ['train', '--dataset', 'synthetic_polyps', '--runs-dir', str(tmp_path), '--quiet']
    for kwargs, named in (('{"n": "ten"}', "option 'n' of 'synthetic_polyps' must be an integer, got 'ten'"),
                          ('{"size": 64.5}', "option 'size' of 'synthetic_polyps' must be an integer, got 64.5"),
                          ('{"size": NaN}', 'dataset-kwargs')):
        assert run(argv + ['--dataset-kwargs', kwargs]) == 2
        err = capsys.readouterr().err
        assert named in err and len(err.strip().splitlines()[-1:]) == 1 and 'Traceback' not in err
    _write(tmp_path / 'kvasir' / 'ce' / 'seed0.json', _record('ce', 0, 0.8))
    assert run(['table', str(tmp_path), '--digits', '-1']) == 2
    assert 'digits' in capsys.readouterr().err and not (tmp_path / 'table.md').exists()


def test_a_symlinked_folder_of_records_is_named(tmp_path):
    _write(tmp_path / 'runs' / 'kvasir' / 'ce' / 'seed0.json', _record('ce', 0, 0.8))
    _write(tmp_path / 'elsewhere' / 'dice' / 'seed0.json', _record('dice', 0, 0.1))
    (tmp_path / 'runs' / 'kvasir' / 'dice').symlink_to(tmp_path / 'elsewhere' / 'dice')
    with pytest.raises(RecordError, match='a symbolic link to a folder') as e: write_tables(tmp_path / 'runs')
    assert str(tmp_path / 'runs' / 'kvasir' / 'dice') in str(e.value)
    write_tables(tmp_path / 'runs', skip_bad=True)
    md = (tmp_path / 'runs' / 'table.md').read_text()
    assert '| CE |' in md and '| Dice |' not in md and 'symbolic link to a folder' in md


def test_cli_disk_full_while_saving_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    _failing_checkpoint(monkeypatch, OSError(errno.ENOSPC, 'No space left on device'))
    argv = ['train', '--dataset', 'synthetic_polyps', '--loss', 'dice', '--runs-dir', str(tmp_path), '--quiet', '--arch', 'unet',
            '--features', '4', '--epochs', '1', '--bs', '4', '--size', '32', '--crop', 'none', '--dataset-kwargs', '{"n": 8, "size": 32}']
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert 'No space left on device' in err and len(err.splitlines()) == 1
    assert [p for p in tmp_path.rglob('*') if p.is_file()] == []  # no record, no partial checkpoint, no lock
