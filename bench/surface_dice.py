"""Time `pmdice_nb.metrics.surface_dice` against DeepMind's reference code (PyPI surface-distance, via tests/deepmind_surface_distance.py).

Cases: a 96x160x160 volume with spacing (1.5, 0.8, 0.8) mm and a 320x320 image, each with a prediction that is the
target grown by one voxel with noisy blobs flipped ("related"), an independent mask of the same kind ("unrelated"),
and, in 3D, two small masks far apart ("far apart"); tolerances from 1 to 50 mm (pixels in 2D).
Each timing is the best of `--repeats` runs; the speed-up is reference time / ours, both measured in this run on this
machine (named in the output), with the absolute difference of the two NSD values.
With `--baseline COMMIT`, the `surface_dice` of that commit (its pmdice_nb/metrics.py, loaded as a module) is timed
in the same run, for a before/after comparison.
Usage: python bench/surface_dice.py [--repeats 3] [--baseline COMMIT] [--out bench/results/surface_dice_cpu.json]
"""
import argparse, importlib.util, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tests'))
import deepmind_surface_distance as reference  # noqa: E402
from pmdice_nb.metrics import surface_dice      # noqa: E402
from pmdice_nb.core import atomic_write_json, git_commit, package_versions  # noqa: E402

TOLERANCES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


def blob(shape, rng):
    "A smooth random mask covering 20% of the grid."
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 4)
    return field > np.quantile(field, 0.8)


def masks(shape, kind, seed=0):
    "(prediction, target) of one `kind`: 'related', 'unrelated' or 'far apart'."
    rng = np.random.default_rng(seed)
    target = blob(shape, rng)
    if kind == 'related':
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), 2)
        return ndimage.binary_dilation(target) ^ (noise > np.quantile(noise, 0.97)), target
    if kind == 'unrelated': return blob(shape, rng), target
    near, far = np.zeros(shape, bool), np.zeros(shape, bool)     # two corners of the grid, about 70% of it apart
    low = tuple(slice(n // 10, n * 4 // 10) for n in shape)
    high = tuple(slice(n * 6 // 10, n * 9 // 10) for n in shape)
    near[low], far[high] = target[low], blob(shape, rng)[high]
    return far, near


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); value = fn(); times.append(time.perf_counter() - start)
    return value, min(times)


def baseline_surface_dice(commit):
    "`surface_dice` as it was at `commit`."
    source = subprocess.run(['git', 'show', f'{commit}:pmdice_nb/metrics.py'], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f: f.write(source)
    spec = importlib.util.spec_from_file_location(f'metrics_{commit}', f.name)
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    os.unlink(f.name)
    return module.surface_dice


def machine():
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): cpu = platform.processor() or platform.machine()
    return f'{cpu}, {os.cpu_count()} CPUs, {platform.system()}, OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3, help='timed runs of each call; the best is kept')
    parser.add_argument('--baseline', help='also time the surface_dice of this git commit (before/after)')
    parser.add_argument('--out', type=Path, help='also write the results as JSON to this file')
    args = parser.parse_args()
    baseline = baseline_surface_dice(args.baseline) if args.baseline else None
    cases = [('3D 96x160x160', (96, 160, 160), (1.5, 0.8, 0.8), ('related', 'unrelated', 'far apart')),
             ('2D 320x320', (320, 320), (1.0, 1.0), ('related', 'unrelated'))]
    print(f'machine: {machine()}; best of {args.repeats} runs' +
          (f'; "before" is surface_dice at commit {args.baseline}' if baseline else ''))
    print(f'{"case":<15}{"masks":<11}{"tol":>6}{"ours s":>10}{"ref s":>10}{"speed-up":>10}{"NSD":>10}{"|diff|":>10}' +
          (f'{"before s":>10}{"ref/before":>11}' if baseline else ''))
    rows = []
    for name, shape, spacing, kinds in cases:
        for kind in kinds:
            pred, target = masks(shape, kind)
            for tolerance in TOLERANCES:
                ours, t_ours = best_time(lambda: surface_dice(pred, target, tolerance, spacing), args.repeats)
                theirs, t_ref = best_time(lambda: reference.compute_surface_dice_at_tolerance(
                    reference.compute_surface_distances(target, pred, spacing), tolerance), args.repeats)
                row = dict(case=name, masks=kind, shape=shape, spacing=spacing, tolerance=tolerance, ours_s=t_ours,
                           reference_s=t_ref, speedup=t_ref / t_ours, nsd=ours, abs_diff=abs(ours - float(theirs)))
                line = (f'{name:<15}{kind:<11}{tolerance:>6.1f}{t_ours:>10.3f}{t_ref:>10.3f}{row["speedup"]:>9.1f}x'
                        f'{ours:>10.4f}{row["abs_diff"]:>10.1e}')
                if baseline:
                    before, t_before = best_time(lambda: baseline(pred, target, tolerance, spacing), args.repeats)
                    row.update(before_s=t_before, before_speedup=t_ref / t_before, before_abs_diff=abs(before - ours))
                    line += f'{t_before:>10.3f}{row["before_speedup"]:>10.1f}x'
                rows.append(row)
                print(line, flush=True)
    print(f'max |diff| = {max(r["abs_diff"] for r in rows):.1e}; '
          f'smallest speed-up = {min(r["speedup"] for r in rows):.1f}x' +
          (f' (before: {min(r["before_speedup"] for r in rows):.1f}x)' if baseline else ''))
    if args.out:
        atomic_write_json(args.out, dict(results=rows, commit=git_commit(ROOT), versions=package_versions(),
                                         machine=machine(), repeats=args.repeats, seed=0, baseline=args.baseline))


if __name__ == '__main__': main()
