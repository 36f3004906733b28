"""The paths of a user who is not a developer of this repository: `pip install` of the built wheel into a venv that
has only the runtime requirements (today's fastai/fastcore resolve there, not the dev pins) plus a kernel.

- the sdist and wheel build (`python -m build`) and pass `twine check`; the wheel holds the package only;
- imports without nbdev, `pmdice --help`, the README's example, `unet_learner(..., loss_func=PMDiceLoss())` fits,
  exports and loads back;
- the tutorial and the losses notebook, copied to a folder outside the repository, run top to bottom there (the
  Colab path), and carry the Colab cells (`make colab`).

The venv is made once and cached in `.runtime-venv/` (git-ignored), rebuilt when the requirements change; the package
itself is reinstalled from the freshly built wheel each run. torch and torchvision (4 GB with their CUDA libraries)
are linked from `.venv` rather than reinstalled: everything else is resolved by pip as a user gets it.
Set PMDICE_RUNTIME_VENV=0 to skip (e.g. on a machine without network or package mirror).
"""
import hashlib, json, os, re, shutil, subprocess, sys, tarfile, tempfile, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT/'.runtime-venv'
PY = VENV/'bin'/'python'
TIMEOUT = 900
KERNEL = 'pmdice-runtime'

pytestmark = pytest.mark.skipif(os.environ.get('PMDICE_RUNTIME_VENV') == '0', reason='PMDICE_RUNTIME_VENV=0')


def run(cmd, timeout=TIMEOUT, **kw):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONNOUSERSITE': '1'}
    env.pop('PYTHONPATH', None)
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep) if not p.startswith(str(ROOT/'.venv')))
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env, **kw)
    assert r.returncode == 0, f'{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r


def _requirements_key() -> str:
    ini = (ROOT/'settings.ini').read_text()
    req = re.search(r'^requirements\s*=\s*(.*)$', ini, re.M).group(1)
    return hashlib.sha256(f'{req}|{sys.version_info[:2]}|ipykernel nbclient'.encode()).hexdigest()[:16]


def _link_torch(venv: Path):
    "Expose .venv's torch, torchvision and their CUDA/triton packages (and only those) to the runtime venv."
    src = Path(next((ROOT/'.venv'/'lib').glob('python3*')))/'site-packages'
    links = venv/'torch-from-dev-venv'
    links.mkdir(exist_ok=True)
    pat = re.compile(r'^(torch|torchvision|torchgen|functorch|nvidia|nvidia_.*|triton|cuda.*)([-_].*)?(\.dist-info)?$', re.I)
    for p in src.iterdir():
        name = p.name
        if pat.match(name) and not name.startswith(('torch_', 'torchmetrics', 'torchdata')):
            (links/name).unlink(missing_ok=True); (links/name).symlink_to(p)
    site = next((venv/'lib').glob('python3*'))/'site-packages'
    (site/'torch_from_dev_venv.pth').write_text(str(links) + '\n')


NEEDS_FREE = 2 * 2**30   # the runtime venv takes about 1 GB (torch linked), pip's downloads and unpacking as much again


def _check_disk(*paths, needs=NEEDS_FREE):
    "Fail at once, naming the folder and what is free, where a fresh runtime venv cannot fit (pip would stop midway)."
    for p in paths:
        free = shutil.disk_usage(p).free
        if free < needs:
            pytest.fail(f'the runtime venv needs about {needs / 2**30:.0f} GB free in {p}, which has {free / 2**30:.2f} GB')


BUILD_LOG = {}   # the output of the `dist` build, for test_wheel_metadata


@pytest.fixture(scope='session')
def dist(tmp_path_factory):
    "sdist and wheel built from the working tree."
    out = tmp_path_factory.mktemp('dist')
    r = subprocess.run([sys.executable, '-m', 'build', '--sdist', '--wheel', '--no-isolation', '--outdir', str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    BUILD_LOG['text'] = r.stdout + r.stderr
    return out


@pytest.fixture(scope='session')
def runtime_venv(dist):
    "A venv with the runtime install of the wheel (and ipykernel/nbclient to run notebooks); cached."
    wheel = next(dist.glob('*.whl'))
    key = _requirements_key()
    if not (PY.exists() and (VENV/'.key').exists() and (VENV/'.key').read_text() == key):
        shutil.rmtree(VENV, ignore_errors=True)
        _check_disk(ROOT, tempfile.gettempdir())
        run([sys.executable, '-m', 'venv', VENV])
        if (ROOT/'.venv').exists() and not os.environ.get('PMDICE_RUNTIME_TORCH'): _link_torch(VENV)
        run([PY, '-m', 'pip', 'install', '-q', str(wheel), 'ipykernel', 'nbclient'], timeout=1800)
        run([PY, '-m', 'ipykernel', 'install', '--sys-prefix', '--name', KERNEL])   # its own name: no other python3 spec wins
        (VENV/'.key').write_text(key)
    else:
        run([PY, '-m', 'pip', 'install', '-q', '--no-deps', '--force-reinstall', str(wheel)])
    return PY


def test_check_disk_names_the_folder(tmp_path):
    _check_disk(tmp_path, needs=1)   # a byte is free
    with pytest.raises(pytest.fail.Exception, match=re.escape(str(tmp_path)) + r', which has [0-9.]+ GB'):
        _check_disk(tmp_path, needs=2**70)


def test_dist_twine_check_and_contents(dist):
    r = subprocess.run([sys.executable, '-m', 'twine', 'check', '--strict', *map(str, dist.iterdir())],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    wheel = next(dist.glob('*.whl'))
    names = zipfile.ZipFile(wheel).namelist()
    assert 'pmdice_nb/losses.py' in names and any(n.endswith('entry_points.txt') for n in names)
    bad = [n for n in names if n.endswith(('.ipynb', '.nii.gz', '.jpg', '.png', '.csv')) or n.startswith(('nbs/', 'data/', 'tests/'))]
    assert not bad, f'the wheel holds more than the package: {bad[:10]}'
    sdist = next(dist.glob('*.tar.gz'))
    snames = tarfile.open(sdist).getnames()
    assert not [n for n in snames if '/data/samples/' in n or n.endswith('.nii.gz')], 'sample data in the sdist'


def test_wheel_metadata(dist):
    "Python 3.10+ (what fastai and torch need), Development Status from settings.ini, an SPDX licence; built without warnings."
    import email
    wheel = next(dist.glob('*.whl'))
    meta = email.message_from_string(next(zipfile.ZipFile(wheel).read(n).decode() for n in zipfile.ZipFile(wheel).namelist()
                                          if n.endswith('.dist-info/METADATA')))
    status = re.search(r'^status\s*=\s*(\d)', (ROOT/'settings.ini').read_text(), re.M).group(1)
    classifiers = meta.get_all('Classifier')
    assert meta['Requires-Python'] == '>=3.10' and meta['License-Expression'] == 'Apache-2.0', meta
    assert f'Development Status :: {status} - Alpha' in classifiers and not [c for c in classifiers if c.startswith('License ::')]
    assert 'Programming Language :: Python :: 3.10' in classifiers and 'Programming Language :: Python :: 3.9' not in classifiers
    # (byte-compiling is off where PYTHONDONTWRITEBYTECODE is set: a note about the environment, not the package)
    warns = [l for l in BUILD_LOG['text'].splitlines() if 'warn' in l.lower() and 'byte-compiling is disabled' not in l]
    assert not warns, warns


def test_imports_without_nbdev_and_versions(runtime_venv):
    code = ("import importlib.util, fastai, fastcore, pmdice_nb, pmdice_nb.losses, pmdice_nb.metrics, pmdice_nb.learner, "
            "pmdice_nb.cli; assert importlib.util.find_spec('nbdev') is None, 'nbdev in the runtime venv'; "
            "print(fastai.__version__, fastcore.__version__)")
    r = run([runtime_venv, '-c', code], cwd=Path('/'))
    print('runtime venv: fastai, fastcore =', r.stdout.strip())


def test_cli_help(runtime_venv):
    r = run([VENV/'bin'/'pmdice', '--help'], cwd=Path('/'))
    assert 'usage' in r.stdout.lower()


def test_readme_example(runtime_venv, tmp_path):
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    blocks = re.findall(r'```python\n(.*?)```', readme, re.S)
    example = next(b for b in blocks if 'PMDiceLoss(' in b and 'import' in b)
    (tmp_path/'example.py').write_text(example)
    run([runtime_venv, tmp_path/'example.py'], cwd=tmp_path)


def test_unet_learner_fit_export_load(runtime_venv, tmp_path):
    code = '''
import torch, numpy as np
from pathlib import Path
from PIL import Image
from fastai.vision.all import unet_learner, resnet18, SegmentationDataLoaders, load_learner
from pmdice_nb.losses import PMDiceLoss
rng = np.random.default_rng(0)
(Path('images')).mkdir(); (Path('masks')).mkdir()
for i in range(8):
    img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8); Image.fromarray(img).save(f'images/{i}.png')
    Image.fromarray((img[..., 0] > 127).astype(np.uint8)).save(f'masks/{i}.png')
def label(f): return Path('masks')/f.name
dls = SegmentationDataLoaders.from_label_func('.', [Path(f'images/{i}.png') for i in range(8)], label, codes=['bg', 'fg'], bs=4, device='cpu', seed=0)
learn = unet_learner(dls, resnet18, pretrained=False, n_out=2, loss_func=PMDiceLoss())
with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
learn.export('model.pkl')
learn2 = load_learner('model.pkl')
assert isinstance(learn2.loss_func, PMDiceLoss)
mask, _, probs = learn2.predict('images/0.png')
assert tuple(mask.shape) == (32, 32) and probs.shape[0] == 2, (mask.shape, probs.shape)
print('ok')
'''
    (tmp_path/'fit.py').write_text(code)
    r = run([runtime_venv, tmp_path/'fit.py'], cwd=tmp_path)
    assert r.stdout.strip().endswith('ok')


sys.path.insert(0, str(ROOT/'scripts'))
import colab_cells

RUNTIME_NBS = ['20_tutorial.own_training.ipynb', '01a_losses_core.ipynb', '01b_losses.ipynb']
FLAGS = re.compile(r'^#\|\s*(eval:\s*false|slow|cuda|data)\b', re.M)


@pytest.mark.parametrize('name', RUNTIME_NBS)
def test_notebook_has_colab_cells(name):
    nb = json.loads((ROOT/'nbs'/name).read_text(encoding='utf-8'))
    before = colab_cells.dumps(nb)
    assert colab_cells.dumps(colab_cells.apply(nb, ROOT/'nbs'/name)) == before, f'nbs/{name} lacks the Colab cells: run `make colab`'


@pytest.mark.parametrize('name', RUNTIME_NBS)
def test_notebook_runs_outside_repo(runtime_venv, tmp_path, name):
    "The notebook (with its Colab cells) runs top to bottom from a folder outside the repository, without nbdev."
    nb = colab_cells.apply(json.loads((ROOT/'nbs'/name).read_text(encoding='utf-8')), ROOT/'nbs'/name)
    # What nbdev_test skips: cells marked `#| eval: false` and the flagged heavy cells (slow, cuda, data).
    nb['cells'] = [c for c in nb['cells'] if not (c['cell_type'] == 'code' and FLAGS.search(''.join(c['source'])))]
    dst = tmp_path/name
    dst.write_text(json.dumps(nb), encoding='utf-8')
    code = f'''
import nbformat, nbclient
nb = nbformat.read({str(dst)!r}, as_version=4)
nbclient.NotebookClient(nb, timeout=600, kernel_name={KERNEL!r}, resources={{'metadata': {{'path': {str(tmp_path)!r}}}}}).execute()
'''
    run([runtime_venv, '-c', code], cwd=tmp_path)
