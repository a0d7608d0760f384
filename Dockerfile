# One image for every component: `perseus controller`, `perseus agent` and the CLI (`perseus plan`, ...).
# The TypeScript sources run through tsx (bin/perseus.js), so the image carries src/ and the production
# dependencies plus tsx, and no compiler, test tools or kubectl/helm binaries.
# Build: docker build -t ghcr.io/perseus-energy/perseus-operator:0.1.0 .

# Pinned to an exact Node.js release; replace by a digest (node:22.12.0-bookworm-slim@sha256:...) where
# the registry's digest is known to the build.
FROM node:22.12.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies (koffi brings its prebuilt native module), then tsx at the locked version: it is
# a development dependency of the package but the runtime loader of the image.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm install --no-save --omit=dev --no-audit --no-fund \
      "tsx@$(node -p "require('./package-lock.json').packages['node_modules/tsx'].version")" \
 && npm cache clean --force

FROM node:22.12.0-bookworm-slim
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# Measured profiles (with their license notice) for `perseus plan` and simulated GPUs.
COPY data/perseus-profiles ./data/perseus-profiles
# Non-root by default (the controller and the CLI); the agent's DaemonSet runs it as root with
# CAP_SYS_ADMIN, which NVML requires to lock clocks (docs/adr/0002-agent-privileges.md).
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/perseus.js"]
CMD ["--help"]
