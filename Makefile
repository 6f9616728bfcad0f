# nfgen — the two commands: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# torch/torchvision pinned exactly (the build the CPU figures in docs/results.md were measured with); pip fetches them like any package
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/nfgen pipeline demo --preset quick

test: $(STAMP)
	$(BIN)/lint-imports && $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/fit_fields.py
	$(BIN)/python benchmarks/ssim_pairs.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/sample_speed.py --n 8
	$(BIN)/python benchmarks/codebook_lloyd.py
	$(BIN)/python benchmarks/chamfer_pairs.py

clean-venv:
	rm -rf $(VENV)
