# Two entry points for users: `make run` (the local pipeline on the default
# dataset) and `make test` (the test suite). Each installs what is missing.

VENV        ?= .venv
DATA        ?= data/imagenet-5-categories
OUTPUT      ?= runs/local
CONFIG      ?= local
REGISTRY    ?= registry
SHARED_DATA := ../shared/data/imagenet-5-categories
DATA_REPO   := https://github.com/thunderInfy/imagenet-5-categories
BIN         := $(VENV)/bin

.PHONY: install run test test-fast lint data clean image

# A Python 3.10 interpreter: on PATH, or one that pyenv installed.
PYTHON310 ?= $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { command -v "$$p" || echo "$$p"; } && break; done)

$(BIN)/simclr-tfx: pyproject.toml requirements.lock
	@test -n "$(PYTHON310)" || { echo "error: Python 3.10 not found; install it (e.g. 'pyenv install 3.10') and retry" >&2; exit 1; }
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv venv --quiet --allow-existing --python "$(PYTHON310)" $(VENV)
	VIRTUAL_ENV=$(VENV) uv pip sync --quiet requirements.lock
	VIRTUAL_ENV=$(VENV) uv pip install --quiet --no-deps -e .
	@touch $@

install: $(BIN)/simclr-tfx

# Resolves the dataset: --data if present, else the shared copy, else a clone.
data:
	@if [ -d "$(DATA)" ]; then :; \
	elif [ -d "$(SHARED_DATA)" ]; then echo "using $(SHARED_DATA)"; \
	else git clone --depth 1 $(DATA_REPO) "$(DATA)"; fi

run: install data
	@data="$(DATA)"; [ -d "$$data" ] || data="$(SHARED_DATA)"; \
	$(BIN)/simclr-tfx run --config $(CONFIG) --data "$$data" --output $(OUTPUT) --registry $(REGISTRY)

# Test modules run on TEST_WORKERS processes (pytest-xdist), each module whole on one of them, in the
# order tests/conftest.py gives (longest first).
TEST_WORKERS ?= 2
test: install lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests $(PYTEST_ARGS)

# ruff (lint rules, formatting) and mypy (types), configured in pyproject.toml; a new violation fails `make test`.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The unit tests alone, for the edit-run loop (under 2 minutes; the import checks, which start
# fresh interpreters, stay in `make test`); `make test` stays the full suite.
FAST_TESTS := test_image_folder test_stage_keys test_task_zygote test_registry test_knn test_linear_probe test_schema \
	test_image_decoding test_uri_io test_progress
test-fast: install lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(FAST_TESTS:%=tests/%.py) $(PYTEST_ARGS)

clean:
	rm -rf runs .pytest_cache

# The two images (Dockerfile): the pipeline image, which every Vertex AI step and Dataflow worker
# runs, and the TPU trainer image (its tpu target), both built and pushed to Artifact Registry.
# IMAGE and TPU_IMAGE default to infra/'s outputs; authenticate once with
# `gcloud auth configure-docker <region>-docker.pkg.dev`.
IMAGE ?= $(shell terraform -chdir=infra output -raw image 2>/dev/null)
TPU_IMAGE ?= $(shell terraform -chdir=infra output -raw tpu_image 2>/dev/null)
image:
	@test -n "$(IMAGE)" || { echo "error: set IMAGE=<region>-docker.pkg.dev/<project>/simclr/simclr-tfx:<tag> (or apply infra/ first)" >&2; exit 1; }
	@test -n "$(TPU_IMAGE)" || { echo "error: set TPU_IMAGE=<region>-docker.pkg.dev/<project>/simclr/simclr-tfx-tpu:<tag> (or apply infra/ first)" >&2; exit 1; }
	docker build --target pipeline --build-arg GIT_REVISION=$$(git rev-parse HEAD) -t $(IMAGE) .
	docker build --target tpu --build-arg GIT_REVISION=$$(git rev-parse HEAD) -t $(TPU_IMAGE) .
	docker push $(IMAGE)
	docker push $(TPU_IMAGE)
