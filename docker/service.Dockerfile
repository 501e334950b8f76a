# The service image: one image, three roles (`lipsync serve proxy|jobs|inference`).
# Build from the repository root:  docker build -f docker/service.Dockerfile -t lipsync .
FROM python:3.11-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/lipsync/bin:$PATH \
    LIPSYNC_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos protos
COPY proxy proxy
COPY services services
COPY triton_models/mouth_shapes triton_models/mouth_shapes
# Installed in place so the exported model (triton_models/) and the face models fetched from
# their wheel (services/engine/assets/) sit where the engine looks for them. torch is not needed:
# it only trains.
RUN python -m venv /opt/lipsync \
    && /opt/lipsync/bin/pip install --no-cache-dir -e . \
    && /opt/lipsync/bin/python -m services.engine.assets \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin lipsync \
    && mkdir -p /data \
    && chown 10001:10001 /data
USER 10001:10001
EXPOSE 8080 50051 50052
ENTRYPOINT ["lipsync"]
CMD ["serve", "proxy"]
