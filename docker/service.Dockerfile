# The service image: one image, four roles (`lipsync serve proxy|jobs|inference|webhooks`).
# Build from the repository root:  docker build -f docker/service.Dockerfile -t lipsync .

# Stage 1: the wheel. It carries the exported mouth model (triton_models/, as package data), so
# the installed service needs no source tree.
FROM python:3.11-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos protos
COPY proxy proxy
COPY services services
COPY triton_models/mouth_shapes triton_models/mouth_shapes
COPY triton_models/wav2lip/1/model.py triton_models/wav2lip/1/model.py
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: a plain (non-editable) install of that wheel. The face models are taken from their
# wheel (`lipsync fetch-models`) into the installed package. torch is not needed: it only trains.
FROM python:3.11-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/lipsync/bin:$PATH \
    LIPSYNC_DATA_DIR=/data
COPY --from=wheel /wheels /wheels
RUN python -m venv /opt/lipsync \
    && /opt/lipsync/bin/pip install --no-cache-dir /wheels/lipsync-*.whl \
    && /opt/lipsync/bin/lipsync fetch-models \
    && rm -rf /wheels \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin lipsync \
    && mkdir -p /data \
    && chown 10001:10001 /data
WORKDIR /data
USER 10001:10001
EXPOSE 8080 50051 50052
ENTRYPOINT ["lipsync"]
CMD ["serve", "proxy"]
