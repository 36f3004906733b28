"""Forward+backward time and peak memory of the losses, as ratios measured in one run (issue 9 §1).

Every loss of one case runs round-robin (interleaved repeats) so that load from other processes hits all alike; the
ratios use the best of the repeats (the median is printed too). On CPU the time is the CPU time of the process (all
threads, `time.process_time`), which other processes on a shared machine disturb far less than the wall clock (also
printed); on CUDA it is the wall clock between synchronisations. Targets checked:

- PM Dice at γ = 0.5, 1, 2, 5: ≤ 1.15× our Dice and ≤ 1.0× MONAI's DiceLoss configured as the same function
  (softmax, one-hot target, squared denominator, eps 1e-6, mean over all classes; values checked equal);
- CE + PM Dice ≤ 1.3× PM Dice alone;
- TopK Dice and TN Focal Dice ≤ 2× Dice.

"Before" rows run the losses of an earlier commit (`--before`, read with `git show`) in the same run, so the
before/after ratios are measured side by side. CPU always; CUDA too when a GPU is present (peak memory from
`torch.cuda.max_memory_allocated`; on CPU from the profiler's allocation events).

    python bench/losses.py [--quick] [--out bench/results/losses_cpu] [--before f73691f]
    python bench/losses.py --device cuda --csv losses_gpu.csv --seconds 60 --before ''   # bench/gpu_run.sh

`--csv PATH` appends one row per loss and case, and the ratios of the targets, as each case finishes (flushed, so a
run cut off keeps the cases done); `--seconds` bounds the whole run (each case gets its share; at least 3 repeats).

MONAI is optional (`pip install monai`): without it that comparison is skipped.
"""
import argparse, os, platform, statistics, subprocess, sys, time, types
from pathlib import Path
import torch
import pmdice_nb.losses as L

ROOT = Path(__file__).resolve().parents[1]

def load_before(rev:str):
    "The losses module at git revision `rev` (None when git or the revision is unavailable)."
    try: src = subprocess.run(['git', 'show', f'{rev}:pmdice_nb/losses.py'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError): return None
    mod = types.ModuleType(f'losses_{rev}'); mod.__file__ = f'{rev}:pmdice_nb/losses.py'
    sys.modules[mod.__name__] = mod      # dataclasses/annotations look the module up
    exec(compile(src, mod.__file__, 'exec'), mod.__dict__)
    return mod

def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): pass
    load = ' '.join(f'{v:.2f}' for v in os.getloadavg()) if hasattr(os, 'getloadavg') else '?'
    gpu = f', GPU {torch.cuda.get_device_name()}' if torch.cuda.is_available() else ''
    return (f'{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads{gpu}; '
            f'load average at start {load}')

def fwd_bwd(loss, x, t):
    def run():
        x.grad = None
        loss(x, t).backward()
    return run

def timeit_interleaved(fns:dict, device:str, repeats:int, warmup:int=2, until:float|None=None) -> tuple[dict, dict]:
    "Seconds of each function per repeat, run round-robin: (wall clock, CPU time of this process, all threads); past `until` (monotonic), stop after 3 repeats."
    for f in fns.values():
        for _ in range(warmup): f()
    wall, cpu = {k: [] for k in fns}, {k: [] for k in fns}
    for i in range(repeats):
        if until is not None and i >= 3 and time.monotonic() > until: break
        for k, f in fns.items():
            if device == 'cuda': torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time(); f()
            if device == 'cuda': torch.cuda.synchronize()
            wall[k].append(time.perf_counter() - t0); cpu[k].append(time.process_time() - c0)
    return wall, cpu

def peak_mib(f, device:str) -> float:
    "Peak memory allocated while `f` runs, beyond what was allocated before (MiB)."
    if device == 'cuda':
        torch.cuda.synchronize(); base = torch.cuda.memory_allocated(); torch.cuda.reset_peak_memory_stats()
        f(); torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof: f()
    cur = peak = 0
    for e in sorted((e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'), key=lambda e: e.start_ns()):
        cur += e.nbytes(); peak = max(peak, cur)
    return peak / 2**20

def losses_for(n_classes:int, monai_dice, before) -> dict:
    ls = {'Dice': L.DiceLoss(), 'Dice, classes=all': L.DiceLoss(classes='all')}
    if monai_dice is not None: ls['MONAI DiceLoss (same function)'] = lambda a, b: monai_dice(a, b.unsqueeze(1))
    for g in (0.5, 1, 2, 5): ls[f'PM Dice (γ={g})'] = L.PMDiceLoss(gamma=g)
    ls.update({'TopK Dice (k=50)': L.TopKDiceLoss(), 'TN Focal Dice (k=10)': L.TNFocalDiceLoss(), 'CE': L.CELoss(),
               'TopK CE (k=10)': L.TopKCELoss(), 'CE + PM Dice': L.get_loss('ce+pm_dice')})
    if before is not None:
        ls.update({'before: Dice': before.DiceLoss(), 'before: PM Dice (γ=1)': before.PMDiceLoss(gamma=1.),
                   'before: PM Dice (γ=2)': before.PMDiceLoss(gamma=2.), 'before: TopK Dice (k=50)': before.TopKDiceLoss(),
                   'before: TN Focal Dice (k=10)': before.TNFocalDiceLoss(), 'before: CE': before.CELoss(),
                   'before: TopK CE (k=10)': before.TopKCELoss(), 'before: CE + PM Dice': before.get_loss('ce+pm_dice')})
    return ls

def targets(best:dict) -> list[tuple[str, float, float]]:
    "(what, measured ratio, target) for every target of issue 9 §1 that this case measures."
    out = []
    for g in (0.5, 1, 2, 5):
        pm = best[f'PM Dice (γ={g})']
        out.append((f'PM Dice (γ={g}) / Dice', pm / best['Dice'], 1.15))
        if 'MONAI DiceLoss (same function)' in best:
            out.append((f'PM Dice (γ={g}) / MONAI Dice', pm / best['MONAI DiceLoss (same function)'], 1.0))
    out.append(('CE + PM Dice / PM Dice (γ=1)', best['CE + PM Dice'] / best['PM Dice (γ=1)'], 1.3))
    out.append(('TopK Dice / Dice', best['TopK Dice (k=50)'] / best['Dice'], 2.0))
    out.append(('TN Focal Dice / Dice', best['TN Focal Dice (k=10)'] / best['Dice'], 2.0))
    return out

CSV_FIELDS = ('device', 'case', 'shape', 'kind', 'name', 'time', 'ms_best', 'ms_median', 'wall_ms_best', 'peak_mib',
              'ratio', 'target', 'met', 'note')

def append_csv(path, rows:list):
    "Append `rows` (dicts over `CSV_FIELDS`) to the CSV at `path`, with a header when it is new; flushed to disk."
    import csv
    path = Path(path); new = not path.exists() or path.stat().st_size == 0
    with open(path, 'a', newline='') as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new: w.writeheader()
        w.writerows({k: r.get(k, '') for k in CSV_FIELDS} for r in rows)
        f.flush(); os.fsync(f.fileno())

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='small inputs, few repeats (smoke test)')
    ap.add_argument('--out', default=None, help='write OUT.txt (this report) and OUT.csv (one row per loss and case)')
    ap.add_argument('--before', default='f73691f', help="git revision whose losses run as 'before' rows ('' to skip)")
    ap.add_argument('--repeats', type=int, default=None, help='interleaved repeats per case (default 25, 3 with --quick)')
    ap.add_argument('--device', default=None, choices=['cpu', 'cuda'], help='only this device')
    ap.add_argument('--csv', default=None, help='append rows to this CSV as each case finishes')
    ap.add_argument('--seconds', type=float, default=None, help='bound the whole run to about this many seconds')
    args = ap.parse_args(argv)
    t_end = None if args.seconds is None else time.monotonic() + args.seconds
    lines = []
    def say(s=''):
        print(s, flush=True); lines.append(s)
    torch.manual_seed(0)
    try:
        import monai.losses
        monai_dice = monai.losses.DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True,
                                           smooth_nr=1e-6, smooth_dr=1e-6, include_background=True, reduction='mean')
    except ImportError:
        monai_dice = None
        say('MONAI not installed: the MONAI comparison is skipped (pip install monai)')
        if args.csv: append_csv(args.csv, [dict(kind='note', name='MONAI', note='MONAI not importable: PM Dice / MONAI not measured')])
    before = load_before(args.before) if args.before else None
    cases = [('Kvasir-like 2D', (8, 2, 256, 256)), ('ACDC-like 2D', (8, 4, 256, 256)), ('3D volume', (2, 4, 64, 96, 96))]
    if args.quick: cases = [('small 2D', (2, 2, 64, 64)), ('small 3D', (1, 2, 16, 32, 32))]
    devices = [args.device] if args.device else ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    repeats = args.repeats or (3 if args.quick else 25)
    say(f'# Loss cost: forward + backward, best of {repeats} interleaved repeats (median in brackets)')
    say(f'machine: {machine()}')
    say(f"before: losses of commit {args.before}" if before is not None else 'before: not run')
    rows, verdicts = [], []
    todo = [(d, c) for d in devices for c in cases]
    for n_done, (device, (label, shape)) in enumerate(todo):
        until = None if t_end is None else time.monotonic() + (t_end - time.monotonic()) / (len(todo) - n_done)
        if t_end is not None and time.monotonic() > t_end:
            say(f'\n## [{device}] {label}: skipped, past --seconds {args.seconds:g}')
            if args.csv: append_csv(args.csv, [dict(device=device, case=label, shape=str(tuple(shape)), kind='note', note='skipped: time bound')])
            continue
        x = torch.randn(*shape, device=device, requires_grad=True)
        t = torch.randint(0, shape[1], (shape[0], *shape[2:]), device=device)
        losses = losses_for(shape[1], monai_dice, before)
        fns = {n: fwd_bwd(l, x, t) for n, l in losses.items()}
        wall, cpu = timeit_interleaved(fns, device, repeats, until=until)
        ts = cpu if device == 'cpu' else wall          # CPU time: robust to other processes on a shared machine
        best = {k: min(v) for k, v in ts.items()}
        wall_best = {k: min(v) for k, v in wall.items()}
        med = {k: statistics.median(v) for k, v in ts.items()}
        mem = {k: peak_mib(f, device) for k, f in fns.items()}
        say(f'\n## [{device}] {label} {tuple(shape)}')
        unit = 'CPU ms' if device == 'cpu' else 'ms'
        say(f"  {'loss':34s} {unit:>8s} {'(median)':>10s} {'× Dice':>7s} {'wall ms':>8s} {'peak MiB':>9s}")
        for n in fns:
            say(f'  {n:34s} {best[n]*1e3:8.2f} {f"({med[n]*1e3:.2f})":>10s} {best[n]/best["Dice"]:7.2f} '
                f'{wall_best[n]*1e3:8.2f} {mem[n]:9.1f}')
            rows.append(dict(device=device, case=label, shape=str(tuple(shape)), loss=n, time=unit,
                             ms_best=round(best[n]*1e3, 3), ms_median=round(med[n]*1e3, 3),
                             ratio_to_dice=round(best[n]/best['Dice'], 3), wall_ms_best=round(wall_best[n]*1e3, 3),
                             peak_mib=round(mem[n], 2)))
        if monai_dice is not None:
            diff = abs(losses['Dice, classes=all'](x, t).item() - monai_dice(x, t.unsqueeze(1)).item())
            say(f'  our Dice (classes=all) vs MONAI: |Δ loss value| = {diff:.1e}')
        say('  targets:')
        case_rows = [dict(device=device, case=label, shape=str(tuple(shape)), kind='time', name=n, time=unit,
                          ms_best=round(best[n]*1e3, 3), ms_median=round(med[n]*1e3, 3), wall_ms_best=round(wall_best[n]*1e3, 3),
                          peak_mib=round(mem[n], 2), ratio=round(best[n]/best['Dice'], 3), note=f'{len(ts[n])} repeats')
                     for n in fns]
        for what, r, tgt in targets(best):
            ok = r <= tgt
            verdicts.append(ok)
            say(f'    {what:34s} {r:5.2f}  (target ≤ {tgt:.2f}) {"met" if ok else "NOT met"}')
            case_rows.append(dict(device=device, case=label, shape=str(tuple(shape)), kind='ratio', name=what,
                                  ratio=round(r, 3), target=tgt, met=ok))
        if args.csv: append_csv(args.csv, case_rows)
        if before is not None:
            say('  after / before (same run): ' + ', '.join(
                f'{n} {best[n]/best["before: " + n]:.2f}' for n in
                ('Dice', 'PM Dice (γ=1)', 'PM Dice (γ=2)', 'TopK Dice (k=50)', 'TN Focal Dice (k=10)', 'CE', 'TopK CE (k=10)',
                  'CE + PM Dice')))
    say(f'\n{sum(verdicts)} of {len(verdicts)} targets met')
    if args.out:
        import csv, io
        from pmdice_nb.core import atomic_write_text
        buf = io.StringIO(); w = csv.DictWriter(buf, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
        atomic_write_text(args.out + '.csv', buf.getvalue())
        atomic_write_text(args.out + '.txt', '\n'.join(lines) + '\n')
        print(f'wrote {args.out}.txt and {args.out}.csv')

if __name__ == '__main__': main()
