#!/usr/bin/env bash
# The one prepared command for a lent GPU machine (issue 15; the exact call is in bench/README.md):
#   PMDICE_COMMIT=<hash> bash bench/gpu_run.sh MINUTES OUTDIR
# 1. installs what the GPU image lacks from the carried, pinned wheels (.whl/, `scripts/pack_gpu_data.py --wheels`),
#    into /tmp/site, never over the image's own packages;
# 2. samples nvidia-smi every 0.5 s into OUTDIR/nvidia_smi.csv (when nvidia-smi exists);
# 3. benchmarks the losses (bench/losses.py) and the training step (bench/train.py), each bounded to about a minute
#    and written row by row into OUTDIR (GPU_RUN_BENCH=0 skips them);
# 4. runs the studies of GPU_RUN_STUDIES (default kvasir_gpu) for the minutes left, as GPU_RUN_SHARDS processes
#    (`run_study(..., shard='k/n')`, as `pmdice study run --shard k/n`), resuming from the records committed under
#    nbs/results/<study>/; records, locks and work folders live in a scratch folder outside OUTDIR;
# 5. ends, also on a timeout or a signal (trap), with at most 6 plain-named files directly under OUTDIR (the call brings back at most 8):
#    gpu_run.log, records.tar.gz (the new records and tables, `<study>/...`; refreshed every minute while the studies
#    run), losses_gpu.csv, train_gpu.json, train_gpu.md, nvidia_smi.csv.
# Merge what comes back here with `python scripts/gpu_results.py merge OUTDIR`.
# No run starts that the study's time estimate says would end after the deadline; the studies are stopped
# GPU_RUN_RESERVE seconds (default 30) before it, so that the archive is written.
# Environment: PYTHON (default python3), GPU_RUN_STUDIES, GPU_RUN_BENCH (1), GPU_RUN_SHARDS (4 with a GPU, else 1),
# GPU_RUN_PREDICTIONS (0: keep no test predictions; 1: keep them and archive them when small), PMDICE_COMMIT,
# GPU_RUN_WORK (the scratch folder; default a new one under $TMPDIR), GPU_RUN_WHEELS (.whl), GPU_RUN_SITE (/tmp/site).
set -uo pipefail
usage='usage: bash bench/gpu_run.sh MINUTES OUTDIR'
MINUTES=${1:?$usage}
OUTDIR=${2:?$usage}
export PYTHONUNBUFFERED=1
export PMDICE_OFFLINE=${PMDICE_OFFLINE:-1}   # no ImageNet download attempt: the GPU machine has no network
PY=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
start=$(date +%s)
deadline=$(awk -v s="$start" -v m="$MINUTES" 'BEGIN { printf "%d", s + m * 60 }')
left() { echo $(( deadline - $(date +%s) )); }
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) || exit 1
WORK=${GPU_RUN_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_run.XXXXXX")}
mkdir -p "$WORK/runs" || exit 1
exec > >(tee -a "$OUTDIR/gpu_run.log") 2>&1
TEE_PID=$!
PIDS=()         # shard processes
SAMPLER=        # the nvidia-smi sampler
say() { echo "gpu_run [$(date -u +%T)]: $*"; }

pack_records() {  # the new records of every study so far into OUTDIR/records.tar.gz (atomically)
  [ -d "$WORK/runs" ] || return 0
  $PY scripts/gpu_results.py pack "$WORK/runs" "$OUTDIR/records.tar.gz" --committed nbs/results \
    --predictions "${GPU_RUN_PREDICTIONS:-0}" || say "packing the records failed"
}

finished=0
finish() {  # on exit, timeout or signal: stop the children, archive, leave only returnable files in OUTDIR
  [ "$finished" = 1 ] && return; finished=1
  trap - EXIT INT TERM HUP
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null && wait "$SAMPLER" 2>/dev/null
  pack_records
  # Anything else that landed in OUTDIR (a folder, an odd name, a partial file) moves to the scratch folder.
  for f in "$OUTDIR"/* "$OUTDIR"/.[!.]*; do
    [ -e "$f" ] || continue
    name=$(basename "$f")
    if [ -d "$f" ] || [[ ! "$name" =~ ^[A-Za-z0-9._-]+$ ]] || [[ "$name" == *.part ]]; then
      say "moving $name out of OUTDIR (not returnable) into $WORK/left_out"; mkdir -p "$WORK/left_out"; mv "$f" "$WORK/left_out/"
    fi
  done
  say "done in $(( $(date +%s) - start )) s; OUTDIR holds:"
  ls -l "$OUTDIR" | tail -n +2
  n=$(find "$OUTDIR" -mindepth 1 | wc -l)
  [ "$n" -le 8 ] || say "WARNING: $n entries under OUTDIR, more than the 8 that come back"
  [ -n "${GPU_RUN_WORK:-}" ] || rm -rf "$WORK"
  exec 1>&- 2>&-
  wait "$TEE_PID" 2>/dev/null
}
trap finish EXIT
trap 'say "signal: stopping"; exit 143' INT TERM HUP

say "$(date -u +%FT%TZ), $MINUTES min, scratch $WORK"
if [ -z "${PMDICE_COMMIT:-}" ]; then
  PMDICE_COMMIT=$(git rev-parse HEAD 2>/dev/null) && ! git diff --quiet HEAD 2>/dev/null && PMDICE_COMMIT+=+dirty
fi
export PMDICE_COMMIT=${PMDICE_COMMIT:-}
say "commit ${PMDICE_COMMIT:-unknown (set PMDICE_COMMIT: records will say git_commit null)}"

# 1. Wheels: only what the image lacks, pinned in .whl/requirements.txt; --target keeps them apart from the image's.
WHEELS=${GPU_RUN_WHEELS:-.whl}
if [ -f "$WHEELS/requirements.txt" ] && ! $PY -c 'import fastai, fastcore, nibabel' 2>/dev/null; then
  site=${GPU_RUN_SITE:-/tmp/site}
  say "installing $(tr '\n' ' ' < "$WHEELS/requirements.txt")from $WHEELS into $site"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --find-links "$WHEELS" --target "$site" \
    -r "$WHEELS/requirements.txt" || { say "installing the wheels failed"; exit 1; }
  export PYTHONPATH=$site:$REPO${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
fi
$PY - "$WORK/studies.txt" <<'PYEOF' || { say "the package does not import"; exit 1; }
import importlib, sys
print('python', sys.version.split()[0])
for m in ('torch', 'numpy', 'h5py', 'fastai', 'fastcore', 'nibabel', 'pmdice_nb'):
    try: mod = importlib.import_module(m); print(f'  {m} {getattr(mod, "__version__", "?")} from {mod.__file__}')
    except ImportError as e: print(f'  {m}: {e}')
import torch; print('  cuda:', torch.cuda.is_available() and torch.cuda.get_device_name())
from pmdice_nb.studies import STUDIES   # 'pmdice study list', with each study's data folder
open(sys.argv[1], 'w').write(''.join(f'{n} {s.data_folder or "."}\n' for n, s in STUDIES.items()))
PYEOF

# 2. GPU sampler.
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 500 > "$OUTDIR/nvidia_smi.csv" 2>/dev/null &
  SAMPLER=$!
  DEVICE=cuda; SHARDS=${GPU_RUN_SHARDS:-4}
else
  say "no nvidia-smi: CPU run"
  DEVICE=cpu; SHARDS=${GPU_RUN_SHARDS:-1}
fi
CORES=$(nproc 2>/dev/null || echo 1)
THREADS=$(( CORES / SHARDS )); [ "$THREADS" -ge 1 ] || THREADS=1

# 3. Benchmarks, each bounded and written as it goes (rows land in OUTDIR even if cut off).
if [ "${GPU_RUN_BENCH:-1}" != 0 ]; then
  say "losses benchmark ($DEVICE)"
  timeout -k 5 90 $PY bench/losses.py --device "$DEVICE" --csv "$OUTDIR/losses_gpu.csv" --seconds 60 --before ''
  say "losses benchmark: exit $?"
  say "training benchmark ($SHARDS processes)"
  timeout -k 5 120 $PY bench/train.py --device "$DEVICE" --procs "$SHARDS" --seconds 75 --out "$OUTDIR/train_gpu"
  say "training benchmark: exit $?"
fi

# 4. The studies, resumed from the committed records, sharded over processes.
known=" $(cut -d' ' -f1 "$WORK/studies.txt" | tr '\n' ' ')"
cat > "$WORK/shard.py" <<'PYEOF'
import sys, warnings
warnings.filterwarnings('ignore', category=FutureWarning)
from pmdice_nb.studies import run_study
study, root, runs_dir, seconds, shard, threads, keep = sys.argv[1:8]
out = run_study(study, runs_dir=runs_dir, root=root, minutes=float(seconds) / 60, shard=shard, threads=int(threads),
                keep_predictions=keep == '1')
print(f"{study} [shard {shard}]: {len(out['done'])} new, {len(out['failed'])} failed, {len(out['skipped'])} already done, "
      f"{len(out['busy'])} run by another shard, {len(out['left'])} left for next time", flush=True)
sys.exit(1 if out['failed'] else 0)
PYEOF
RESERVE=${GPU_RUN_RESERVE:-30}
for study in ${GPU_RUN_STUDIES:-kvasir_gpu}; do
  if [[ "$known" != *" $study "* ]]; then
    say "skipping study $study: 'pmdice study list' does not know it (known:$known)"; continue
  fi
  folder=$(awk -v s="$study" '$1 == s { print $2 }' "$WORK/studies.txt")
  root=.
  if [ "$folder" != . ]; then
    root=$(ls -d gpu_data*/"$folder" 2>/dev/null | head -1)
    [ -n "$root" ] || { say "skipping study $study: gpu_data*/$folder missing (scripts/pack_gpu_data.py, carried)"; continue; }
  fi
  budget=$(( $(left) - RESERVE ))
  if [ "$budget" -lt 30 ]; then say "no time left for $study"; break; fi
  runs="$WORK/runs/$study"; mkdir -p "$runs"
  [ -d "nbs/results/$study" ] && tar -C "nbs/results/$study" --exclude=./predictions -cf - . | tar -C "$runs" -xf -
  say "$study: $SHARDS shard(s) x $THREADS thread(s), $budget s, data $root"
  PIDS=()
  for (( k = 0; k < SHARDS; k++ )); do
    OMP_NUM_THREADS=$THREADS timeout -k 10 "$budget" $PY "$WORK/shard.py" "$study" "$root" "$runs" "$budget" \
      "$k/$SHARDS" "$THREADS" "${GPU_RUN_PREDICTIONS:-0}" &
    PIDS+=($!)
  done
  while :; do  # refresh the archive every minute: a hard kill still leaves the records finished so far
    alive=0; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] || break
    for _ in $(seq 60); do sleep 1; alive=0; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done; [ "$alive" = 1 ] || break; done
    pack_records
  done
  for i in "${!PIDS[@]}"; do wait "${PIDS[$i]}"; say "$study shard $i/$SHARDS: exit $?"; done
  PIDS=()
  $PY -c "from pmdice_nb.studies import study_table; study_table('$study', '$runs')" >/dev/null 2>&1 \
    && say "$study: table written" || say "$study: no table (no finished records)"
  pack_records
done
