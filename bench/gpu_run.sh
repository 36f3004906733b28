#!/usr/bin/env bash
# The one prepared command for a lent GPU machine (issue "Fast where it counts", section 3):
#   bash bench/gpu_run.sh MINUTES OUTDIR
# 1. installs what the GPU image lacks from the carried wheels (.whl/, from ../shared/tools/device-wheels.sh h5py),
# 2. benchmarks the losses (bench/losses.py) and the training step (bench/train.py, when present),
# 3. continues the `paper` studies (Kvasir first, then ACDC) for the minutes left, resuming from the records
#    committed under nbs/results/<study>/, and writes the new records and every benchmark output under OUTDIR.
# It stops before its deadline: no run starts that the median of the finished ones says would end after it, and the
# whole grid step is killed 60 s before the deadline (a run cut short writes nothing; finished records are atomic).
# Data: the packed, resized copies in gpu_data*/<dataset folder> (scripts/pack_gpu_data.py), carried with the call.
set -uo pipefail
MINUTES=${1:?usage: bash bench/gpu_run.sh MINUTES OUTDIR}
OUTDIR=${2:?usage: bash bench/gpu_run.sh MINUTES OUTDIR}
PY=${PYTHON:-python3}
start=$(date +%s); deadline=$((start + MINUTES * 60))
left() { echo $(( deadline - $(date +%s) )); }
mkdir -p "$OUTDIR"
exec > >(tee -a "$OUTDIR/gpu_run.log") 2>&1
echo "gpu_run: $(date -u +%FT%TZ), $MINUTES min, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUTDIR/gpu.csv"
# Benchmarks: each bounded so the grid keeps most of the time (GPU_RUN_BENCH=0 skips them).
if [ "${GPU_RUN_BENCH:-1}" != 0 ]; then
timeout 150 $PY bench/losses.py --csv "$OUTDIR/losses_gpu.csv" > "$OUTDIR/losses_gpu.txt" 2>&1; echo "losses bench: exit $?"
if [ -f bench/train.py ]; then
  timeout 150 $PY bench/train.py --out "$OUTDIR/train_gpu.json" > "$OUTDIR/train_gpu.txt" 2>&1; echo "train bench: exit $?"
fi
fi
# The paper grids, resumed from the committed records.
for study in ${GPU_RUN_STUDIES:-kvasir_paper acdc_paper}; do
  folder=$($PY -c "from pmdice_nb.studies import get_study; print(get_study('$study').data_folder)" 2>/dev/null) || { echo "unknown study $study"; continue; }
  root=.
  if [ -n "$folder" ]; then
    root=$(ls -d gpu_data*/"$folder" 2>/dev/null | head -1)
    [ -n "$root" ] || { echo "gpu_data*/$folder missing: run scripts/pack_gpu_data.py and carry its folder"; continue; }
  fi
  budget=$(( $(left) - 60 ))
  if [ "$budget" -lt 120 ]; then echo "no time left for $study"; break; fi
  mkdir -p "$OUTDIR/results/$study"
  [ -d "nbs/results/$study" ] && cp -r "nbs/results/$study/." "$OUTDIR/results/$study/"
  timeout "$budget" $PY - "$study" "$root" "$OUTDIR/results/$study" "$budget" <<'PYEOF'
import sys, warnings
warnings.filterwarnings('ignore', category=FutureWarning)
from pmdice_nb.studies import run_study
study, root, runs_dir, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
out = run_study(study, runs_dir=runs_dir, root=root, minutes=budget / 60, keep_predictions=False)
print(f"{study}: {len(out['done'])} new, {len(out['skipped'])} already done, {len(out['left'])} left for next time")
PYEOF
  echo "$study: exit $?"
done
echo "gpu_run: done in $(( $(date +%s) - start )) s"
