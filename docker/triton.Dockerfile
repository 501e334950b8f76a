# Triton with the production model repository (native ONNX Runtime on the GPU).
# Build from the repository root:  docker build -f docker/triton.Dockerfile -t lipsync-triton .
# The production config links to the exported model; docker COPY follows the link.
FROM nvcr.io/nvidia/tritonserver:24.10-py3
COPY triton_models/production/mouth_shapes/config.pbtxt /models/mouth_shapes/config.pbtxt
COPY triton_models/mouth_shapes/1/model.onnx /models/mouth_shapes/1/model.onnx
USER 1000:1000
EXPOSE 8000 8001 8002
ENTRYPOINT ["tritonserver"]
CMD ["--model-repository=/models", "--strict-readiness=true", "--exit-on-error=true"]
