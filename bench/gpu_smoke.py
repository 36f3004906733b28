"""A tiny train → evaluate run per dataset kind, timed: training images/s and peak GPU memory.

The images/s time fastai's batch event (forward, loss, backward, optimizer step) only: loading, augmentation (the
loader's `after_batch`) and the host-to-device copy happen outside it, so `--plain` against the fast path shows the
model's side, not the data path's cost (`bench/train.py` times the whole step and the pipeline alone). The peak memory
includes the evaluation.

Mixed precision runs through fastai's callbacks (`mixed_precision='auto'`: bf16 where the GPU has it). Meant for the
lent GPU machine (see bench/README.md for the one-call recipe); `--device cpu --quick` checks the script itself here.

    python bench/gpu_smoke.py [--device cuda] [--epochs 2] [--quick] [--out results.json]
"""
import argparse, json, sys, tempfile, time
from pathlib import Path
import torch
from fastai.callback.core import Callback
from pmdice_nb.core import atomic_write_json, device_name, package_versions, git_commit
from pmdice_nb.data.synthetic import SyntheticPolyps, SyntheticCardiac, SyntheticMS
from pmdice_nb.data.kvasir import KvasirSEG
from pmdice_nb.data.acdc import ACDC
from pmdice_nb.data.msseg import MSLesions
from pmdice_nb.data.fakes import make_fake_acdc
from pmdice_nb.augment import seg_dataloaders
from pmdice_nb.learner import seg_learner, fit_poly, evaluate, precision_of

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / 'data' / 'samples'

class Throughput(Callback):
    "Training images per second, not counting the first `skip` batches (warm-up, cuDNN autotuning)."
    order = 100
    def __init__(self, skip=3): self.skip = skip
    def before_fit(self): self.n, self.t, self.seen = 0, 0., 0
    def before_batch(self):
        if self.training:
            if self.dls.device.type == 'cuda': torch.cuda.synchronize()
            self.t0 = time.perf_counter()
    def after_batch(self):
        if not self.training: return
        if self.dls.device.type == 'cuda': torch.cuda.synchronize()
        self.seen += 1
        if self.seen > self.skip: self.t += time.perf_counter() - self.t0; self.n += len(self.xb[0])
    @property
    def images_per_s(self): return self.n / self.t if self.t else float('nan')

def kinds(tmp:Path, quick:bool):
    "(name, dataset, arch, features, size, bs) per dataset kind, sized like the paper unless `quick`."
    s, n = (32, 8) if quick else (256, 160)
    acdc_root = make_fake_acdc(tmp / 'acdc', patients=(1, 2, 19, 4, 5, 6), shape=(6, 96, 96) if not quick else (3, 32, 32))
    return [
        ('synthetic polyps (ResNet34 U-Net)', SyntheticPolyps(n=n, size=s), 'resnet34', 64, (s, s), 16),
        ('synthetic cardiac (ResNet34 U-Net)', SyntheticCardiac(n=n, size=s), 'resnet34', 64, (s, s), 16),
        ('synthetic MS (plain U-Net)', SyntheticMS(n=n, size=s), 'unet', 8 if quick else 64, (s, s), 16),
        ('Kvasir-SEG sample (ResNet34 U-Net, 320 → crop 256)', KvasirSEG(SAMPLES / 'kvasir-seg-sample', cache_dir=tmp / 'cache'),
         'resnet34', 64, (64, 64) if quick else (320, 320), 4),
        ('ACDC fake (ResNet34 U-Net)', ACDC(acdc_root, cache_dir=None), 'resnet34', 64, (s, s), 16),
        ('open_ms sample, 3 patients (plain U-Net)', MSLesions(SAMPLES / 'open-ms-sample', layout='open_ms', cache_dir=tmp / 'cache'),
         'unet', 8 if quick else 64, (s, s), 16),
    ]

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--quick', action='store_true', help='tiny sizes (a check of the script on a CPU)')
    ap.add_argument('--out', default=None, help='write the results as JSON here')
    ap.add_argument('--plain', action='store_true', help="the plain data path (default on CUDA: the fast path of pmdice_nb.augment)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, ds, arch, features, size, bs in kinds(Path(d), args.quick):
            t0 = time.time()
            split = ds.split(seed=0)
            crop = ds.crop_size if (ds.crop_size and not args.quick) else False
            dls = seg_dataloaders(ds, split, bs=bs, size=size, crop=crop, device=dev, fast=False if args.plain else None)
            learn = seg_learner(dls, arch=arch, loss='pm_dice', pretrained=False, features=features, checkpoint=None,
                                path=Path(d) / 'work', mixed_precision='auto', seed=0)
            tp = Throughput()
            if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
            with learn.no_bar(), learn.no_logging(): fit_poly(learn, args.epochs, cbs=[tp])
            summary, _ = evaluate(learn, ds, split['test'], progress=False)
            peak = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == 'cuda' else None
            precision = precision_of(learn)   # bf16, fp16 or fp32, as training ran
            row = dict(kind=name, arch=arch, input=list(size), bs=bs, fast_path=bool(getattr(dls, 'fast', False)), train_images=len(dls.train_ds), epochs=args.epochs,
                       precision=precision, images_per_s=round(tp.images_per_s, 1), peak_gib=None if peak is None else round(peak, 2),
                       mDice=round(summary['mDice'], 4), wall_s=round(time.time() - t0, 1))
            rows.append(row); print(json.dumps(row), flush=True)
    result = dict(device=device_name() if dev.type == 'cuda' else f'cpu ({torch.get_num_threads()} threads)',
                  versions=package_versions(), git_commit=git_commit(ROOT), rows=rows)
    if args.out: atomic_write_json(args.out, result); print(f'wrote {args.out}')

if __name__ == '__main__': main()
