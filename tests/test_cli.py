"The `pmdice` command line: environment errors end in one line and exit status 2; bad values name their option; Ctrl-C ends in one line and exit status 130; loss names, failed runs and unreadable records at the command line; the CLI's shape (options from `RunConfig`, no import of later notebooks, nothing heavy imported for `pmdice -h`)."
import ast, json, os, re, socket, subprocess, sys
from pathlib import Path
import pytest

from pmdice_nb import cli, commands
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


# --- bad values name their option (issue 17: 11, 12) ----------------------------------------------------------

@pytest.mark.parametrize('argv, named', [
    (['train', *TINY, '--dataset-kwargs', '{"n": "ten"}'], ["--dataset-kwargs option 'n'", "'ten'"]),
    (['train', *TINY, '--dataset-kwargs', '{"size": NaN}'], ["--dataset-kwargs option 'size'", 'nan']),
    (['demo', '--threads', '0'], ['argument --threads', "'0'"]),
    (['demo', '--threads', 'abc'], ['argument --threads', "'abc'"]),
    (['table', ROOT / 'nbs' / 'results' / 'kvasir_cpu', '--digits', '-1'], ['--digits must be >= 0', '-1']),
    (['train', '--dataset', 'kvasirr'], ['argument --dataset', "invalid choice: 'kvasirr'"]),
])
def test_bad_value_names_its_option(tmp_path, capsys, argv, named):
    status, _, err = run([*argv, '--runs-dir', tmp_path] if argv[0] != 'table' else [*argv, '--out', tmp_path], capsys)
    one_line_error(status, err, argv[0], *named)
    assert not list(tmp_path.rglob('*'))


def test_option_named_in_library_messages(capsys):
    "A library message that starts with a field or option name says it as the option (`--size ...`)."
    status, _, err = run(['train', *TINY, '--size', '8'], capsys)
    one_line_error(status, err, 'train', '--size (8, 8) is too small')


# --- Ctrl-C (issue 17: 15) --------------------------------------------------------------------------------------

def test_ctrl_c_during_train(tmp_path, capsys, monkeypatch):
    "Ctrl-C in the middle of a run: one line, exit status 130, the run's lock removed, no record; a rerun runs it."
    import pmdice_nb.experiments as experiments
    def ctrl_c(*args, **kwargs): raise KeyboardInterrupt
    monkeypatch.setattr(experiments, 'run_one', ctrl_c)
    status, out, err = run(['train', *TINY, '--runs-dir', tmp_path], capsys)
    assert status == 130 and err == 'pmdice train: interrupted; lock removed (finished runs are kept: a rerun resumes)\n', err
    assert [p for p in tmp_path.rglob('*') if p.is_file()] == []
    monkeypatch.undo()
    assert run(['train', *TINY, '--runs-dir', tmp_path], capsys)[0] == 0


def test_ctrl_c_during_grid_keeps_finished_runs(tmp_path, capsys, monkeypatch):
    import pmdice_nb.experiments as experiments
    real, calls = experiments.run_one, []
    def second_is_interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2: raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(experiments, 'run_one', second_is_interrupted)
    status, _, err = run(['grid', *TINY, '--losses', 'dice,ce', '--seeds', '0', '--runs-dir', tmp_path], capsys)
    assert status == 130 and err.startswith('pmdice grid: interrupted') and len(err.splitlines()) == 1, err
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*.json')] == ['synthetic_polyps/dice/seed0.json']
    assert not [p for p in tmp_path.rglob('*') if 'lock' in p.name]


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

def import_graph(package:Path) -> dict:
    "Module → the package modules it imports: at the top, inside functions, and named in strings (what `importlib` is given)."
    names = {'.'.join(p.relative_to(package.parent).with_suffix('').parts).removesuffix('.__init__'): p
             for p in package.rglob('*.py') if p.name != '_modidx.py'}
    graph = {}
    for mod, path in names.items():
        tree, pkg = ast.parse(path.read_text()), mod if path.name == '__init__.py' else mod.rpartition('.')[0]
        found = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.Import): found |= {a.name for a in n.names}
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ''
                if n.level: base = '.'.join(pkg.split('.')[:len(pkg.split('.')) - n.level + 1] + ([base] if base else []))
                found |= {base} | {f'{base}.{a.name}' for a in n.names}
            elif isinstance(n, ast.Constant) and isinstance(n.value, str): found.add(n.value)
        graph[mod] = sorted(m for m in found if m in names and m != mod and m != package.name)
    return graph


def cycles(graph:dict) -> list:
    "The import cycles of `graph`, each as a list of modules (first one repeated at the end)."
    out, state = [], {}
    def visit(m, stack):
        state[m] = 'open'
        for n in graph.get(m, []):
            if state.get(n) == 'open': out.append(stack[stack.index(n):] + [n])
            elif n not in state: visit(n, stack + [n])
        state[m] = 'done'
    for m in sorted(graph):
        if m not in state: visit(m, [m])
    return out


def test_import_graph_has_no_cycles():
    "Every import of every module (top level, inside functions, and module names in strings for `importlib`): no cycles."
    graph = import_graph(ROOT / 'pmdice_nb')
    assert graph['pmdice_nb.cli'] and 'pmdice_nb.studies' in graph['pmdice_nb.cli']   # the strings are read
    assert 'pmdice_nb.data.kvasir' in graph['pmdice_nb.experiments']
    found = cycles(graph)
    assert not found, 'import cycles (a module imports, at the top, in a function or by name, one that imports it back): ' + \
        '; '.join(' → '.join(c) for c in found)
    assert cycles({'a': ['b'], 'b': ['c'], 'c': ['a']}) == [['a', 'b', 'c', 'a']]


def notebook_of(package:Path) -> dict:
    "Module → the notebook it is exported from (its number is its floor), read from the module's header."
    out = {}
    for p in package.rglob('*.py'):
        m = re.search(r'File to edit: (?:\.\./)+nbs/(\S+)\.ipynb', p.read_text())
        if m: out['.'.join(p.relative_to(package.parent).with_suffix('').parts).removesuffix('.__init__')] = m.group(1)
    return out


def test_modules_import_only_earlier_notebooks():
    "The layers follow the reading order: a module imports (anywhere, or by name) only modules of notebooks numbered before its own."
    graph, nb = import_graph(ROOT / 'pmdice_nb'), notebook_of(ROOT / 'pmdice_nb')
    assert nb['pmdice_nb.records'] < nb['pmdice_nb.experiments'] < nb['pmdice_nb.tables']
    upward = [f"{a} ({nb[a]}) imports {b} ({nb[b]})" for a, bs in graph.items() for b in bs if a in nb and b in nb and nb[b] >= nb[a]]
    assert upward == [], upward


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



HEAVY = ('torch', 'fastai', 'pmdice_nb.experiments', 'pmdice_nb.studies', 'pmdice_nb.ablations')

def _imported_after(code):
    "The heavy modules a fresh Python holds after `code`."
    check = code + f"\nimport sys; print([m for m in {HEAVY!r} if m in sys.modules])"
    r = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return ast.literal_eval(r.stdout.strip().splitlines()[-1])


def test_help_imports_nothing_heavy():
    "`pmdice -h` took 9-15 s because fastai was imported at start-up: now neither torch nor any command's module is."
    assert _imported_after("from pmdice_nb.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass") == []
    assert _imported_after("from pmdice_nb.cli import main\ntry: main(['table', '--help'])\nexcept SystemExit: pass") == []
    r = subprocess.run([str(Path(sys.executable).parent / 'pmdice'), '--help'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and all(c in r.stdout for c in ('train', 'grid', 'table', 'demo', 'ablation', 'study')), r.stdout


def test_later_commands_help_lines_match_their_modules():
    "`COMMAND_MODULES` gives the line of `pmdice -h` of a later module's command: the same line the module registers."
    from pmdice_nb.cli import COMMAND_MODULES, build_parser
    sub = next(a for a in build_parser()._actions if a.dest == 'command')
    registered = {a.dest: a.help for a in sub._choices_actions}
    for name, (module, help) in COMMAND_MODULES.items(): assert registered[name] == help, (name, registered[name])


def test_study_list_imports_nothing_heavy():
    "`pmdice study list` needs the presets only: pmdice_nb.studies imports torch, fastai and the experiments inside the functions that run."

    assert _imported_after("from pmdice_nb.cli import main\nmain(['study', 'list'])") == ['pmdice_nb.studies']


def test_missing_dependency_is_one_line(tmp_path, monkeypatch, capsys):
    "A missing runtime dependency (h5py for ACDC) ends in one line with its install command and exit 2, no traceback."
    from pmdice_nb.data.fakes import make_fake_acdc_ssl4mis
    make_fake_acdc_ssl4mis(tmp_path / 'acdc')          # written with h5py, before it goes missing
    monkeypatch.setitem(sys.modules, 'h5py', None)   # `import h5py` raises ImportError
    rc = cli.main(['train', '--dataset', 'acdc', '--root', str(tmp_path / 'acdc'), '--epochs', '1', '--runs-dir', str(tmp_path / 'runs')])
    err = capsys.readouterr().err
    assert rc == 2 and 'pip install h5py' in err and 'Traceback' not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_busy_runs_name_their_lock(tmp_path, capsys):
    "A run another process holds is reported with its lock's path, holder and expiry."
    from pmdice_nb.records import lock_path, run_path
    from pmdice_nb.experiments import RunConfig
    cfg = RunConfig('synthetic_polyps', 'dice', epochs=1)
    lock = lock_path(tmp_path, cfg); lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({'pid': os.getpid(), 'host': socket.gethostname(), 'started': '2026-01-01T00:00:00+00:00'}))
    commands.report_grid({'done': [], 'skipped': [], 'busy': [str(run_path(tmp_path, cfg))], 'failed': []}, tmp_path)
    err = capsys.readouterr().err
    assert str(lock) in err and 'stale after' in err, err
