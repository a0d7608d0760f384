# One image for every component: `perseus controller`, `perseus agent` and the CLI (`perseus plan`, ...).
# The same layout as scripts/build-image.sh (`npm run image`, which builds it without a daemon): the
# compiled app (dist/) under /app, its production dependencies, the measured profiles and the bundled
# example job; Node.js at an exact LTS version; no compiler, transpiler, test tools or kubectl/helm.
# Build: docker build -t ghcr.io/perseus-energy/perseus-operator:0.1.0 .

# Pinned to an exact Node.js release; replace by a digest (node:22.12.0-bookworm-slim@sha256:...) where
# the registry's digest is known to the build.
FROM node:22.12.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && mkdir /app && cp package.json package-lock.json /app/ && cp -r dist /app/ \
 && cd /app && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && rm -f node_modules/.package-lock.json

FROM node:22.12.0-bookworm-slim
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=build /app ./
COPY bin ./bin
# Measured profiles (with their license notice) for `perseus plan` and simulated GPUs; the example job
# `perseus simulate` runs by default.
COPY data/perseus-profiles ./data/perseus-profiles
COPY examples/gpt3-8stage.yaml ./examples/
# Non-root by default (the controller and the CLI); the agent's DaemonSet runs it as root with
# CAP_SYS_ADMIN, which NVML requires to lock clocks (docs/adr/0002-agent-privileges.md).
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/perseus.js"]
CMD ["--help"]
