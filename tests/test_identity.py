"A run's identity comes from its record's fields (issue 16, item 4): the places that used to parse folder names."
import pytest
from pmdice_nb.records import run_identity
from pmdice_nb.studies import pool_folds, get_study, study_configs
from pmdice_nb.ablations import _record_value, get_ablation


def record(loss, seed, fold, tag='', loss_kwargs=None, dice=.5):
    tag = '-'.join(t for t in (tag, f'fold={fold}') if t)
    return {'dataset': 'open_ms', 'loss': loss, 'name': f'{loss}-{tag}', 'seed': seed,
            'config': {'loss_kwargs': loss_kwargs or {}, 'tag': tag, 'dataset_kwargs': {'test_ids': [fold]}},
            'metrics': {'mDice': dice}, 'per_case': [{'id': f'{fold}_0', 'dice': [.9, dice], 'iou': [.8, dice],
                                                   'precision': [.9, dice], 'recall': [.9, dice], 'nsd': [.9, dice]}]}


def test_pool_folds_groups_by_identity():
    g = {'pm_dice': {'gamma': 0.5}}
    recs = [record('pm_dice', 0, f, 'gamma=0.5', g) for f in ('patient07', 'patient19')] + \
           [record('dice', 0, f) for f in ('patient07', 'patient19')] + [record('dice', 1, 'patient07')]
    pooled = pool_folds(recs, ['background', 'lesion'])
    assert [(r['name'], r['seed'], r['config']['tag'], len(r['per_case'])) for r in pooled] == \
        [('dice', 0, '', 2), ('dice', 1, '', 1), ('pm_dice-gamma=0.5', 0, 'gamma=0.5', 2)]
    assert all('test_ids' not in r['config']['dataset_kwargs'] for r in pooled)
    assert pooled[2]['folds'] == ['pm_dice-gamma=0.5-fold=patient07', 'pm_dice-gamma=0.5-fold=patient19']
    with pytest.raises(ValueError, match='a test case appears in two folds'):
        pool_folds(recs + [record('dice', 1, 'patient07')], ['background', 'lesion'])


def test_identity_fills_defaults_from_the_signature():
    a, b = record('pm_dice', 0, 'patient07', 'gamma=1'), record('pm_dice', 0, 'patient07', 'gamma=1', {'pm_dice': {'gamma': 1.}})
    assert run_identity(a) == run_identity(b) and run_identity(a)['fold'] == ('patient07',)
    assert _record_value({**a, 'config': {**a['config'], 'tag': 'gamma=1'}}, get_ablation(3)) == 1.   # γ not given: PM Dice's default


def test_figure5_runs_pair_each_fold():
    figures = pytest.importorskip('pmdice_nb.figures')
    try: study_configs('ms_cpu')
    except FileNotFoundError: pytest.skip('no data root')
    pairs = figures.figure5_runs('ms_cpu')
    assert [(a.name, b.name) for a, b in pairs] == [(f'dice-fold={p}', f'pm_dice-fold={p}') for (p,) in get_study('ms_cpu').folds]
