"The one-call GPU script runs end to end here on the CPU: a smoke study, time-boxed, records under OUTDIR."
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_gpu_run_smoke(tmp_path):
    env = {**os.environ, 'PYTHON': sys.executable, 'GPU_RUN_BENCH': '0', 'GPU_RUN_STUDIES': 'unknown_study smoke',
           'OMP_NUM_THREADS': '1'}
    out = subprocess.run(['bash', 'bench/gpu_run.sh', '8', str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log
    records = sorted((tmp_path / 'results' / 'smoke').rglob('seed0.json'))
    assert [r.parent.name for r in records] == ['dice', 'pm_dice'], log
    assert all(json.loads(r.read_text())['status'] == 'done' for r in records)
    assert 'unknown study unknown_study' in log and 'smoke: 2 new' in log, log
    assert (tmp_path / 'gpu_run.log').is_file()

def test_gpu_run_needs_arguments():
    out = subprocess.run(['bash', 'bench/gpu_run.sh'], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and 'usage' in out.stderr
