"Integration tests of pmdice_nb.experiments and pmdice_nb.cli: resuming grids, shards, tables, configs, one run per dataset kind."
import json, os, subprocess, sys, textwrap, warnings
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch

from pmdice_nb.losses import PAPER_LOSSES
from pmdice_nb.experiments import (RunConfig, DATASETS, grid_configs, shard_configs, parse_shard, run_grid, run_one,
                                   run_path, is_done, load_records, results_table, format_table, rank_marks,
                                   write_tables)
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
    assert any('.seed0.work' in f for f in left)  # the killed run's checkpoint
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
    assert rec['config'] == cfg.to_dict() and rec['versions']['fastai'] and rec['device']
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
