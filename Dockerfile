# The image every Vertex AI Pipelines step runs: TFX 1.16.0 plus this project,
# installed from the same lock file as local installs.
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# Same process settings as trainer/runtime.py: tf-keras, and oneDNN CPU kernels on.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_ENABLE_ONEDNN_OPTS=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1

# Recorded in every registry version's metadata (components/registry_pusher.py).
ARG GIT_REVISION=unknown
ENV SIMCLR_GIT_REVISION=$GIT_REVISION

WORKDIR /pipeline
COPY requirements.lock pyproject.toml README.md ./
RUN python -m pip install --quiet uv \
 && uv pip install --system --quiet -r requirements.lock
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
RUN uv pip install --system --quiet --no-deps . \
 && useradd --create-home --uid 1000 simclr
USER simclr
