"""Time `pmdice_nb.metrics.surface_dice` against DeepMind's reference code (PyPI surface-distance, via tests/deepmind_surface_distance.py).

One timed run of each on a 96x160x160 volume with spacing (1.5, 0.8, 0.8) mm and on a 320x320 image, for a few
tolerances; prints seconds, the speed-up (reference time / ours) and the absolute difference of the two NSD values.
Usage: python bench/surface_dice.py [--out bench/surface_dice.json]
"""
import argparse, platform, sys, time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tests'))
import deepmind_surface_distance as reference  # noqa: E402
from pmdice_nb.metrics import surface_dice      # noqa: E402
from pmdice_nb.core import atomic_write_json, git_commit, package_versions  # noqa: E402


def masks(shape, seed):
    "A smooth random target and a prediction that is the target grown by one voxel with noisy blobs flipped."
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 4)
    target = field > np.quantile(field, 0.8)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), 2)
    return ndimage.binary_dilation(target) ^ (noise > np.quantile(noise, 0.97)), target


def time_once(fn):
    start = time.perf_counter(); value = fn(); return value, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, help='also write the results as JSON to this file')
    args = parser.parse_args()
    cases = [('3D 96x160x160', (96, 160, 160), (1.5, 0.8, 0.8)), ('2D 320x320', (320, 320), (1.0, 1.0))]
    rows = []
    print(f'{"case":<15}{"tol":>6}{"ours s":>10}{"ref s":>10}{"speed-up":>10}{"NSD":>10}{"|diff|":>10}')
    for name, shape, spacing in cases:
        pred, target = masks(shape, seed=0)
        for tolerance in (1.0, 2.0, 5.0):
            ours, t_ours = time_once(lambda: surface_dice(pred, target, tolerance, spacing))
            theirs, t_ref = time_once(lambda: reference.compute_surface_dice_at_tolerance(
                reference.compute_surface_distances(target, pred, spacing), tolerance))
            row = dict(case=name, shape=shape, spacing=spacing, tolerance=tolerance, ours_s=t_ours, reference_s=t_ref,
                       speedup=t_ref / t_ours, nsd=ours, abs_diff=abs(ours - float(theirs)))
            rows.append(row)
            print(f'{name:<15}{tolerance:>6.1f}{t_ours:>10.3f}{t_ref:>10.3f}{row["speedup"]:>9.1f}x'
                  f'{ours:>10.4f}{row["abs_diff"]:>10.1e}')
    print(f'max |diff| = {max(r["abs_diff"] for r in rows):.1e}')
    if args.out:
        atomic_write_json(args.out, dict(results=rows, commit=git_commit(ROOT), versions=package_versions(),
                                         machine=platform.processor() or platform.machine(), seed=0))


if __name__ == '__main__': main()
