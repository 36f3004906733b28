# The two commands of the README: `make demo` and `make test`. Each sets up .venv by itself on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv export clean-nbs check-sync nbtest pytest readme bench lab outputs docs docs-check colab

# The venv is rebuilt when the package's requirements change.
# pip (not uv) takes torch from this machine's local files; see settings.ini.
$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/pmdice demo

test: $(STAMP) check-sync nbtest pytest docs-check

# Exported modules must match the notebooks, and notebooks must be clean: nbdev_export and nbdev_clean
# must change nothing (compared with a copy taken before they run, so uncommitted work is not flagged).
check-sync: $(STAMP)
	@tmp=$$(mktemp -d); cp -r pmdice_nb nbs $$tmp/; \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean || exit 1; \
	if ! diff -r -q -x __pycache__ $$tmp/pmdice_nb pmdice_nb; then \
	  echo "pmdice_nb/ is out of sync with nbs/: run nbdev_export and commit the result"; rm -rf $$tmp; exit 1; fi; \
	if ! diff -r -q -x .ipynb_checkpoints $$tmp/nbs nbs; then \
	  echo "notebooks are not clean: run nbdev_clean and commit the result"; rm -rf $$tmp; exit 1; fi; \
	rm -rf $$tmp; echo "pmdice_nb/ in sync with nbs/, notebooks clean"

nbtest: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: $(STAMP)
	$(BIN)/python -m pytest -q tests

# All notebooks, the slow ones too (training runs, full real-sample checks).
test-slow: $(STAMP)
	$(BIN)/nbdev_test --n_workers 2 --flags "slow data" --timing

export: $(STAMP)
	$(BIN)/nbdev_export

clean-nbs: $(STAMP)
	$(BIN)/nbdev_clean

# README.md from nbs/index.ipynb without Quarto (which cannot be installed offline).
readme: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace nbs/index.ipynb
	$(BIN)/nbdev_clean --fname nbs/index.ipynb
	$(BIN)/python scripts/render_readme.py nbs/index.ipynb README.md

# Execute the notebooks whose outputs (figures, tables) teach, so the docs site shows them; then clean metadata.
OUTPUT_NBS := nbs/01a_losses_core.ipynb nbs/01b_losses.ipynb nbs/02a_surface_distance.ipynb nbs/02b_metrics.ipynb nbs/03_data.core.ipynb nbs/03a_data.synthetic.ipynb \
	nbs/03b_data.kvasir.ipynb nbs/03c_data.acdc.ipynb nbs/03d_data.msseg.ipynb nbs/04a_augment.ipynb nbs/04b_models.ipynb nbs/04c_learner.ipynb nbs/05b_experiments.ipynb nbs/05c_tables.ipynb nbs/05d_study_design.ipynb \
	nbs/07_studies.ipynb nbs/08a_statistics.ipynb nbs/08b_compare.ipynb nbs/10_paper.ablations.ipynb nbs/11_paper.table1_kvasir.ipynb nbs/12_paper.table2_acdc.ipynb \
	nbs/13_paper.table3_ms.ipynb nbs/14_paper.figures.ipynb nbs/20_tutorial.own_training.ipynb
outputs: $(STAMP)
	for nb in $(OUTPUT_NBS); do $(BIN)/jupyter nbconvert --to notebook --execute --inplace $$nb || exit 1; done
	$(BIN)/python scripts/tidy_outputs.py $(OUTPUT_NBS)
	$(BIN)/nbdev_clean

bench: $(STAMP)
	$(BIN)/python bench/losses.py
	$(BIN)/python bench/surface_dice.py

# The documentation site, offline: nbdev's notebook processing, then Sphinx + myst-nb (docs/README.md says why not
# Quarto). Open _docs/index.html. Never installs anything; uses only .venv.
docs: $(STAMP)
	OMP_NUM_THREADS=1 PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python scripts/build_docs.py

# Every notebook passes nbdev's processing, the site builds, no raw front matter/$$/Quarto attributes, links resolve.
docs-check: $(STAMP)
	OMP_NUM_THREADS=1 PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python scripts/docs_check.py

# Colab badge, install cell, nbdev-optional show_doc import and guarded export cell (idempotent: a second run changes
# nothing). All notebooks by default; `make colab COLAB_NBS="nbs/01b_losses.ipynb"` for some.
COLAB_NBS ?= $(wildcard nbs/*.ipynb)
colab: $(STAMP)
	$(BIN)/python scripts/colab_cells.py $(COLAB_NBS)
	for nb in $(COLAB_NBS); do $(BIN)/nbdev_clean --fname $$nb || exit 1; done

# JupyterLab on nbs/. Jupyter refuses to run as root (Docker, Codespaces, many cloud VMs) without --allow-root, so it is
# added then. More options: make lab LAB_ARGS="--port 8890 --no-browser".
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab nbs$(if $(filter 0,$(shell id -u)), --allow-root)$(if $(LAB_ARGS), $(LAB_ARGS))
