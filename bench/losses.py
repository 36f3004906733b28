"""Forward+backward time of the Dice-family losses, as ratios from one run.

PM Dice and TopK Dice against Dice (what the modulating term and the ranking cost), and our Dice against MONAI's
DiceLoss configured as the same function (softmax, one-hot target, squared denominator, eps 1e-6, mean over all
classes), with the values checked equal. CPU always; CUDA too when a GPU is present.

    python bench/losses.py [--quick] [--csv bench/results/losses.csv]

MONAI is optional (`pip install monai`): without it that comparison is skipped.
"""
import argparse, statistics, sys, time, platform, os
from pathlib import Path
import torch
from pmdice_nb.losses import DiceLoss, PMDiceLoss, TopKDiceLoss, TNFocalDiceLoss, CELoss, TopKCELoss, get_loss

def timeit_interleaved(fns:dict, device, repeats, warmup=2):
    "Best-of-`repeats` seconds of each function, run round-robin so that load from other processes hits all alike."
    for f in fns.values():
        for _ in range(warmup): f()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            if device == 'cuda': torch.cuda.synchronize()
            t0 = time.perf_counter(); f()
            if device == 'cuda': torch.cuda.synchronize()
            ts[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in ts.items()}

def fwd_bwd(loss, x, t):
    def run():
        x.grad = None
        loss(x, t).backward()
    return run

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='small inputs, few repeats (smoke test)')
    ap.add_argument('--csv', default=None, help='also write the rows to this CSV file')
    args = ap.parse_args()
    torch.manual_seed(0)
    try:
        import monai.losses
        monai_dice = monai.losses.DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True,
                                           smooth_nr=1e-6, smooth_dr=1e-6, include_background=True, reduction='mean')
    except ImportError:
        monai_dice = None
        print('MONAI not installed: the MONAI comparison is skipped (pip install monai)')
    cases = [('Kvasir-like 2D', (8, 2, 256, 256)), ('ACDC-like 2D', (8, 4, 256, 256)), ('3D volume', (2, 2, 64, 128, 128))]
    if args.quick: cases = [('small 2D', (2, 2, 64, 64)), ('small 3D', (1, 2, 16, 32, 32))]
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    repeats = 3 if args.quick else 15
    rows = []
    print(f'torch {torch.__version__}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads')
    for device in devices:
        for label, shape in cases:
            x = torch.randn(*shape, device=device, requires_grad=True)
            t = torch.randint(0, shape[1], (shape[0], *shape[2:]), device=device)
            losses = {'Dice': DiceLoss(), 'PM Dice (γ=1)': PMDiceLoss(gamma=1.0), 'PM Dice (γ=2)': PMDiceLoss(gamma=2.0),
                      'TopK Dice (k=50)': TopKDiceLoss(), 'Focal Dice [41] (k=10)': TNFocalDiceLoss(),
                      'CE': CELoss(), 'TopK CE (k=10)': TopKCELoss(), 'CE + PM Dice': get_loss('ce+pm_dice'),
                      'Dice, classes=all': DiceLoss(classes='all')}
            fns = {n: fwd_bwd(l, x, t) for n, l in losses.items()}
            if monai_dice is not None:
                fns['MONAI DiceLoss (same function)'] = fwd_bwd(lambda a, b: monai_dice(a, b.unsqueeze(1)), x, t)
            times = timeit_interleaved(fns, device, repeats)
            base = times['Dice']
            print(f'\n[{device}] {label} {tuple(shape)}: forward+backward, best of {repeats} (interleaved)')
            for n, s in times.items():
                print(f'  {n:32s} {s*1e3:9.2f} ms   ×{s/base:5.2f} of Dice')
                rows.append(dict(device=device, case=label, shape=str(tuple(shape)), loss=n, ms=round(s*1e3, 3), ratio_to_dice=round(s/base, 3)))
            if monai_dice is not None:
                diff = abs(losses['Dice, classes=all'](x, t).item() - monai_dice(x, t.unsqueeze(1)).item())
                ratio = times['MONAI DiceLoss (same function)'] / times['Dice, classes=all']
                print(f'  => MONAI time / our time for the same function: {ratio:.2f}  (|Δ loss value| = {diff:.1e})')
    if args.csv:
        import csv, io
        from pmdice_nb.core import atomic_write_text
        buf = io.StringIO(); w = csv.DictWriter(buf, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
        atomic_write_text(args.csv, buf.getvalue()); print(f'\nwrote {args.csv}')

if __name__ == '__main__': main()
