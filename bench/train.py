"""Training throughput of the Kvasir-SEG `paper` recipe on the fast and the plain data path, and their metrics.

The recipe: ResNet34 U-Net (fastai `DynamicUnet`, random encoder weights so nothing is downloaded), 320×320 inputs,
random 256×256 training crops, the paper's augmentation (flip, rotation, zoom, elastic), PM Dice loss, Adam; bf16
autocast on CUDA. The images are synthetic polyps of the same shapes, 8-bit RGB as Kvasir's JPEGs (the real data is
not needed to time a step).

For each path and batch size it reports
- images/s of the whole training step as fastai runs it (data, augmentation, forward, loss, backward, optimizer;
  no synchronisation inside the loop), from the wall time of a full epoch after a warm-up epoch;
- the split of the step time into data, aug, fwd, loss, bwd, opt, measured in a separate loop of the same
  components with a synchronisation between phases (so the parts add up to more than the pipelined step);
- on CUDA, the GPU busy fraction: the CUDA-event time from the start of augmentation to the end of the optimizer step
  of one step of the synchronised loop (idle gaps and host overhead between its phases included, so an upper bound)
  over the wall time of a step in fastai's loop, capped at 1; and the peak memory (`torch.cuda.max_memory_allocated`);
- the images/s of the input pipeline alone (data and augmentation, no model): what the data path can feed;
- the largest batch that fits 16 GiB, from a linear fit of peak memory against batch size.

`--study` instead trains a small U-Net on synthetic polyps with each path for a few seeds and compares the test
metrics (the two paths must agree within seed noise).

    python bench/train.py [--device cuda] [--bs 16 32 64 128] [--paths fast plain] [--compile] [--out bench/results/train_h100]
    python bench/train.py --study [--seeds 0 1 2 3 4] [--out bench/results/train_study_cpu]
    python bench/train.py --device cpu --tiny        # seconds: a check of the script (tests/test_learner.py)
    python bench/train.py --procs 4 --seconds 75 --out train_gpu     # bench/gpu_run.sh: 4 processes at once

`--procs P` runs P processes of the fast path at batch 16 at the same time (each with cores/P CPU threads) and
reports images/s per process and in total (the sum of the processes' rates: a total only where their timed epochs
overlap, so the report gives that overlap, `timed_overlap_s`, beside each epoch's length), each one's peak memory,
and the GPU busy fraction two ways: the mean
`utilization.gpu` that nvidia-smi samples every 0.2 s while every process is in its timed epoch, and the kernel time
that torch.profiler records in each process over one epoch of fastai's loop (summed over the processes, over that
epoch's wall time). Processes still running after `--seconds` are stopped; the report has those that finished.
"""
import argparse, json, math, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.torch_core import set_seed
from fastai.data.core import Pipeline
from pmdice_nb.core import atomic_write_json, atomic_write_text, device_name, package_versions, git_commit
from pmdice_nb.data.core import Case
from pmdice_nb.data.synthetic import SyntheticPolyps
from pmdice_nb.augment import seg_dataloaders
from pmdice_nb.learner import seg_learner, fit_poly, evaluate

ROOT = Path(__file__).resolve().parents[1]
PHASES = ('data', 'aug', 'fwd', 'loss', 'bwd', 'opt')
GIB16 = 16 * 2**30


class EpochTimer(Callback):
    "Wall time of each training phase (synchronised at its ends only) and images seen."
    order = 100
    def before_fit(self): self.times, self.images = [], []
    def before_train(self):
        self._sync(); self.t0, self.n = time.perf_counter(), 0
    def after_batch(self):
        if self.training: self.n += len(self.learn.xb[0])
    def after_train(self):
        self._sync(); self.times.append(time.perf_counter() - self.t0); self.images.append(self.n)
    def _sync(self):
        if torch.device(self.dls.device).type == 'cuda': torch.cuda.synchronize()


def _sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()


def step_split(learn, steps:int, dev) -> tuple[dict, float]:
    "Mean ms per phase over `steps` training steps of `learn`'s own components, and the GPU ms per step (CUDA events)."
    dl = learn.dls.train
    tfms, dl.after_batch = dl.after_batch, Pipeline([])   # iterate raw batches; apply the transforms as their own phase
    tfms.split_idx = 0
    amp = getattr(learn, 'mixed_precision', None)
    dtype = torch.bfloat16 if amp is not None and amp.amp_mode.value == 'bf16' else torch.float16
    model, loss_func = learn.model.train(), learn.loss_func
    if learn.opt is None: learn.create_opt()
    totals, gpu_ms, done = dict.fromkeys(PHASES, 0.), 0., 0
    try:
        while done < steps:
            it = iter(dl)
            while done < steps:
                t = {}; t0 = time.perf_counter()
                try: b = next(it)
                except StopIteration: break
                _sync(dev); t['data'] = time.perf_counter(); ev = []
                def mark():
                    if dev.type == 'cuda': e = torch.cuda.Event(enable_timing=True); e.record(); ev.append(e)
                mark()
                x, y = tfms(b); _sync(dev); t['aug'] = time.perf_counter()
                with torch.autocast(device_type=dev.type, dtype=dtype, enabled=amp is not None and dev.type == 'cuda'):
                    pred = model(x); _sync(dev); t['fwd'] = time.perf_counter()
                    loss = loss_func(pred, y); _sync(dev); t['loss'] = time.perf_counter()
                loss.backward(); _sync(dev); t['bwd'] = time.perf_counter()
                learn.opt.step(); learn.opt.zero_grad(); _sync(dev); t['opt'] = time.perf_counter()
                mark()
                if done > 0 or steps == 1:  # the first step warms up (allocations, cuDNN autotuning)
                    prev = t0
                    for k in PHASES: totals[k] += (t[k] - prev) * 1e3; prev = t[k]
                    if ev: _sync(dev); gpu_ms += ev[0].elapsed_time(ev[-1])
                done += 1
    finally: dl.after_batch = tfms
    n = max(steps - 1, 1)
    return {k: v / n for k, v in totals.items()}, gpu_ms / n


def pipeline_rate(dl, dev, epochs:int=2) -> float:
    "Images/s of the input pipeline alone (batches fetched and transformed, no model), over the last of `epochs`."
    for _ in range(epochs):
        _sync(dev); t0, n = time.perf_counter(), 0
        for b in dl: n += len(b[0])
        _sync(dev); t = time.perf_counter() - t0
    return n / t


class CasePool:
    "`n` cases cycling through `pool` synthetic polyps (each costs ~50 ms to generate), as 8-bit RGB like Kvasir's JPEGs."
    _cache = {}
    def __init__(self, n:int, size:int, pool:int=256):
        key = (size, pool)
        if key not in self._cache:
            ds = SyntheticPolyps(n=pool, size=size, seed=0)
            eight_bit = lambda c: Case(c.id, (np.asarray(c.image) * 255).round().astype(np.uint8), c.mask, c.spacing)
            self._cache[key] = (ds, [eight_bit(ds[i]) for i in range(pool)])
        self.base, self.cases = self._cache[key]
        self.n, self.classes, self.n_channels = n, self.base.classes, self.base.n_channels
        self.image_size, self.crop_size, self.nsd_tolerance = self.base.image_size, self.base.crop_size, self.base.nsd_tolerance
    def __len__(self): return self.n
    def __getitem__(self, i): return self.cases[i % len(self.cases)]


def make_data(args, path:str, bs:int, dev):
    "DataLoaders of the recipe on `path` ('fast' or 'plain') with `args.steps` training batches per epoch."
    n_train = bs * args.steps
    ds = CasePool(n_train + bs, args.size, pool=min(args.pool, n_train + bs))
    split = {'train': list(range(n_train)), 'valid': list(range(n_train, n_train + bs)), 'test': []}
    return seg_dataloaders(ds, split, bs=bs, size=(args.size, args.size), crop=(args.crop, args.crop), device=dev,
                           fast=(path == 'fast'), num_workers=args.workers if path == 'plain' else 0)


def kernel_busy(learn, dev) -> float|None:
    "Kernel time over wall time of one epoch of fastai's loop, from torch.profiler (CUDA only)."
    if dev.type != 'cuda': return None
    from torch.profiler import profile, ProfilerActivity
    _sync(dev)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        with learn.no_bar(), learn.no_logging(): learn.fit(1, lr=5e-4)
        _sync(dev); wall = time.perf_counter() - t0
    kernel_us = sum(e.self_device_time_total for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA)
    return round(kernel_us / 1e6 / wall, 3)


def measure(args, path:str, bs:int, dev) -> dict:
    set_seed(0)
    dls = make_data(args, path, bs, dev)
    learn = seg_learner(dls, arch=args.arch, loss='pm_dice', pretrained=False, features=args.features, checkpoint=None,
                        mixed_precision='auto', seed=0, compile=args.compile)
    learn.metrics = []   # time the training step, not the validation metrics
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
    timer = EpochTimer()
    with learn.no_bar(), learn.no_logging(): learn.fit(2, lr=5e-4, cbs=[timer])
    wall_s, images = timer.times[-1], timer.images[-1]
    timed_window = (time.time() - wall_s, time.time())   # roughly: the timed epoch ended just before validation
    split_ms, gpu_ms = step_split(learn, args.split_steps, dev)
    pipeline = pipeline_rate(dls.train, dev)
    step_ms = wall_s * 1e3 / max(images / bs, 1)
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == 'cuda' else None
    busy_kernels = kernel_busy(learn, dev) if getattr(args, 'kernel_busy', False) else None
    row = dict(path=path, bs=bs, images_per_s=float(f'{images / wall_s:.4g}'), step_ms=float(f'{step_ms:.4g}'),
               pipeline_images_per_s=float(f'{pipeline:.4g}'),
               split_ms={k: round(v, 2) for k, v in split_ms.items()},
               split_pct={k: round(100 * v / sum(split_ms.values()), 1) for k, v in split_ms.items()},
               gpu_busy_events=None if dev.type != 'cuda' else round(min(gpu_ms / step_ms, 1.), 3),
               gpu_busy_kernels=busy_kernels, timed_window=timed_window,
               peak_gib=None if peak is None else round(peak / 2**30, 3),
               data_on=(f"{dls.train.dataset.images.device} ({str(dls.train.dataset.images.dtype).replace('torch.', '')})"
                        if path == 'fast' else 'cpu (per item)'))
    del learn, dls
    if dev.type == 'cuda': torch.cuda.empty_cache()
    return row


def largest_batch(rows:list, budget:int=GIB16) -> dict|None:
    "Largest batch size whose peak memory fits `budget`, from a least-squares line through (bs, peak)."
    pts = [(r['bs'], r['peak_gib'] * 2**30) for r in rows if r.get('peak_gib') is not None]
    if len(pts) < 2: return None
    bs, peak = map(np.array, zip(*pts))
    slope, intercept = np.polyfit(bs, peak, 1)
    return dict(bs=int((budget - intercept) // slope), gib_per_image=round(slope / 2**30, 4), fixed_gib=round(intercept / 2**30, 3))


def throughput(args, dev, save=lambda partial: None) -> dict:
    "One row per path and batch size; `save` gets the result so far after each row (a time limit loses nothing done)."
    rows, result = [], {}
    for path in args.paths:
        for bs in (args.plain_bs or args.bs) if path == 'plain' else args.bs:
            try: row = measure(args, path, bs, dev)
            except torch.OutOfMemoryError:
                row = dict(path=path, bs=bs, error='out of memory')
                if dev.type == 'cuda': torch.cuda.empty_cache()
            rows.append(row); print(json.dumps(row), flush=True)
            fits = {p: largest_batch([r for r in rows if r['path'] == p and 'error' not in r]) for p in args.paths}
            result = dict(rows=rows, largest_batch_16gib=fits)
            save(result)
    return result


def study(args, dev) -> dict:
    "Test metrics of the fast and the plain path, same recipe and seeds (small U-Net, synthetic polyps, with augmentation)."
    runs = []
    for seed in args.seeds:
        for path in args.paths:
            set_seed(seed)
            ds = SyntheticPolyps(n=args.study_n, size=args.size, seed=0)
            split = ds.split(seed=0)
            dls = seg_dataloaders(ds, split, bs=8, size=(args.size, args.size), crop=(args.crop, args.crop), device=dev,
                                  fast=(path == 'fast'))
            learn = seg_learner(dls, arch='unet', features=args.features, lr=3e-3, loss='pm_dice', checkpoint=None, seed=seed)
            t0 = time.time()
            with learn.no_bar(), learn.no_logging(): fit_poly(learn, args.epochs)
            summary, _ = evaluate(learn, ds, split['test'], progress=False)
            run = dict(path=path, seed=seed, mDice=round(summary['mDice'], 4), mNSD=round(summary['mNSD'], 4),
                       train_s=round(time.time() - t0, 1))
            runs.append(run); print(json.dumps(run), flush=True)
    table = {}
    for path in args.paths:
        for k in ('mDice', 'mNSD'):
            v = [r[k] for r in runs if r['path'] == path]
            table.setdefault(path, {})[k] = (round(statistics.mean(v), 4), round(statistics.stdev(v), 4) if len(v) > 1 else None)
    return dict(runs=runs, summary=table)


def paired(runs:list) -> dict:
    "Mean ± std over seeds of the difference fast − plain of each metric (same seed: same split, init and order)."
    seeds = sorted({r['seed'] for r in runs if r['path'] == 'fast'} & {r['seed'] for r in runs if r['path'] == 'plain'})
    by = {(r['path'], r['seed']): r for r in runs}
    out = {}
    for k in ('mDice', 'mNSD'):
        d = [by['fast', s][k] - by['plain', s][k] for s in seeds]
        if d: out[k] = (round(statistics.mean(d), 4), round(statistics.stdev(d), 4) if len(d) > 1 else None)
    return out


def markdown(result:dict) -> str:
    a = result['args']
    head = (f"# bench/train.py on {result['device']}\n\ncommit {result['git_commit']}, torch {result['versions'].get('torch')}, "
            f"fastai {result['versions'].get('fastai')}\n\n")
    if 'summary' in result:
        lines = [f"Fast vs plain data path: plain U-Net (features {a['features']}), synthetic polyps n={a['study_n']} at "
                 f"{a['size']}² with random {a['crop']}² crops and the paper's augmentation, PM Dice, {a['epochs']} epochs, "
                 f"seeds {a['seeds']}; test metrics per case (`evaluate`).\n",
                 "| path | mDice (mean ± std) | mNSD (mean ± std) |", "|---|---|---|"]
        f = lambda t: f"{100 * t[0]:.2f} ± {100 * t[1]:.2f}" if t[1] is not None else f"{100 * t[0]:.2f}"
        for p, m in result['summary'].items():
            lines.append(f"| {p} | {f(m['mDice'])} | {f(m['mNSD'])} |")
        d = paired(result['runs'])
        if d:
            lines.append(f"| fast − plain, paired by seed | {f(d['mDice'])} | {f(d['mNSD'])} |")
            lines.append("\nThe seeds spread the results far more than the path does: the same seed gives nearly the same "
                         "result on both paths (same split, initialisation and batch order; the augmentations draw "
                         "different random numbers), and the paired difference is within the seed-to-seed spread.")
        lines += ["", "| path | seed | mDice | mNSD | train s |", "|---|---|---|---|---|"]
        lines += [f"| {r['path']} | {r['seed']} | {100 * r['mDice']:.2f} | {100 * r['mNSD']:.2f} | {r['train_s']} |" for r in result['runs']]
        return head + '\n'.join(lines) + '\n'
    if 'procs' in result:
        pct = lambda v: '—' if v is None else f'{100 * v:.0f}%'
        lines = [f"{result['procs']} processes at once, fast path, batch {(a['bs'] or [16])[0]}, {result['threads_per_process']} CPU "
                 f"threads each: **{result['images_per_s_total']} images/s in total**; GPU busy {pct(result['gpu_busy_smi'])} "
                 f"(nvidia-smi, {result['gpu_smi_samples']} samples, while every process was in its timed epoch), "
                 f"{pct(result['gpu_busy_kernels_process0'])} kernel time of process 0 alone (torch.profiler, one epoch); "
                 f"peak memory {result['peak_gib_max']} GiB per process at most.\n",
                 "| process | images/s | ms/step | peak GiB |", "|---|---|---|---|"]
        lines += [f"| {r['process']} | {r.get('images_per_s', r.get('error'))} | {r.get('step_ms', '—')} | {r.get('peak_gib', '—')} |"
                  for r in result['rows']]
        return head + '\n'.join(lines) + '\n'
    lines = [f"Recipe: {a['arch']} U-Net, {a['size']}² inputs, random {a['crop']}² crops, paper augmentation, PM Dice, "
             f"Adam; bf16 autocast on CUDA; compile={a['compile']}. images/s: whole fastai training step (epoch of "
             f"{a['steps']} batches after a warm-up epoch). Split: separate loop, synchronised between phases.\n",
             "| path | bs | images/s | ms/step | " + ' | '.join(f'{p} %' for p in PHASES) + " | GPU busy | peak GiB | data on | pipeline images/s |",
             "|---|---|---|---|" + '---|' * len(PHASES) + "---|---|---|---|"]
    for r in result['rows']:
        if 'error' in r: lines.append(f"| {r['path']} | {r['bs']} | {r['error']} |"); continue
        b = r.get('gpu_busy', r.get('gpu_busy_events'))  # older results: 'gpu_busy' (CUDA events around a synchronised step)
        busy = '—' if b is None else f"{100 * b:.0f}%"
        peak = '—' if r['peak_gib'] is None else f"{r['peak_gib']:.2f}"
        lines.append(f"| {r['path']} | {r['bs']} | {r['images_per_s']} | {r['step_ms']} | "
                     + ' | '.join(str(r['split_pct'][p]) for p in PHASES) + f" | {busy} | {peak} | {r['data_on']} | {r.get('pipeline_images_per_s', '—')} |")
    for p, fit in result['largest_batch_16gib'].items():
        if fit: lines.append(f"\nLargest batch in 16 GiB ({p} path, linear fit of peak memory): **{fit['bs']}** "
                             f"({fit['gib_per_image']} GiB per image + {fit['fixed_gib']} GiB).")
    return head + '\n'.join(lines) + '\n'


def _smi_sampler():
    "Start sampling nvidia-smi's utilization.gpu every 0.2 s; returns (samples [(time, %)], stop function)."
    import shutil, subprocess, threading
    samples = []
    if not shutil.which('nvidia-smi'): return samples, lambda: None
    proc = subprocess.Popen(['nvidia-smi', '--query-gpu=utilization.gpu', '--format=csv,noheader,nounits', '-lms', '200'],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    def read():
        for line in proc.stdout:
            try: samples.append((time.time(), float(line.split(',')[0])))
            except ValueError: pass
    threading.Thread(target=read, daemon=True).start()
    return samples, lambda: (proc.terminate(), proc.wait())


def procs(args) -> dict:
    "P processes of the fast path at once: images/s per process and in total, peak memory, GPU busy (see the docstring)."
    import os, subprocess
    threads = max(1, (os.cpu_count() or 1) // args.procs)
    tmp = Path(tempfile.mkdtemp(prefix='train_procs'))
    cmd = [sys.executable, __file__, '--device', args.device, '--paths', 'fast', '--bs', str((args.bs or [16])[0]),
           '--threads', str(threads), '--arch', args.arch] + (['--tiny'] if args.tiny else []) + (['--steps', str(args.steps)] if args.steps else [])
    samples, stop = _smi_sampler()
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'PYTHONUNBUFFERED': '1'}
    ps = [subprocess.Popen(cmd + ['--out', str(tmp / f'p{k}')] + (['--kernel-busy'] if k == 0 else []), env=env) for k in range(args.procs)]
    deadline = time.time() + (args.seconds or 1e9)
    for p in ps:
        try: p.wait(timeout=max(1., deadline - time.time()))
        except subprocess.TimeoutExpired: p.kill(); p.wait()
    stop()
    rows = []
    for k in range(args.procs):
        f = tmp / f'p{k}.json'
        r = json.loads(f.read_text())['rows'][0] if f.is_file() else dict(error='no result (stopped at --seconds or failed)')
        rows.append(dict(process=k, **r))
    ok = [r for r in rows if 'images_per_s' in r]
    busy_smi, lo, hi = None, None, None
    if ok: lo, hi = max(r['timed_window'][0] for r in ok), min(r['timed_window'][1] for r in ok)   # all processes in their timed epoch
    if ok and samples:
        inside = [u for t, u in samples if lo <= t <= hi]
        busy_smi = round(sum(inside) / len(inside) / 100, 3) if inside else None
    kern = [r['gpu_busy_kernels'] for r in ok if r.get('gpu_busy_kernels') is not None]
    return dict(procs=args.procs, threads_per_process=threads, rows=rows, finished=len(ok),
                images_per_s_total=round(sum(r['images_per_s'] for r in ok), 1),
                timed_overlap_s=None if lo is None else round(max(0., hi - lo), 2),
                timed_epoch_s=[round(r['timed_window'][1] - r['timed_window'][0], 2) for r in ok],
                gpu_busy_smi=busy_smi, gpu_smi_samples=len(samples),
                gpu_busy_kernels_process0=kern[0] if kern else None,
                peak_gib_max=max((r['peak_gib'] for r in ok if r.get('peak_gib') is not None), default=None))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--paths', nargs='+', default=['fast', 'plain'], choices=['fast', 'plain'])
    ap.add_argument('--bs', nargs='+', type=int, default=None, help='batch sizes (default: 16 32 64 128 on CUDA, 2 4 on CPU)')
    ap.add_argument('--plain-bs', nargs='+', type=int, default=None, help='batch sizes of the plain path (default: 32 on CUDA, as --bs on CPU)')
    ap.add_argument('--pool', type=int, default=256, help='distinct synthetic images (the training set cycles through them)')
    ap.add_argument('--steps', type=int, default=None, help='training batches per timed epoch (default 20 CUDA, 2 CPU)')
    ap.add_argument('--split-steps', type=int, default=None, help='steps of the phase split (default 10 CUDA, 2 CPU)')
    ap.add_argument('--arch', default='resnet34', choices=['resnet34', 'unet'])
    ap.add_argument('--features', type=int, default=None, help='plain U-Net width (default 64; 8 in --study)')
    ap.add_argument('--size', type=int, default=None, help='input side (default 320; 64 in --study)')
    ap.add_argument('--crop', type=int, default=None, help='training crop side (default 256; 48 in --study)')
    ap.add_argument('--workers', type=int, default=0, help='DataLoader workers of the plain path')
    ap.add_argument('--compile', action='store_true', help='torch.compile the model (falls back to eager)')
    ap.add_argument('--study', action='store_true', help='fast vs plain path metrics over seeds instead of throughput')
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument('--epochs', type=int, default=12, help='epochs of each --study run')
    ap.add_argument('--study-n', type=int, default=60, help='synthetic images of the --study dataset')
    ap.add_argument('--tiny', action='store_true', help='tiny sizes: a check of the script in seconds')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    ap.add_argument('--out', default=None, help='write OUT.json and OUT.md')
    ap.add_argument('--render', default=None, help='only rewrite the markdown of an earlier OUT.json')
    ap.add_argument('--procs', type=int, default=None, help='run this many processes of the fast path at once (see above)')
    ap.add_argument('--seconds', type=float, default=None, help='with --procs: stop the processes after this many seconds')
    ap.add_argument('--kernel-busy', action='store_true', help='also measure GPU kernel time with torch.profiler')
    args = ap.parse_args(argv)
    if args.render:
        result = json.loads(Path(args.render).read_text())
        atomic_write_text(Path(args.render).with_suffix('.md'), markdown(result)); print(markdown(result))
        return result
    dev = torch.device(args.device)
    if args.threads: torch.set_num_threads(args.threads)
    cuda = dev.type == 'cuda'
    if args.study:
        defaults = dict(size=64, crop=48, features=8)
        if args.tiny: defaults.update(size=32, crop=24, features=4); args.seeds, args.epochs, args.study_n = args.seeds[:2], 1, 12
    else:
        defaults = dict(size=320, crop=256, features=64, bs=[16, 32, 64, 128] if cuda else [2, 4],
                        plain_bs=[32] if cuda else None, steps=20 if cuda else 2, split_steps=10 if cuda else 2)
        if args.tiny: defaults.update(size=32, crop=24, features=4, bs=[2, 4], steps=2, split_steps=2); args.arch = 'unet'
    for k, v in defaults.items():
        if getattr(args, k, None) is None: setattr(args, k, v)
    out = None if args.out is None else str(Path(args.out).with_suffix('')) if args.out.endswith(('.json', '.md')) else args.out
    result = dict(device=device_name() if cuda else f'cpu ({torch.get_num_threads()} threads)', versions=package_versions(),
                  git_commit=git_commit(ROOT), args=vars(args))
    def save(partial:dict):
        if out: atomic_write_json(f'{out}.json', {**result, **partial}); atomic_write_text(f'{out}.md', markdown({**result, **partial}))
    if args.procs:
        result.update(procs(args)); save(result); print(json.dumps(result, indent=1, default=str))
        if out: print(f'wrote {out}.json and {out}.md')
        return result
    result.update(study(args, dev) if args.study else throughput(args, dev, save))
    save(result)
    print(markdown(result))
    if out: print(f'wrote {out}.json and {out}.md')
    return result


if __name__ == '__main__': main()
