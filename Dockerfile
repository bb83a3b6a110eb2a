# handoff — one image for the hub and the agent (`handoff hub` / `handoff agent`).
# Build stage: native addons (node-pty) compile here, with the toolchain the runtime never sees.
FROM node:22-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

# Runtime stage: node, bash (the steps' shell), bubblewrap (the steps' sandbox, where the container
# allows user namespaces), tini, no compilers; runs as an unprivileged user.
FROM node:22-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends bash bubblewrap tini procps ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 handoff && mkdir -p /data && chown handoff /data
WORKDIR /app
COPY --from=build --chown=handoff /app /app
USER handoff
ENV NODE_ENV=production HANDOFF_HOST=0.0.0.0 HANDOFF_PORT=8080 HANDOFF_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/handoff.js"]
CMD ["hub"]
