# syntax=docker/dockerfile:1
# One image for both servers, with the `sessiongate` entry point:
#   docker run IMAGE xds-server --help
#   docker run IMAGE bff --config /etc/sessiongate/bff.yaml
# Built from the npm package this repository packs (the same tarball `npm pack`
# makes), installed without devDependencies, on a distroless Node.js base as a
# non-root user.

# 1. Build: install the toolchain (devDependencies) and pack the package.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /pkg

# 2. Install the tarball with its runtime dependencies only.
FROM node:20-bookworm-slim AS install
WORKDIR /app
COPY --from=build /pkg/ /pkg/
RUN npm init -y >/dev/null \
 && npm install --omit=dev --no-audit --no-fund /pkg/sessiongate-*.tgz \
 && rm -rf /pkg ~/.npm

# 3. Run: no shell, no package manager; uid 65532.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
COPY --from=install /app /app
ENV NODE_ENV=production
USER 65532:65532
# xds-server: 18000 ADS, 18001 registration API, 18002 HTTP (wasm, /metrics, /healthz)
# bff: 8080 public, 8081 internal (token endpoint, /metrics, /healthz, /readyz)
EXPOSE 18000 18001 18002 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "/app/node_modules/sessiongate/bin/sessiongate.js"]
CMD ["--help"]
