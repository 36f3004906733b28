"The `pmdice` command line: environment errors end in one line and exit status 2; loss names, failed runs and unreadable records at the command line; the CLI's shape (options from `RunConfig`, no import of later notebooks)."
import ast, json, os
from pathlib import Path
import pytest

from pmdice_nb.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / 'data' / 'samples'
TINY = ['--dataset', 'synthetic_polyps', '--arch', 'unet', '--features', '4', '--epochs', '1', '--bs', '4', '--size', '32',
        '--crop', 'none', '--lr', '3e-3', '--quiet', '--dataset-kwargs', '{"n": 8, "size": 32}']

pytestmark = pytest.mark.usefixtures('one_thread')   # tests/conftest.py


def run(argv, capsys):
    "Exit status, stdout and stderr of `pmdice argv`."
    try: status = main([str(a) for a in argv])
    except SystemExit as e: status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(status, err, command, *named):
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f'pmdice {command}: error: '), err
    for n in named: assert str(n) in err, err


# --- environment errors (issue 6, section 3) -------------------------------------------------------------------

def test_runs_dir_that_is_a_file(tmp_path, capsys):
    file = tmp_path / 'runs'; file.write_text('')
    status, _, err = run(['train', *TINY, '--runs-dir', file], capsys)
    one_line_error(status, err, 'train', file, 'not a folder')
    status, _, err = run(['grid', *TINY, '--losses', 'dice', '--seeds', '0', '--runs-dir', file / 'sub'], capsys)
    one_line_error(status, err, 'grid', file / 'sub', 'cannot be made')


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_runs_dir_without_write_permission(tmp_path, capsys):
    runs = tmp_path / 'runs'; runs.mkdir(); runs.chmod(0o500)
    try:
        status, _, err = run(['train', *TINY, '--runs-dir', runs], capsys)
        one_line_error(status, err, 'train', runs, 'does not take new files')
    finally: runs.chmod(0o700)


def test_cache_dir_that_is_a_file(tmp_path, capsys):
    cache = tmp_path / 'cache'; cache.write_text('')
    status, _, err = run(['train', '--dataset', 'kvasir', '--root', SAMPLES / 'kvasir-seg-sample', '--runs-dir', tmp_path / 'runs',
                          '--dataset-kwargs', json.dumps({'cache_dir': str(cache)}), '--arch', 'unet', '--epochs', '1'], capsys)
    one_line_error(status, err, 'train', 'cache_dir', cache)
    assert not (tmp_path / 'runs').exists() or not list((tmp_path / 'runs').rglob('*.json'))


def test_unknown_dataset_option(tmp_path, capsys):
    status, _, err = run(['train', '--dataset', 'kvasir', '--root', SAMPLES / 'kvasir-seg-sample', '--runs-dir', tmp_path,
                          '--dataset-kwargs', '{"cach_dir": "x"}'], capsys)
    one_line_error(status, err, 'train', "'cach_dir'")


@pytest.mark.parametrize('arch, size, crop', [('unet', '8', None), ('unet', '32', '12'), ('resnet34', '16', None)])
def test_size_too_small_for_the_network(tmp_path, capsys, arch, size, crop):
    argv = ['train', *TINY, '--arch', arch, '--size', size, '--runs-dir', tmp_path] + (['--crop', crop] if crop else [])
    status, _, err = run(argv, capsys)
    one_line_error(status, err, 'train', 'too small', arch)
    assert not list(tmp_path.rglob('*.json'))


def test_threads_must_be_positive(tmp_path, capsys):
    status, _, err = run(['demo', '--threads', '-1', '--runs-dir', tmp_path / 'demo'], capsys)
    one_line_error(status, err, 'demo', 'threads', '-1')


def test_table_output_that_cannot_be_written(tmp_path, capsys):
    rec = {'dataset': 'kvasir', 'loss': 'ce', 'name': 'ce', 'seed': 0, 'metrics': {'mDice': .5}, 'config': {}}
    (tmp_path / 'kvasir' / 'ce').mkdir(parents=True); (tmp_path / 'kvasir' / 'ce' / 'seed0.json').write_text(json.dumps(rec))
    out = tmp_path / 'out'; out.write_text('')
    status, _, err = run(['table', tmp_path, '--out', out], capsys)
    one_line_error(status, err, 'table', out)
    status, _, err = run(['table', tmp_path, '--out', out / 'sub'], capsys)
    one_line_error(status, err, 'table', out / 'sub')


# --- records at the command line (issue 6, section 1) ----------------------------------------------------------

def test_loss_name_case_is_one_run_and_one_row(tmp_path, capsys):
    runs = tmp_path / 'runs'
    assert run(['train', *TINY, '--loss', 'CE', '--runs-dir', runs], capsys)[0] == 0
    status, out, _ = run(['train', *TINY, '--loss', 'ce', '--runs-dir', runs], capsys)
    assert status == 0 and 'already done' in out
    assert [p.relative_to(runs).as_posix() for p in runs.rglob('*.json')] == ['synthetic_polyps/ce/seed0.json']


def test_diverged_run_exits_non_zero(tmp_path, capsys):
    status, _, err = run(['train', *TINY, '--lr', '1e9', '--epochs', '2', '--runs-dir', tmp_path], capsys)
    assert status == 1 and 'diverged at epoch 0' in err, err
    assert json.loads((tmp_path / 'synthetic_polyps' / 'pm_dice' / 'seed0.json').read_text())['status'] == 'failed'
    status, out, err = run(['grid', *TINY, '--losses', 'pm_dice', '--seeds', '0', '--lr', '1e9', '--epochs', '2', '--runs-dir', tmp_path], capsys)
    assert status == 1 and '1 failed' in out  # retried by the grid, failed again


def test_table_skip_bad(tmp_path, capsys):
    rec = {'dataset': 'kvasir', 'loss': 'ce', 'name': 'ce', 'seed': 0, 'metrics': {'mDice': .5}, 'config': {}}
    (tmp_path / 'kvasir' / 'ce').mkdir(parents=True); (tmp_path / 'kvasir' / 'ce' / 'seed0.json').write_text(json.dumps(rec))
    bad = tmp_path / 'kvasir' / 'ce' / 'seed1.json'; bad.write_text('{"dataset": "kva')
    status, _, err = run(['table', tmp_path], capsys)
    one_line_error(status, err, 'table', bad, 'not JSON')
    status, out, _ = run(['table', tmp_path, '--skip-bad'], capsys)
    assert status == 0 and 'Left out: 1 unreadable record(s)' in out and str(bad) in out


# --- shape (issue 6, section 5) --------------------------------------------------------------------------------

def test_cli_does_not_import_later_notebooks():
    tree = ast.parse((ROOT / 'pmdice_nb' / 'cli.py').read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in imported if 'ablations' in m or 'studies' in m], imported


def test_every_run_option_comes_from_runconfig(capsys):
    import dataclasses
    from pmdice_nb.experiments import RunConfig, CHOICES
    from pmdice_nb.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == 'command').choices
    flags = set(sub['train']._option_string_actions)
    for f in dataclasses.fields(RunConfig):
        name = f.name.replace('_', '-')
        assert f'--{name}' in flags or f'--no-{name}' in flags, f.name
    for name, choices in CHOICES.items():
        assert tuple(sub['train']._option_string_actions['--' + name.replace('_', '-')].choices) == choices
    assert 'ablation' in sub  # added by pmdice_nb.ablations
