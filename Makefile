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
SCAN_VENV   ?= .venv-scan
SCAN        := $(SCAN_VENV)/bin

.PHONY: install run test test-fast lint scan data clean image

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

# The IaC and Dockerfile scanners (checkov, hadolint) in an environment of their own: checkov's
# dependencies conflict with the pipeline's lock.
$(SCAN)/checkov: infra/scanners.lock
	@test -n "$(PYTHON310)" || { echo "error: Python 3.10 not found; install it (e.g. 'pyenv install 3.10') and retry" >&2; exit 1; }
	uv venv --quiet --allow-existing --python "$(PYTHON310)" $(SCAN_VENV)
	VIRTUAL_ENV=$(SCAN_VENV) uv pip sync --quiet infra/scanners.lock
	@touch $@

install: $(BIN)/simclr-tfx $(SCAN)/checkov

# Resolves the dataset: --data if present, else the shared copy, else a clone.
data:
	@if [ -d "$(DATA)" ]; then :; \
	elif [ -d "$(SHARED_DATA)" ]; then echo "using $(SHARED_DATA)"; \
	else git clone --depth 1 $(DATA_REPO) "$(DATA)"; fi

run: install data
	@data="$(DATA)"; [ -d "$$data" ] || data="$(SHARED_DATA)"; \
	$(BIN)/simclr-tfx run --config $(CONFIG) --data "$$data" --output $(OUTPUT) --registry $(REGISTRY)

# Test modules run on TEST_WORKERS processes (pytest-xdist), each module whole on one of them, the longest
# first (their `slow(minutes=...)` marker, tests/conftest.py). Three on two cores: much of the suite waits
# on subprocesses and servers, and the third worker fills those gaps (CPU 187 % against 175 % with two).
TEST_WORKERS ?= 3
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: install lint
	$(PYTEST) tests $(PYTEST_ARGS)

# ruff (lint rules, formatting) and mypy (types), configured in pyproject.toml, then the scanners;
# a new violation fails `make test`.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(MAKE) --no-print-directory scan

# checkov on infra/ and the Dockerfile (findings are fixed or skipped in place with their reason;
# --skip-download: no Prisma Cloud account, nothing fetched), hadolint on the Dockerfile.
scan: $(SCAN)/checkov
	$(SCAN)/checkov --quiet --compact --skip-download -d infra --framework terraform
	$(SCAN)/checkov --quiet --compact --skip-download -f Dockerfile --framework dockerfile
	$(SCAN)/hadolint Dockerfile

# The edit-run loop: lint and every test not marked `slow` (no pipeline, training, rehearsal or fresh
# interpreter), in about a minute and a half; `make test` stays the full suite.
test-fast: install lint
	$(PYTEST) -m "not slow" tests $(PYTEST_ARGS)

clean:
	rm -rf runs .pytest_cache

# The two images (Dockerfile): the pipeline image, which every Vertex AI step and Dataflow worker
# runs, and the TPU trainer image (its tpu target), built for linux/amd64 (what Vertex AI and
# Dataflow run, whatever this machine is), tagged with the commit and pushed to Artifact Registry.
# Their digests go to IMAGE_RECORD, which `compile` pins vertex.image and vertex.trainer.image by.
# IMAGE and TPU_IMAGE default to infra/'s outputs (repositories, no tag); authenticate once with
# `gcloud auth configure-docker <region>-docker.pkg.dev`.
IMAGE ?= $(shell terraform -chdir=infra output -raw image 2>/dev/null)
TPU_IMAGE ?= $(shell terraform -chdir=infra output -raw tpu_image 2>/dev/null)
IMAGE_RECORD ?= infra/images.json
TAG ?= $(shell git rev-parse --short=12 HEAD)
PLATFORM := linux/amd64
image: install
	@test -n "$(IMAGE)" || { echo "error: set IMAGE=<region>-docker.pkg.dev/<project>/simclr/simclr-tfx (or apply infra/ first)" >&2; exit 1; }
	@test -n "$(TPU_IMAGE)" || { echo "error: set TPU_IMAGE=<region>-docker.pkg.dev/<project>/simclr/simclr-tfx-tpu (or apply infra/ first)" >&2; exit 1; }
	$(BIN)/python -m trainer.tpu_runtime check Dockerfile requirements.lock
	docker build --platform $(PLATFORM) --target pipeline --build-arg GIT_REVISION=$$(git rev-parse HEAD) -t $(IMAGE):$(TAG) .
	docker build --platform $(PLATFORM) --target tpu --build-arg GIT_REVISION=$$(git rev-parse HEAD) -t $(TPU_IMAGE):$(TAG) .
	docker push $(IMAGE):$(TAG)
	docker push $(TPU_IMAGE):$(TAG)
	$(BIN)/python -m pipeline.images record $(IMAGE_RECORD) $(IMAGE) $$(docker inspect --format '{{join .RepoDigests " "}}' $(IMAGE):$(TAG))
	$(BIN)/python -m pipeline.images record $(IMAGE_RECORD) $(TPU_IMAGE) $$(docker inspect --format '{{join .RepoDigests " "}}' $(TPU_IMAGE):$(TAG))
