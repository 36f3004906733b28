"""Scale-out: fastai's distributed data parallel training on 2 CPU processes (`accelerate launch`, gloo), with
validation metrics gathered over the processes; and the Slurm job-array grid script run as local shards.

Run by pytest; the first test launches this same file as the training script (`python tests/test_distributed.py OUT`)."""
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def ddp_main(out:Path):
    "Train a tiny U-Net for 4 epochs on each process of the launch; write what each process logged and saw."
    import torch
    from fastai.callback.core import Callback
    from fastai.torch_core import rank_distrib, num_distrib
    from pmdice_nb.data.synthetic import SyntheticPolyps
    from pmdice_nb.augment import seg_dataloaders
    from pmdice_nb.learner import seg_learner, fit_poly
    torch.set_num_threads(1)
    class CountTraining(Callback):
        def before_fit(self): self.items = 0
        def after_batch(self):
            if self.training: self.items += len(self.learn.xb[0])
    ds = SyntheticPolyps(n=24, size=32, seed=0)
    split = {'train': list(range(16)), 'valid': list(range(16, 24)), 'test': []}
    results = {}
    for path in ('fast', 'plain'):
        dls = seg_dataloaders(ds, split, bs=2, size=(32, 32), crop=False, device='cpu', fast=(path == 'fast'))
        learn = seg_learner(dls, arch='unet', features=4, loss='dice', lr=3e-2, checkpoint=None, seed=0)
        count = CountTraining()
        with learn.no_bar(), learn.no_logging(): fit_poly(learn, 4, cbs=[count])
        logged = [float(v) for v in learn.recorder.values[-1][1:]]          # valid_loss, mDice, mIoU, mNSD, mPrec, mRec
        gathered = len(learn.metrics[0].accumulator.records)
        with learn.no_bar(), learn.no_logging(): reference = [float(v) for v in learn.validate()]   # one process, all cases
        results[path] = dict(logged=logged, reference=reference, names=list(learn.recorder.metric_names[2:-1]),
                             cases_scored=gathered, valid_items=len(dls.valid_ds), train_items_seen=count.items)
    (out / f'rank{rank_distrib()}.json').write_text(json.dumps(dict(world=num_distrib(), **results)))


def test_accelerate_two_cpu_processes_gather_metrics(tmp_path):
    "2 processes over gloo: each trains on half the batches, and the logged metrics are those of the whole validation set."
    pytest.importorskip('accelerate')
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}
    # `--multi_gpu` is accelerate's torchrun launcher; with the data on the CPU, `distributed` asks Accelerate for CPU
    # processes, which talk over gloo. (`--cpu --num_processes 2` starts a single process unless MPI is installed:
    # accelerate launches several CPU processes only through `mpirun`.)
    cmd = [str(BIN / 'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', str(_free_port()),
           str(Path(__file__)), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1)]
    for res in ranks:
        assert res['world'] == 2
        for path in ('fast', 'plain'):
            r = res[path]
            assert r['train_items_seen'] == 4 * 8              # each process trained on its half of the 16 items
            assert r['cases_scored'] == r['valid_items'] == 8  # metrics over all processes' validation cases
            assert 'mNSD' in r['names'] and r['logged'][r['names'].index('mNSD')] > 0   # NSD records gathered too
            assert r['logged'] == pytest.approx(r['reference'], rel=1e-5, abs=1e-6), (path, r)
    for path in ('fast', 'plain'):   # one model: DDP kept the two processes' weights equal
        assert ranks[0][path]['reference'] == pytest.approx(ranks[1][path]['reference'], rel=1e-6)


def test_slurm_grid_script_runs_its_shards_locally(tmp_path):
    "scripts/slurm_grid.sh: two array tasks as local processes share a tiny grid; the last one writes the table."
    script = ROOT / 'scripts' / 'slurm_grid.sh'
    runs = tmp_path / 'runs'
    grid = ('--dataset synthetic_polyps --losses dice,pm_dice --seeds 0 --arch unet --features 4 --epochs 1 --bs 4 '
            '--size 32 --crop none --lr 0.003 --dataset-kwargs {"n":8,"size":32}')
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore', 'PATH': f"{BIN}:{os.environ['PATH']}",
           'RUNS_DIR': str(runs), 'GRID_ARGS': grid, 'SLURM_ARRAY_TASK_COUNT': '2', 'SLURM_ARRAY_TASK_MIN': '0',
           'SLURM_ARRAY_TASK_MAX': '1'}
    procs = [subprocess.Popen(['bash', str(script)], cwd=ROOT, env={**env, 'SLURM_ARRAY_TASK_ID': str(i)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    records = sorted(runs.rglob('*.json'))
    assert len(records) == 2, (records, outs)
    assert all(json.loads(r.read_text())['status'] == 'done' for r in records)
    assert (runs / 'table.md').is_file(), outs
    table = (runs / 'table.md').read_text()
    assert 'PM Dice' in table or 'pm_dice' in table, table


if __name__ == '__main__': ddp_main(Path(sys.argv[1]))
