# syntax=docker/dockerfile:1
# binbridge: the bridge (default command) and, from the same image, the firmware simulator
# (`node dist/firmware-sim/main.js`). See docker-compose.yml.

# --- build: compile TypeScript and the native better-sqlite3 module ---------------------------
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# dependencies first, so that a source change does not reinstall them
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime ----------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    BINBRIDGE_DATA_DIR=/data
WORKDIR /app
# application files stay owned by root (read-only for the service); only /data is writable
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/config ./config
# the live page (plain ES modules, no build step; found as web/ above dist/src at run time)
COPY --from=build /src/web ./web
# a named volume mounted here starts with this ownership, so the non-root user can write to it
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
# 1883: MQTT (TCP); 3000: HTTP (API, live page, /metrics, MQTT over WebSocket at /mqtt)
EXPOSE 1883 3000
# no curl in the slim image: Node's own fetch
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.BINBRIDGE_HTTP_PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/cli.js", "start"]
