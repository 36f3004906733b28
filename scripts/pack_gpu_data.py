"""Pack the data a GPU run needs into a small folder that travels with it (`gpu_data/`, ignored by git).

A GPU machine receives at most 64 MiB per run: the tracked tree plus this folder. The full Kvasir-SEG (55 MB, up to
1920x1072 JPEGs) and ACDC (130 MB, float32 HDF5) do not fit, so this script writes copies that the same loaders read
unchanged, with the same layout, ids and split lists:

- `kvasir-seg/`: every image resized to SIZE x SIZE (the paper's 320; bilinear, anti-aliased, as the learner resizes)
  and saved as JPEG (quality 95), every mask resized with the learner's own nearest-neighbour resize and saved as a
  1-bit PNG, `splits/` (and `train.txt`/`val.txt`) copied, the bounding boxes rescaled, and `spacing.json`: each new
  pixel's size in original pixels (H/SIZE, W/SIZE), so that NSD tolerances mean the same as on the original files.
  `KvasirSEG('gpu_data/kvasir-seg', split='pranet')` gives the same split as on the original folder.
- `acdc-ssl4mis/` (with `--acdc`): the SSL4MIS layout with each volume's image as uint8 (the per-volume [0, 1]
  intensities times 2**bits - 1, rounded; 6 bits by default, see below) and gzip-9; training volumes stored as 3D files instead
  of slices (the loader reads both), the lists copied. `ACDC('gpu_data_acdc/acdc-ssl4mis')` reads it; its min-max
  normalisation maps the integers back to [0, 1] (error <= 0.5 / (2**bits - 1), 0.004 at 7 bits).

Sizes measured on the full sets (bytes of the files): Kvasir-SEG at 320, JPEG q95: 32.6 MB (31.1 MiB; 2m55s on 2
cores). ACDC: 8 bits 67.1 MB (64.0 MiB, does not fit), 7 bits 53.9 MB (51.4 MiB), 6 bits 41.2 MB (39.3 MiB). With the
tracked tree (about 8 MB) Kvasir and ACDC do not fit in one run: pack them into two folders and carry one per run
(`PMDICE_DATA=gpu_data` for Kvasir, `PMDICE_DATA=gpu_data_acdc` for ACDC).

ACDC is packed at 6 bits by default (39.3 MiB): with the tree and the wheels it fits one call of its own.

`--wheels` downloads into `.whl/` the pinned pure-Python wheels the GPU image lacks (`WHEELS`: fastai and its fast.ai
helpers, plum-dispatch and beartype, nibabel; the image has torch, h5py, numpy, scipy, pandas, scikit-learn, rich...)
and writes `.whl/requirements.txt`, which bench/gpu_run.sh installs with `pip install --no-index --no-deps
--find-links .whl --target /tmp/site -r .whl/requirements.txt`. `--call` measures what a call carries (the tree that
travels: tracked and untracked-not-ignored files; plus the carried folders) and prints the exact `run` arguments.

Usage (from the repository root):

    python scripts/pack_gpu_data.py                     # Kvasir only, into gpu_data/
    python scripts/pack_gpu_data.py --no-kvasir --wheels                # the wheels only, into .whl/
    python scripts/pack_gpu_data.py --no-kvasir --call --carry .whl gpu_data   # sizes and the exact call
    python scripts/pack_gpu_data.py --acdc --out gpu_data_acdc --no-kvasir
    du -sb gpu_data; git ls-files -z | xargs -0 du -cb | tail -1   # what travels: this folder plus the tracked tree

The sources default to `$PMDICE_DATA` or `../shared/data` beside the repository.
"""
import argparse, functools, json, os, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get('PMDICE_DATA') or REPO.parent / 'shared' / 'data')


def _map(fn, jobs:list, workers:int) -> list:
    "`fn` over `jobs`, in `workers` processes (in this one when workers <= 1)."
    if workers <= 1: return [fn(j) for j in jobs]
    with ProcessPoolExecutor(workers) as pool: return list(pool.map(fn, jobs, chunksize=8))

_DATASETS = {}  # one listing per worker process

def _dataset(kind:str, src:str):
    if (kind, src) not in _DATASETS:
        from pmdice_nb.data.kvasir import KvasirSEG
        from pmdice_nb.data.acdc import ACDC
        _DATASETS[kind, src] = (KvasirSEG(src, cache_dir=None, split='random') if kind == 'kvasir'
                                else ACDC(src, cache_dir=None, layout='ssl4mis'))
    return _DATASETS[kind, src]


# ---------------------------------------------------------------- Kvasir-SEG
def _pack_kvasir_case(args):
    "Resize one Kvasir case and write its JPEG image and 1-bit PNG mask; returns (id, original (H, W))."
    src, dst, i, size, quality = args
    import torch
    from PIL import Image
    from pmdice_nb.augment import resize_slices
    torch.set_num_threads(1)
    case = _dataset('kvasir', src)[i]
    image = torch.as_tensor(np.array(case.image)).permute(2, 0, 1)[None].float() / 255
    mask = torch.as_tensor(case.mask.astype(np.int64))[None]
    image, mask = resize_slices(image, mask, (size, size))
    pixels = (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(pixels).save(Path(dst) / 'images' / f'{case.id}.jpg', quality=quality)
    Image.fromarray(mask[0].numpy().astype(bool)).save(Path(dst) / 'masks' / f'{case.id}.png', optimize=True)
    return case.id, case.mask.shape


def _atomic_folder(pack):
    "`pack(src, dst, ...)` writing into `dst.part`, then put in place of `dst` at once: an interrupted pack leaves no folder a loader accepts."
    @functools.wraps(pack)
    def wrapper(src:Path, dst:Path, *args, **kwargs):
        part = dst.with_name(dst.name + '.part')
        out = pack(src, part, *args, **kwargs)
        if dst.exists(): shutil.rmtree(dst)
        os.replace(part, dst)
        return out
    return wrapper


@_atomic_folder
def pack_kvasir(src:Path, dst:Path, size:int=320, quality:int=95, workers:int=2) -> dict:
    "Write the resized copy of the Kvasir-SEG folder `src` into `dst`."
    from pmdice_nb.data.kvasir import KvasirSEG
    ds = KvasirSEG(src, cache_dir=None, split='random')
    if dst.exists(): shutil.rmtree(dst)
    (dst / 'images').mkdir(parents=True); (dst / 'masks').mkdir()
    jobs = [(str(ds.root), str(dst), i, size, quality) for i in range(len(ds))]
    shapes = dict(_map(_pack_kvasir_case, jobs, workers))
    spacing = {i: [round(h / size, 6), round(w / size, 6)] for i, (h, w) in shapes.items()}
    (dst / 'spacing.json').write_text(json.dumps(spacing, indent=0, sort_keys=True) + '\n')
    if ds.bboxes:
        boxes = {}
        for id_, entry in ds.bboxes.items():
            if id_ not in shapes: continue
            (h, w) = shapes[id_]; sy, sx = size / h, size / w
            boxes[id_] = {**entry, 'height': size, 'width': size,
                          'bbox': [{**b, 'xmin': round(b['xmin'] * sx), 'xmax': round(b['xmax'] * sx),
                                    'ymin': round(b['ymin'] * sy), 'ymax': round(b['ymax'] * sy)} for b in entry.get('bbox', [])]}
        (dst / 'kavsir_bboxes.json').write_text(json.dumps(boxes))
    if (ds.root / 'splits').is_dir(): shutil.copytree(ds.root / 'splits', dst / 'splits')
    for name in ('train.txt', 'val.txt'):
        if (ds.root / name).is_file(): shutil.copy(ds.root / name, dst / name)
    (dst / 'SOURCE.md').write_text(
        f'# Kvasir-SEG resized to {size}x{size} for a GPU run\n\nWritten by `scripts/pack_gpu_data.py` from `{ds.root}` '
        f'({len(ds)} pairs): images bilinear (anti-aliased) to {size}x{size}, JPEG quality {quality}; masks with the '
        f"learner's nearest-neighbour resize, 1-bit PNG; split lists copied; `spacing.json` = each new pixel's size in "
        f'original pixels (H/{size}, W/{size}), so NSD tolerances are in original pixels as on the full files. '
        f'Terms of the dataset: research and educational use, cite Jha et al., MMM 2020 (see the source SOURCE.md).\n')
    return {'cases': len(ds)}


# ---------------------------------------------------------------- ACDC (SSL4MIS layout)
def _pack_acdc_case(args):
    src, dst, i, bits = args
    import h5py
    ds = _dataset('acdc', src)
    case = ds[i]
    name = Path(ds.files[i][0]).name.split('_slice_')[0].removesuffix('.h5')
    image = np.round(case.image[0] * (2 ** bits - 1)).astype(np.uint8)
    with h5py.File(Path(dst) / 'data' / f'{name}.h5', 'w') as f:
        for key, arr in (('image', image), ('label', case.mask)):
            f.create_dataset(key, data=arr, chunks=(1,) + arr.shape[1:], compression='gzip', compression_opts=9, shuffle=False)
    return name


@_atomic_folder
def pack_acdc(src:Path, dst:Path, bits:int=6, workers:int=2) -> dict:
    "Write the compact copy of the ACDC SSL4MIS folder `src` into `dst`."
    from pmdice_nb.data.acdc import ACDC
    if not 1 <= bits <= 8: raise SystemExit(f'--acdc-bits must be 1..8, got {bits}')
    ds = ACDC(src, cache_dir=None, layout='ssl4mis')
    if dst.exists(): shutil.rmtree(dst)
    (dst / 'data').mkdir(parents=True)
    list(_map(_pack_acdc_case, [(str(ds.root), str(dst), i, bits) for i in range(len(ds))], workers))
    for name in ('train.list', 'val.list', 'test.list'): shutil.copy(ds.root / name, dst / name)
    (dst / 'SOURCE.md').write_text(
        f'# ACDC (SSL4MIS layout) packed for a GPU run\n\nWritten by `scripts/pack_gpu_data.py` from `{ds.root}` '
        f'({len(ds)} volumes): images as uint8 = round(I * {2 ** bits - 1}) of the per-volume [0, 1] intensities, labels '
        f'unchanged, gzip-9 HDF5; training volumes stored whole (3D) instead of as slices; lists copied. No spacing '
        f'(NSD in pixels). Terms: research use, cite Bernard et al., IEEE TMI 2018.\n')
    return {'cases': len(ds)}


# ---------------------------------------------------------------- wheels and the call
WHEELS = ('fastai==2.8.7', 'fastcore==1.14.5', 'fastprogress==1.0.3', 'fastdownload==0.0.8', 'fasttransform==0.0.2',
          'plum-dispatch==2.10.1', 'beartype==0.23.1', 'nibabel==5.4.2')  # what the GPU image lacks, as in .venv
MIB64 = 64 * 2**20


def download_wheels(dst:Path, wheels=WHEELS, python:str='3.12') -> dict:
    "Download `wheels` for CPython `python` (the GPU image's 3.12) into `dst` and write `dst/requirements.txt`."
    dst.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:', '--python-version', python,
                    '--implementation', 'cp', '--platform', 'manylinux2014_x86_64', '--platform', 'any', '-d', str(dst), *wheels],
                   check=True)
    (dst / 'requirements.txt').write_text('\n'.join(wheels) + '\n')
    return {'wheels': len(list(dst.glob('*.whl'))), 'bytes': _size(dst)}


def tree_bytes(repo:Path=REPO) -> int:
    "Bytes of the working tree a device call sends: tracked and untracked-not-ignored files."
    names = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=repo,
                           capture_output=True, check=True).stdout.split(b'\0')
    return sum((repo / n.decode()).stat().st_size for n in names if n and (repo / n.decode()).is_file())


def the_call(carry:list, minutes:float=8.5, studies:str='kvasir_gpu', repo:Path=REPO, bench:bool=False) -> dict:
    "The `run` arguments of the GPU call, with the commit filled in, and the bytes it carries; `bench`: rerun the benchmarks."
    sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=repo, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=repo, capture_output=True, text=True).stdout.strip()
    sizes = {'tree': tree_bytes(repo), **{c: _size(repo / c) for c in carry}}
    cmd = (f'PMDICE_COMMIT={sha}{"+dirty" if dirty else ""} {"" if bench else "GPU_RUN_BENCH=0 "}GPU_RUN_STUDIES="{studies}" '
           f'bash bench/gpu_run.sh {minutes:g} $OUT')
    return {'command': cmd, 'carry': list(carry), 'timeout_s': int(minutes * 60 + 60),
            'bytes': sizes, 'total_mib': round(sum(sizes.values()) / 2**20, 2), 'fits': sum(sizes.values()) <= MIB64}


def _size(path:Path) -> int:
    return sum(f.stat().st_size for f in path.rglob('*') if f.is_file())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(REPO / 'gpu_data'), help='folder to write (default: gpu_data/)')
    p.add_argument('--kvasir-src', default=None, help='Kvasir-SEG folder (default: <data root>/kvasir-seg)')
    p.add_argument('--acdc-src', default=None, help='ACDC SSL4MIS folder (default: <data root>/acdc-ssl4mis)')
    p.add_argument('--no-kvasir', action='store_true', help='skip Kvasir-SEG')
    p.add_argument('--acdc', action='store_true', help='also pack ACDC (39 MiB at 6 bits: does not fit beside Kvasir)')
    p.add_argument('--wheels', action='store_true', help='download the pinned wheels the GPU image lacks into .whl/')
    p.add_argument('--call', action='store_true', help='print the exact device call and what it carries')
    p.add_argument('--carry', nargs='*', default=['.whl', 'gpu_data'], help='the carried folders (with --call)')
    p.add_argument('--minutes', type=float, default=8.5, help="gpu_run.sh's minutes (with --call)")
    p.add_argument('--studies', default='kvasir_gpu', help='GPU_RUN_STUDIES (with --call)')
    p.add_argument('--bench', action='store_true', help='rerun the GPU benchmarks in the call (with --call; measured 2026-12-04)')
    p.add_argument('--size', type=int, default=320, help='Kvasir image size (default 320, the paper\'s)')
    p.add_argument('--quality', type=int, default=95, help='Kvasir JPEG quality (default 95)')
    p.add_argument('--acdc-bits', type=int, default=6, help='ACDC intensity bits (default 6: 39 MiB; 7: 51 MiB; 8: 64 MiB, too big)')
    p.add_argument('--workers', type=int, default=2)
    a = p.parse_args(argv)
    out, root = Path(a.out), _data_root()
    report = {}
    if a.wheels: report['.whl'] = download_wheels(REPO / '.whl')
    if a.no_kvasir and not a.acdc:
        if a.call: report['call'] = the_call(a.carry, a.minutes, a.studies, bench=a.bench)
        print(json.dumps(report, indent=1))
        return 0 if not a.call or report['call']['fits'] else 1
    out.mkdir(parents=True, exist_ok=True)
    if not a.no_kvasir:
        t = time.time()
        report['kvasir-seg'] = pack_kvasir(Path(a.kvasir_src or root / 'kvasir-seg'), out / 'kvasir-seg', a.size, a.quality, a.workers)
        report['kvasir-seg'].update(seconds=round(time.time() - t, 1), bytes=_size(out / 'kvasir-seg'))
    if a.acdc:
        t = time.time()
        report['acdc-ssl4mis'] = pack_acdc(Path(a.acdc_src or root / 'acdc-ssl4mis'), out / 'acdc-ssl4mis', a.acdc_bits, a.workers)
        report['acdc-ssl4mis'].update(seconds=round(time.time() - t, 1), bytes=_size(out / 'acdc-ssl4mis'))
    report['total_bytes'] = _size(out)
    print(json.dumps(report, indent=1))
    if report['total_bytes'] > 64 * 2 ** 20:
        print(f'warning: {out} holds {report["total_bytes"] / 2 ** 20:.1f} MiB, more than a GPU run can carry (64 MiB '
              f'with the tracked tree)', file=sys.stderr)
    return 0


if __name__ == '__main__': sys.exit(main())
