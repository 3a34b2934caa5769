# syntax=docker/dockerfile:1
# Lookout's image: one image, every process (`lookout worker|dispatch|watch|push-server|serve|ui|...`), chosen by
# the command. TypeScript runs through tsx (a runtime dependency), so there is no compile stage; the stages keep
# npm, the lock and the build caches out of the final image.
#
#   docker build -t lookout .                          # CPU image (onnxruntime-node's bundled CPU provider)
#   docker build -t lookout:gpu --target gpu .         # GPU image: CUDA 12 + cuDNN 9 runtime and the CUDA
#                                                      # execution provider (see "Deploying" in README.md)
#
# Models: the ONNX model repository (models/, ~32 MB) is copied in, so a worker starts without network access.
# To load them from a bucket instead, set LOOKOUT_MODEL_REPO=gs://BUCKET/models (copied to .lookout/model-cache
# at start, which is why /app/.lookout is writable by the runtime user).
# Checked in CI by hadolint (infra/lint-deploy.sh); never built on the CI machine (no container engine there).

ARG NODE_IMAGE=node:20.20-bookworm-slim

# ---- dependencies: production node_modules only (no vitest, eslint, typescript, playwright) ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# skip: onnxruntime-node's install script would fetch the CUDA provider from api.nuget.org; the CPU build is bundled.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

# ---- GPU dependencies: the same tree plus onnxruntime-node's CUDA 12 execution provider ----
FROM deps AS deps-gpu
RUN node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12

# ---- GPU runtime: CUDA 12 + cuDNN 9 (what onnxruntime-node 1.23+'s CUDA provider links against) ----
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS gpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && (userdel -r ubuntu 2>/dev/null || true) \
 && useradd --uid 1000 --create-home --shell /usr/sbin/nologin node
# The same Node build as the CPU image (Debian bookworm's glibc 2.36 <= Ubuntu 24.04's 2.39).
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production \
    LOOKOUT_HOME=/app/.lookout/stack \
    LOOKOUT_HEALTH_PORT=8081
COPY --from=deps-gpu --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root . .
RUN mkdir -p /app/.lookout && chown 1000:1000 /app/.lookout
# Numeric, so Kubernetes runAsNonRoot can verify it (uid 1000 is `node`).
USER 1000:1000
EXPOSE 8081
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/lookout"]
CMD ["worker", "--pool", "gpu"]

# ---- CPU runtime: the last stage, so `docker build .` builds it ----
FROM ${NODE_IMAGE} AS runtime
# ffmpeg decodes video (media/video.ts); tini forwards SIGTERM to node and reaps ffmpeg children, so the
# worker's drain on SIGTERM (workers/worker.ts) runs in a container too.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    LOOKOUT_HOME=/app/.lookout/stack \
    LOOKOUT_HEALTH_PORT=8081
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
# Source and models, read-only for the runtime user (.dockerignore keeps tests, benchmarks and state out).
COPY --chown=root:root . .
RUN mkdir -p /app/.lookout && chown 1000:1000 /app/.lookout
# Numeric, so Kubernetes runAsNonRoot can verify it (uid 1000 is `node`).
USER 1000:1000
EXPOSE 8081
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/lookout"]
CMD ["--help"]
