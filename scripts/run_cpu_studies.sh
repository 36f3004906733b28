#!/usr/bin/env bash
# The real-data CPU studies of the paper companion (issue "The paper on real data"), in priority order:
# the four losses of the main claim on Kvasir-SEG, then on ACDC, the MS study, then the rest of Table 1 and the
# extra seeds, then the MS gamma ablations (Figures 3 and 4). Resumable: finished runs (their records under
# nbs/results/<study>/) are skipped, so rerun it after any stop. Run it in the background:
#   nohup bash scripts/run_cpu_studies.sh > studies.log 2>&1 &
# and commit nbs/results/ as records appear. Data: $PMDICE_DATA or ../shared/data (see nbs/07_studies.ipynb).
set -u
PMDICE=${PMDICE:-.venv/bin/pmdice}
run() { $PMDICE study run "$@" --threads auto || echo "study run $* ended with status $?"; }
run kvasir_cpu --grids 0
run acdc_cpu --grids 0
run ms_cpu
run kvasir_cpu --grids 1,2
run acdc_cpu --grids 1
run ms_gamma_cpu
