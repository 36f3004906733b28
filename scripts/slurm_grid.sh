#!/usr/bin/env bash
# The paper's loss x seed grid on a Slurm cluster: one job array, one shard of the grid per array task, and the
# tables written once every shard has finished.
#
#   sbatch --array=0-7 scripts/slurm_grid.sh                                    # the Kvasir-SEG grid on 8 GPUs
#   GRID_ARGS="--dataset acdc --root /data/ACDC" RUNS_DIR=runs/acdc sbatch --array=0-7 scripts/slurm_grid.sh
#
# Each task runs `pmdice grid ... --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`: the shards split the grid
# deterministically, a run is claimed with a lock file before it starts and skipped when its record exists, so a
# resubmitted array (after a time limit, a node failure, or with more tasks) finishes what is left and repeats nothing.
# A task that finds every shard done (a marker per task in $RUNS_DIR/.shards/<array job id>/, counted under `flock`) runs
# `pmdice table $RUNS_DIR`. To write the tables yourself instead: `pmdice table runs/kvasir`, or as a dependent job:
#   sbatch --dependency=afterok:<array job id> --wrap "pmdice table runs/kvasir"
#
# Settings (environment): GRID_ARGS (options of `pmdice grid` but --shard and --runs-dir; default the paper's
# Kvasir-SEG grid), RUNS_DIR (default runs/kvasir), PMDICE (the command; default `pmdice`, e.g. a venv's).
# Tested here by running two array tasks as local processes (tests/test_distributed.py).
#
#SBATCH --job-name=pmdice-grid
#SBATCH --array=0-3
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

GRID_ARGS=${GRID_ARGS:-"--dataset kvasir --root data/kvasir-seg"}
RUNS_DIR=${RUNS_DIR:-runs/kvasir}
PMDICE=${PMDICE:-pmdice}
TASK=${SLURM_ARRAY_TASK_ID:?"run this as a Slurm array task (sbatch --array=0-N), or set SLURM_ARRAY_TASK_ID"}
MIN=${SLURM_ARRAY_TASK_MIN:-0}
STEP=${SLURM_ARRAY_TASK_STEP:-1}                   # --array=0-7:2 has tasks 0, 2, 4, 6: shards 0-3 of 4
COUNT=${SLURM_ARRAY_TASK_COUNT:?"SLURM_ARRAY_TASK_COUNT is not set"}
INDEX=$(( (TASK - MIN) / STEP ))
SHARD=$INDEX/$COUNT
MARKS="$RUNS_DIR/.shards/${SLURM_ARRAY_JOB_ID:-local}"   # this array's markers only: a resubmitted array counts its own tasks

read -r -a ARGS <<< "$GRID_ARGS"
mkdir -p "$MARKS"
echo "task $TASK: pmdice grid ${ARGS[*]} --shard $SHARD --runs-dir $RUNS_DIR"
status=0
"$PMDICE" grid "${ARGS[@]}" --shard "$SHARD" --runs-dir "$RUNS_DIR" --quiet || status=$?

if [ "$status" -eq 0 ]; then
    # Count finished shards under a lock: the last one to finish writes the tables (exactly once per array).
    exec 9>"$RUNS_DIR/.shards/lock"
    flock 9
    touch "$MARKS/done.$INDEX"
    done_count=$(find "$MARKS" -name 'done.*' | wc -l)
    if [ "$done_count" -eq "$COUNT" ]; then
        echo "task $TASK: all $COUNT shards done, writing the tables"
        "$PMDICE" table "$RUNS_DIR"
    fi
    flock -u 9
fi
exit "$status"
