# krill as a container image: `podman build -t krill .` (or docker build), then
#   podman run --rm krill tags registry.example.com/apps/web
# NODE_IMAGE defaults to the official Node 20 slim image; tests pass a local one (no pulls there).
ARG NODE_IMAGE=docker.io/library/node:20-slim

FROM ${NODE_IMAGE} AS build
# For build networks that intercept TLS: --build-arg npm_config_cafile=/path/in/the/image/ca.pem
ARG npm_config_cafile
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
COPY scripts/bundle-cli.mjs ./scripts/
# Build, then keep only the runtime dependencies; `krill` on PATH is a link to the shim.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && ln -s krill.js bin/krill \
 && mkdir -p /home/krill/.docker /home/krill/.cache /home/krill/.local/state

FROM ${NODE_IMAGE}
ARG VERSION=0.2.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="krill" \
      org.opencontainers.image.description="List, inspect, clean up and copy images in Docker Registry v2 / OCI registries" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/krill-registry/krill" \
      org.opencontainers.image.licenses="MIT"
# A non-root user with writable home, docker config, cache and state (journals) directories.
ENV NODE_ENV=production \
    HOME=/home/krill \
    DOCKER_CONFIG=/home/krill/.docker \
    XDG_CACHE_HOME=/home/krill/.cache \
    XDG_STATE_HOME=/home/krill/.local/state \
    PATH=/opt/krill/bin:/usr/local/bin:/usr/bin:/bin
COPY --from=build /src/package.json /opt/krill/package.json
COPY --from=build /src/bin /opt/krill/bin
COPY --from=build /src/dist /opt/krill/dist
COPY --from=build /src/node_modules /opt/krill/node_modules
COPY --from=build --chown=10001:10001 /home/krill /home/krill
USER 10001:10001
WORKDIR /home/krill
ENTRYPOINT ["krill"]
CMD ["--help"]
