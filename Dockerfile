# Two images from one file, both installed from the same lock file as local installs:
#
#   pipeline (default target): every Vertex AI Pipelines step, and the Dataflow workers of the
#       Beam steps (--sdk_container_image). TFX 1.16.0 plus this project, from the runtime lock
#       (requirements-runtime.lock: requirements.lock without the test and lint tools).
#   tpu: the Trainer's custom job on a TPU VM (v5e, v3): the pipeline image with the TPU-VM build
#       of TensorFlow and its libtpu. TFX replaces the container's command with its own
#       run_executor, so this image needs TFX and the project too, which it inherits.
#
# `make image` builds both for linux/amd64 and records their digests (pipeline/images.py).
# tests/test_infra.py checks every pin below against the locks and trainer/tpu_runtime.py.
#checkov:skip=CKV_DOCKER_2:no HEALTHCHECK: Vertex AI steps and Dataflow workers are batch processes that their services supervise
#checkov:skip=CKV_DOCKER_3:runs as root: Dataflow mounts its worker folders owned by root (see USER below)

# Dataflow starts a worker with the image's ENTRYPOINT, which must be Beam's boot program of the
# same Beam version as the SDK installed below (requirements.lock).
ARG BEAM_VERSION=2.60.0
ARG UV_VERSION=0.13.9
FROM apache/beam_python3.10_sdk:${BEAM_VERSION} AS beam

FROM gcr.io/tfx-oss-public/tfx:1.16.0 AS pipeline

# Same process settings as trainer/runtime.py: tf-keras, and oneDNN CPU kernels on.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_ENABLE_ONEDNN_OPTS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /pipeline
COPY requirements-runtime.lock pyproject.toml README.md ./
ARG UV_VERSION
RUN python -m pip install --quiet "uv==${UV_VERSION}" \
 && uv pip install --system --quiet -r requirements-runtime.lock
COPY --from=beam /opt/apache/beam /opt/apache/beam
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
COPY shared/ shared/
RUN uv pip install --system --quiet --no-deps .

# Recorded in every registry version's metadata (components/registry/pusher.py).
ARG GIT_REVISION=unknown
ENV SIMCLR_GIT_REVISION=$GIT_REVISION

# The user stays root. Dataflow mounts its worker folders (under /var/opt/google) owned by root
# and expects the SDK container to read and write them; Beam's own SDK images run as root too.
# Vertex AI runs steps as the image's user and has no such need, so one user serves both.
# Vertex AI replaces this ENTRYPOINT with each step's command; Dataflow runs it.
ENTRYPOINT ["/opt/apache/beam/boot"]


FROM pipeline AS tpu

# The TPU-VM build of TensorFlow and the libtpu that Cloud TPU pairs with it, from
# trainer/tpu_runtime.py (cited there): TensorFlow 2.16's TPU build is 2.16.1, with libtpu 1.10.1.
# Vertex AI needs libtpu.so in /lib. The PJRT variables are not set here: the training job sets
# them on the TPU generations that run PJRT (v5e), not on v3 (pipeline/pipeline.py).
ARG TENSORFLOW_VERSION=2.16.1
ARG LIBTPU_VERSION=1.10.1
RUN uv pip install --system --quiet --no-deps --reinstall \
      "https://storage.googleapis.com/cloud-tpu-tpuvm-artifacts/tensorflow/tf-${TENSORFLOW_VERSION}/tensorflow-${TENSORFLOW_VERSION}-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" \
 && python -c "import urllib.request; urllib.request.urlretrieve('https://storage.googleapis.com/cloud-tpu-tpuvm-artifacts/libtpu/${LIBTPU_VERSION}/libtpu.so', '/lib/libtpu.so')"
# The chips attached to this VM, should trainer/distribute.py find no /dev/accel* or /dev/vfio device.
ENV TPU_NAME=local
