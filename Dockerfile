# syntax=docker/dockerfile:1
#
# rectify: one image, two processes, chosen by command:
#   worker (default):  node --import tsx src/worker/main.ts
#   trigger server:    node --import tsx src/triggers/main.ts   (listens on $PORT, default 3000; set HOST=0.0.0.0)
#
# Node.js 24 (LTS; the same version CI tests with, scripts/node-lts.mjs).
# Debian bookworm (glibc) on purpose: the Temporal TypeScript worker loads a native
# core-bridge that ships glibc builds only, so alpine/musl images do not work.
# No secrets are baked in: WEBHOOK_TOKEN and AWS credentials come from the runtime environment.

# ---- dependencies ---------------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Exactly what package-lock.json pins. Dev dependencies are kept on purpose: the
# TypeScript sources run through tsx, which is a devDependency (there is no build step).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund

# ---- runtime --------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS runtime
# slim images lack the system CA bundle; Node has its own, but the native Temporal
# core-bridge may use the system trust store for TLS (e.g. Temporal Cloud).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app

# Code and dependencies stay owned by root, so the unprivileged process cannot modify them.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src

# The official node image ships this unprivileged user (uid 1000).
USER node

# The trigger server's default PORT (src/config.ts); the worker listens on nothing.
EXPOSE 3000

# `node --import tsx` rather than the tsx CLI: one process, so SIGTERM from
# `docker stop` reaches the worker directly and it can shut down gracefully.
CMD ["node", "--import", "tsx", "src/worker/main.ts"]
