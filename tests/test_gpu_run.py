"""The GPU call, simulated on the CPU (issue 15): bench/gpu_run.sh in a fresh Python that has torch but not fastai,
fastcore or nibabel (as the GPU image), installing only from the carried wheels; OUTDIR obeys the return rules
(at most 8 files, at most 2 folders down, plain names, at most 16 MiB each); the records come back out of the archive
and merge (scripts/gpu_results.py), which refuses unsafe archives and records of another configuration."""
import io, json, os, re, subprocess, sys, tarfile, sysconfig
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'scripts'))
import gpu_results, pack_gpu_data

MISSING = ('fastai', 'fastcore', 'fastprogress', 'fastdownload', 'fasttransform', 'plum', 'plum_dispatch', 'beartype',
           'nibabel', 'pmdice_nb', '__editable__', '_pmdice_nb', 'distutils-precedence',
           # nor fastprogress 1.1's python-fasthtml and its web stack: the 2026-12-04 call failed on `import fasthtml`
           'fasthtml', 'python_fasthtml', 'fastlite', 'apsw', 'starlette', 'uvicorn', 'httpx', 'oauthlib', 'itsdangerous',
           'python_multipart', 'multipart', 'bs4', 'beautifulsoup4')


def check_returnable(outdir:Path):
    "The device tool's rules for what comes back from $OUT."
    entries = list(outdir.rglob('*'))
    files = [p for p in entries if p.is_file()]
    assert len(files) <= 8, files
    for p in entries:
        rel = p.relative_to(outdir)
        assert len(rel.parts) <= 3, rel                     # $OUT/a/b/file at most
        assert all(re.fullmatch(r'[A-Za-z0-9._-]+', part) for part in rel.parts), rel
        assert not p.is_symlink(), rel
    assert all(p.stat().st_size <= 16 * 2**20 for p in files)
    assert sum(p.stat().st_size for p in files) <= 64 * 2**20


def fake_image(tmp:Path) -> Path:
    "A fresh venv whose python sees this venv's packages (torch, numpy, h5py, pip...) but not fastai, fastcore, nibabel."
    img = tmp / 'image'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(img)], check=True)
    pkgs = tmp / 'image_packages'; pkgs.mkdir()
    for p in Path(sysconfig.get_paths()['purelib']).iterdir():
        if p.name.lower().replace('-', '_').startswith(tuple(m.replace('-', '_') for m in MISSING)) or p.suffix == '.pth': continue
        (pkgs / p.name).symlink_to(p)
    site = next((img / 'lib').glob('python3*/site-packages'))
    (site / 'image.pth').write_text(str(pkgs) + '\n')
    return img


@pytest.fixture(scope='module')
def wheels(tmp_path_factory):
    "The pinned wheels, for this machine's Python (the GPU image's are for 3.12); skip when pip cannot fetch them."
    d = tmp_path_factory.mktemp('wheels')
    try: pack_gpu_data.download_wheels(d, python=f'{sys.version_info.major}.{sys.version_info.minor}')
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f'the pinned wheels cannot be downloaded here (offline?): {e}')
    return d


def test_gpu_call_simulated(tmp_path, wheels):
    "The whole call in a fresh 'image': wheels installed, smoke study run, OUTDIR returnable, records merge."
    img = fake_image(tmp_path)
    r = subprocess.run([str(img / 'bin' / 'python'), '-c', 'import torch, h5py\ntry:\n import fastai\nexcept ImportError: print("no fastai")'],
                       capture_output=True, text=True)
    assert r.stdout.strip() == 'no fastai', r.stdout + r.stderr
    out = tmp_path / 'OUT'
    env = {**os.environ, 'PATH': f"{img / 'bin'}:{os.environ['PATH']}", 'PYTHON': 'python3', 'GPU_RUN_WHEELS': str(wheels),
           'GPU_RUN_SITE': str(tmp_path / 'site'), 'GPU_RUN_STUDIES': 'unknown_study smoke', 'GPU_RUN_BENCH': '0',
           'OMP_NUM_THREADS': '1', 'PMDICE_COMMIT': 'cafe123', 'TMPDIR': str(tmp_path),
           'GIT_DIR': str(tmp_path / 'no-git')}   # .git does not travel
    env.pop('PYTHONPATH', None); env.pop('VIRTUAL_ENV', None)
    p = subprocess.run(['bash', 'bench/gpu_run.sh', '4', str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    log = p.stdout + p.stderr
    assert p.returncode == 0, log
    assert f"fastai 2.8.7 from {tmp_path / 'site'}" in log and 'torch' in log, log   # from the carried wheels
    assert "skipping study unknown_study: 'pmdice study list' does not know it" in log, log
    assert 'smoke [shard 0/1]: 2 new' in log, log
    check_returnable(out)
    assert sorted(f.name for f in out.iterdir()) == ['gpu_run.log', 'records.tar.gz']
    assert not list(tmp_path.glob('gpu_run.*')), 'the scratch folder is removed'
    with tarfile.open(out / 'records.tar.gz') as tar: names = sorted(tar.getnames())
    assert names == ['smoke/synthetic_polyps/dice/seed0.json', 'smoke/synthetic_polyps/pm_dice/seed0.json',
                     'smoke/table.csv', 'smoke/table.md'], names
    dest = tmp_path / 'results'
    added = gpu_results.merge(out, dest)['added']
    assert sorted(added) == names[:2]
    rec = json.loads((dest / 'smoke/synthetic_polyps/pm_dice/seed0.json').read_text())
    assert rec['status'] == 'done' and rec['git_commit'] == 'cafe123'   # no .git there: the commit passed in
    assert (dest / 'smoke' / 'table.md').is_file()
    again = gpu_results.merge(out, dest)
    assert again['added'] == [] and sorted(again['same']) == names[:2]


def _record(loss='dice', lr=1e-2, mdice=0.5) -> bytes:
    cfg = dict(dataset='synthetic_polyps', loss=loss, seed=0, arch='unet', features=4, epochs=1, bs=4, lr=lr)
    return json.dumps(dict(status='done', dataset='synthetic_polyps', loss=loss, name=loss, seed=0, config=cfg,
                           metrics={'mDice': mdice})).encode()


def _archive(path:Path, members:dict, link:str|None=None) -> Path:
    with tarfile.open(path, 'w:gz') as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link); info.type = tarfile.SYMTYPE; info.linkname = '/etc/passwd'; tar.addfile(info)
    return path


@pytest.mark.parametrize('name', ['/abs/synthetic_polyps/dice/seed0.json', 'smoke/../../x/seed0.json', 'smoke/.hidden/seed0.json'])
def test_merge_refuses_escaping_paths(tmp_path, name):
    arc = _archive(tmp_path / 'records.tar.gz', {name: _record()})
    with pytest.raises(SystemExit, match='refused'): gpu_results.merge(arc, tmp_path / 'dest', tables=False)
    assert not (tmp_path / 'dest').exists() and not (tmp_path / 'x').exists()


def test_merge_refuses_links(tmp_path):
    arc = _archive(tmp_path / 'records.tar.gz', {'s/synthetic_polyps/dice/seed0.json': _record()}, link='s/synthetic_polyps/ce/seed0.json')
    with pytest.raises(SystemExit, match='not a plain file'): gpu_results.merge(arc, tmp_path / 'dest', tables=False)
    assert not (tmp_path / 'dest').exists()


def test_merge_skips_same_refuses_other_config(tmp_path):
    dest = tmp_path / 'dest'; committed = dest / 's/synthetic_polyps/dice/seed0.json'
    committed.parent.mkdir(parents=True); committed.write_bytes(_record())
    new = 's/synthetic_polyps/pm_dice/seed0.json'
    out = gpu_results.merge(_archive(tmp_path / 'a.tar.gz', {'s/synthetic_polyps/dice/seed0.json': _record(), new: _record('pm_dice')}),
                            dest, tables=False)
    assert out['same'] == ['s/synthetic_polyps/dice/seed0.json'] and out['added'] == [new]
    rerun = gpu_results.merge(_archive(tmp_path / 'b.tar.gz', {'s/synthetic_polyps/dice/seed0.json': _record(mdice=0.6)}), dest, tables=False)
    assert rerun['kept'] == ['s/synthetic_polyps/dice/seed0.json'] and json.loads(committed.read_bytes())['metrics']['mDice'] == 0.5
    other = _archive(tmp_path / 'c.tar.gz', {'s/synthetic_polyps/dice/seed0.json': _record(lr=1e-3), 's/synthetic_polyps/ce/seed0.json': _record('ce')})
    with pytest.raises(SystemExit, match='refused'): gpu_results.merge(other, dest, tables=False)
    assert not (dest / 's/synthetic_polyps/ce').exists()   # nothing written when one record is refused


def test_pack_takes_only_new_records(tmp_path):
    runs, committed = tmp_path / 'runs', tmp_path / 'committed'
    for root, names in ((committed, ['s/d/dice/seed0.json']), (runs, ['s/d/dice/seed0.json', 's/d/ce+dice/seed0.json', 's/table.md'])):
        for n in names: (root / n).parent.mkdir(parents=True, exist_ok=True); (root / n).write_text(n)
    (runs / 's/d/ce/.seed0.work').mkdir(parents=True); (runs / 's/d/ce/.seed0.work/best.pth').write_text('x')
    (runs / 's/d/ce/.seed0.lock').write_text('{}')
    names = gpu_results.pack(runs, tmp_path / 'records.tar.gz', committed)
    assert sorted(names) == ['s/d/ce+dice/seed0.json', 's/table.md']
    assert not (tmp_path / 'records.tar.gz.part').exists()


def test_gpu_run_needs_arguments():
    out = subprocess.run(['bash', 'bench/gpu_run.sh'], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and 'usage' in out.stderr
