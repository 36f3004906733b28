"Integration tests of pmdice_nb.ablations and `pmdice ablation`: the figures' runs, resuming, tables, the CLI, bad input."
import contextlib, io, json, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest

from pmdice_nb.ablations import (ABLATIONS, get_ablation, ablation_configs, ablation_records, ablation_table,
                                 format_ablation, plot_ablation, write_ablation, run_ablation)
from pmdice_nb.records import RecordSet, load_records, run_path
from pmdice_nb.experiments import RunConfig
from pmdice_nb.cli import main

TINY = dict(arch='unet', features=4, epochs=1, bs=4, size=(32, 32), crop=False, lr=3e-3,
            dataset_kwargs={'n': 8, 'size': 32})
TINY_ARGS = ['--dataset', 'synthetic_ms', '--arch', 'unet', '--features', '4', '--epochs', '1', '--bs', '4',
             '--size', '32', '--crop', 'none', '--lr', '3e-3', '--quiet', '--dataset-kwargs', '{"n": 8, "size": 32}']

pytestmark = pytest.mark.usefixtures('one_thread')   # tests/conftest.py


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: status = main(argv)
        except SystemExit as e: status = e.code   # argparse's own errors
    return status, out.getvalue(), err.getvalue()


# --- configurations -------------------------------------------------------------------------------------------

def test_figure3_configs():
    cfgs = ablation_configs(3, root='/data/MSSEG-2016', epochs=100)
    assert len(cfgs) == 15 and {c.dataset for c in cfgs} == {'msseg2016'} and {c.loss for c in cfgs} == {'pm_dice'}
    assert [(c.seed, c.loss_kwargs['pm_dice']['gamma'], c.tag) for c in cfgs[:5]] == [
        (0, 0., 'gamma=0'), (0, .5, 'gamma=0.5'), (0, 1., 'gamma=1'), (0, 2., 'gamma=2'), (0, 5., 'gamma=5')]
    assert [c.seed for c in cfgs] == [s for s in (0, 1, 2) for _ in range(5)]
    assert len({run_path('runs', c) for c in cfgs}) == 15            # every run its own record
    assert {(c.arch, c.epochs, c.root) for c in cfgs} == {('unet', 100, '/data/MSSEG-2016')}
    dice = RunConfig('msseg2016', 'dice', root='/data/MSSEG-2016', epochs=100).to_dict()
    assert {k for k, v in cfgs[0].to_dict().items() if dice[k] != v} == {'loss', 'loss_kwargs', 'tag'}
    custom = ablation_configs(3, 'synthetic_ms', seeds=(4,), gammas=[3, 0.25])
    assert [(c.seed, c.tag) for c in custom] == [(4, 'gamma=3'), (4, 'gamma=0.25')]


def test_figure4_configs():
    cfgs = ablation_configs(4, root='/data/MSSEG-2016', seeds=(0, 1))
    assert len(cfgs) == 8
    assert [c.loss_kwargs for c in cfgs[:4]] == [{'pm_dice': {'gamma': [g, 2.]}} for g in (0., .5, 1., 2.)]
    assert [c.name for c in cfgs[:4]] == ['pm_dice-gamma_bg=0', 'pm_dice-gamma_bg=0.5', 'pm_dice-gamma_bg=1',
                                          'pm_dice-gamma_bg=2']
    # Figure 4's runs never share a record with Figure 3's, not even γ_BG = γ_FG = 2
    fig3 = ablation_configs(3, root='/data/MSSEG-2016', seeds=(0, 1))
    assert not {run_path('r', c) for c in cfgs} & {run_path('r', c) for c in fig3}
    assert [c.dataset for c in ablation_configs(4, 'open_ms', seeds=(0,), root='/d')] == ['open_ms'] * 4


# --- bad input ------------------------------------------------------------------------------------------------

def test_study_and_ablation_share_one_gamma_table():
    "`ms_gamma_cpu` and `pmdice ablation` take their γ runs from one table, `studies.ABLATIONS` (issue 16 item 3)."
    from pmdice_nb import studies
    assert ABLATIONS is studies.ABLATIONS
    fold = '-fold=patient07'
    study = [(c.tag.removesuffix(fold), c.loss_kwargs['pm_dice']) for c in studies.study_configs('ms_gamma_cpu', root='.')
             if c.seed == 0 and c.tag.endswith(fold)]
    assert study == [(c.tag, c.loss_kwargs['pm_dice']) for f in ABLATIONS for c in ablation_configs(f, 'open_ms', seeds=(0,), root='.')]

@pytest.mark.parametrize('call, message', [
    (lambda: ablation_configs(5), 'figure 5'),
    (lambda: get_ablation('3'), "figure '3'"),
    (lambda: ablation_configs(4, 'kvasir', root='/d'), "'kvasir'"),
    (lambda: ablation_configs(3, 'msseg2017', root='/d'), "'msseg2017'"),
    (lambda: ablation_configs(3, 'synthetic_ms', seeds=()), 'seeds'),
    (lambda: ablation_configs(3, 'synthetic_ms', gammas=[0, 0]), '[0, 0]'),
    (lambda: ablation_configs(3, 'synthetic_ms', gammas=['x']), "['x']"),
    (lambda: ablation_configs(3, 'synthetic_ms', loss_kwargs={'pm_dice': {'gamma': 3}}), "'loss_kwargs'"),
    (lambda: ablation_configs(3, 'msseg2016'), 'needs root'),
    (lambda: ablation_configs(3, 'synthetic_ms', epochs=0), 'epochs must be >= 1, got 0'),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=None) as e: call()
    assert message in str(e.value), str(e.value)


def test_write_ablation_without_records(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)): write_ablation(tmp_path, 3)


@pytest.mark.parametrize('argv, message', [
    (['--figure', '5'], 'invalid choice: 5'),
    (['--figure', 'three'], "invalid int value: 'three'"),
    (['--figure', '3', '--shard', '2/2'], "'2/2'"),
    (['--figure', '3', '--seeds', ''], '--seeds is empty'),
    (['--figure', '3', '--gammas', '1,x'], "'1,x'"),
    (['--figure', '3', '--gammas', '1,-2'], '-2'),
    (['--figure', '3', '--tag', 'mine'], 'unrecognized arguments: --tag mine'),  # the ablation sets the tag itself
    (['--figure', '4', '--dataset', 'synthetic_polyps'], "'synthetic_polyps'"),
])
def test_cli_bad_input(tmp_path, argv, message):
    status, out, err = _run_cli(['ablation', '--dataset', 'synthetic_ms', '--runs-dir', str(tmp_path), *argv])
    assert status == 2 and message in err, err
    assert not any(tmp_path.iterdir())  # nothing ran


# --- tables ---------------------------------------------------------------------------------------------------

def _record(figure, value, seed, dice, prec, rec, dataset='msseg2016'):
    a = get_ablation(figure)
    cfg = {'loss_kwargs': a.loss_kwargs(value), 'tag': a.tag(value)}
    m = {'mDice': dice, 'mIoU': dice - .1, 'mNSD': dice, 'mPrec': prec, 'mRec': rec, 'Dice_lesion': dice}
    return {'dataset': dataset, 'loss': 'pm_dice', 'name': f"pm_dice-{cfg['tag']}", 'seed': seed, 'metrics': m,
            'config': cfg}


def test_table_from_hand_made_records():
    recs = [_record(3, g, s, .60 + .02 * i + .01 * s, .5 + .1 * i, .9 - .1 * i)
            for s in (0, 1, 2) for i, g in enumerate((5, 0, 1))]               # γ given out of order
    recs += [_record(4, 1, 0, .99, .99, .99), _record(3, 2, 0, .7, .7, .7, dataset='msseg2')]
    df = ablation_table(recs, 3, 'msseg2016')
    assert list(df.index) == [0., 1., 5.] and df.index.name == 'gamma'
    assert df['n_seeds'].tolist() == [3, 3, 3]
    assert df.loc[5., 'mDice'] == pytest.approx(61.) and df.loc[5., 'mDice_std'] == pytest.approx(1.)
    assert df.loc[0., 'mPrec'] == pytest.approx(60.) and df.loc[1., 'mRec'] == pytest.approx(70.)
    assert df.attrs['metrics'] == ['mDice', 'mIoU', 'mNSD', 'mPrec', 'mRec']   # binary: no per-class column
    md = format_ablation(df)
    assert md.splitlines()[2].startswith('| 0 (Dice loss) | 3 | <u>63.00</u> ± 1.00 |')  # second best
    assert '| 1 | 3 | **65.00** ± 1.00 |' in md
    one = ablation_table(recs, 3, 'msseg2')
    assert one.shape == (1, 16) and np.isnan(one.loc[2., 'mDice_std'])  # n_seeds, 5 metrics × (mean, std, n)
    with pytest.raises(ValueError, match='several datasets'): ablation_table(recs, 3)
    assert len(ablation_records(recs, 4)) == 1 and ablation_table(recs, 4).index.tolist() == [1.]
    mismatch = _record(3, 1, 3, .5, .5, .5); mismatch['config']['loss_kwargs'] = {'pm_dice': {'gamma': [1., 2.]}}
    assert ablation_table(recs + [mismatch], 3, 'msseg2016').equals(df)   # (γ_BG, γ_FG) = (1, 2) ran: no run of figure 3, whatever its tag
    with pytest.raises(ValueError, match=r"tag 'gamma=1' does not match its γ \(gamma_bg=1\)"): ablation_table(recs + [mismatch], 4)
    ax = plot_ablation(df, 3)
    assert len(ax.containers) == 3 and ax.get_legend_handles_labels()[1] == ['mDice', 'mPrec.', 'mRec.']
    assert [t.get_text() for t in ax.get_xticklabels()] == ['0', '1', '5']
    import matplotlib.pyplot as plt; plt.close('all')


# --- running --------------------------------------------------------------------------------------------------

def test_run_ablation_resumes(tmp_path):
    kwargs = dict(dataset='synthetic_ms', seeds=(0,), gammas=(0, 2), progress=False, device='cpu', **TINY)
    first = run_ablation(3, tmp_path, shard='1/2', **kwargs)                 # half of the runs, then stopped
    assert len(first['done']) == 1 and first['skipped'] == []
    done = Path(first['done'][0]); stamp = done.stat().st_mtime_ns
    assert [Path(p).name for p in first['written']] == ['figure3_synthetic_ms.md', 'figure3_synthetic_ms.csv',
                                                        'figure3_synthetic_ms.png']
    second = run_ablation(3, tmp_path, **kwargs)
    assert len(second['done']) == 1 and second['skipped'] == [str(done)] and done.stat().st_mtime_ns == stamp
    third = run_ablation(3, tmp_path, **kwargs)
    assert third['done'] == [] and len(third['skipped']) == 2
    records = load_records(tmp_path)
    assert sorted(r['name'] for r in records) == ['pm_dice-gamma=0', 'pm_dice-gamma=2']   # each run once
    table = pd.read_csv(tmp_path / 'figure3_synthetic_ms.csv', index_col=0)
    assert table.index.tolist() == [0., 2.] and table['n_seeds'].tolist() == [1, 1]
    # another setting for the same runs is refused, not mixed in
    with pytest.raises(ValueError, match='epochs'): run_ablation(3, tmp_path, **{**kwargs, 'epochs': 2})


def test_cli_end_to_end(tmp_path):
    runs = tmp_path / 'ablation'
    status, out, err = _run_cli(['ablation', '--figure', '4', *TINY_ARGS, '--seeds', '0', '--runs-dir', str(runs)])
    assert status == 0, err
    assert '4 run(s) done, 0 already there' in out
    table = out[out.index('| γ_BG (γ_FG = 2) |'):].splitlines()
    assert [row.split('|')[1].strip() for row in table[2:6]] == ['0', '0.5', '1', '2'] and table[6] == ''
    assert sorted(p.name for p in runs.glob('figure4_*')) == ['figure4_synthetic_ms.csv', 'figure4_synthetic_ms.md',
                                                              'figure4_synthetic_ms.png']
    assert (runs / 'figure4_synthetic_ms.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert sorted(p.name for p in (runs / 'synthetic_ms').iterdir()) == [
        'pm_dice-gamma_bg=0', 'pm_dice-gamma_bg=0.5', 'pm_dice-gamma_bg=1', 'pm_dice-gamma_bg=2']
    rec = json.loads((runs / 'synthetic_ms' / 'pm_dice-gamma_bg=0.5' / 'seed0.json').read_text())
    assert rec['config']['loss_kwargs'] == {'pm_dice': {'gamma': [.5, 2.]}} and rec['config']['epochs'] == 1
    status, out, err = _run_cli(['ablation', '--figure', '4', *TINY_ARGS, '--seeds', '0', '--runs-dir', str(runs)])
    assert status == 0 and '0 run(s) done, 4 already there' in out, err
    assert len(load_records(runs)) == 4


def test_console_script_reports_bad_figure(tmp_path):
    proc = subprocess.run([sys.executable, '-m', 'pmdice_nb.cli', 'ablation', '--figure', '5', '--dataset',
                           'msseg2016'], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and 'invalid choice: 5' in proc.stderr, proc.stderr


# --- issue 17: names from records never form paths ------------------------------------------------------------

@pytest.mark.parametrize('dataset', ['x/../../../escaped_table', 'a.b/../../../../escaped'])
def test_write_ablation_stays_in_its_folder(tmp_path, dataset):
    from pmdice_nb.records import RecordError
    runs, out = tmp_path / 'a' / 'b' / 'c' / 'runs', tmp_path / 'a' / 'b' / 'c' / 'out'
    good = _record(3, 1, 0, .6, .6, .6, dataset='msseg2016')
    bad = _record(3, 2, 0, .6, .6, .6, dataset=dataset)
    for name, r in (('good', good), ('bad', bad)):
        p = runs / name / f"seed{r['seed']}.json"; p.parent.mkdir(parents=True); p.write_text(json.dumps(r))
    with pytest.raises(RecordError, match="field 'dataset'") as e: write_ablation(runs, 3, out_dir=out)
    assert str(runs / 'bad' / 'seed0.json') in str(e.value)
    assert [p for p in tmp_path.rglob('*') if p.suffix in ('.md', '.csv', '.png')] == []


def test_write_ablation_names_its_files_from_safe_names(tmp_path, monkeypatch):
    "Even a record that got past `read_record` with a dataset such as 'a/../b' cannot write outside `out_dir`."
    from pmdice_nb import ablations
    rec = {**_record(3, 1, 0, .6, .6, .6, dataset='x/../../escaped'), 'path': 'x', 'status': 'done'}
    monkeypatch.setattr(ablations, 'ablation_table', lambda records, figure, ds: ablation_table([{**rec, 'dataset': 'msseg2016'}], figure, 'msseg2016'))
    found = RecordSet(done=[rec], failed=[], bad=[])   # as `find_records` would give it
    with pytest.raises(ValueError, match='not a plain file name'): write_ablation(tmp_path / 'runs', 3, out_dir=tmp_path / 'o' / 'p', found=found)
    assert [p for p in tmp_path.rglob('*') if p.is_file()] == []
