# mlpipeline-operator: one image for every role. Its entry point is the
# `mlpipeline` command; the subcommand picks what the container is
# (standalone, controller, ui, stage <name>, run, validate). By default it runs
# single-container mode on the pipelines in /app/pipelines, with embedded
# storage in /var/lib/mlpipeline unless MYSQL_* and S3_* are set.
#
# It runs as the user "node" of the Node image, uid 1000 and gid 1000.
#
#   docker build -t mlpipeline-operator .
#   docker run --rm -p 127.0.0.1:8080:8080 mlpipeline-operator

ARG NODE_IMAGE=docker.io/library/node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src

# better-sqlite3 compiles from source when no prebuilt binary can be fetched
# for this Node; the toolchain stays in this stage. The headers are the ones
# the Node image ships, so node-gyp downloads nothing.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .
RUN npm run build

# Production dependencies only, without what only compilers and debuggers
# read (type declarations, source maps: about 50 MB), and of the native module
# only the binary itself: its SQLite sources and object files are not needed to
# run.
RUN npm prune --omit=dev --no-audit --no-fund \
  && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
    -o -name '*.map' \) -delete \
  && cd node_modules/better-sqlite3 \
  && mv build/Release/better_sqlite3.node . \
  && rm -rf build deps src \
  && mkdir -p build/Release \
  && mv better_sqlite3.node build/Release/

# A sample Iris model, trained now, so the predict API and page answer before
# the first scheduled run.
RUN mkdir -p pipelines && cp examples/iris.yaml pipelines/ \
  && MLPIPELINE_DATA_DIR=/var/lib/mlpipeline LOG_LEVEL=warn \
    node bin/mlpipeline.js run -f pipelines/iris.yaml --run-id iris-image-build

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="mlpipeline-operator" \
  org.opencontainers.image.description="Scheduled machine-learning pipelines on Kubernetes or in one container" \
  org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=8080 \
  MLPIPELINE_DATA_DIR=/var/lib/mlpipeline
WORKDIR /app

# The application belongs to root and is read-only to the user that runs it;
# only the data folder is the user's.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/crds ./crds
COPY --from=build /src/examples ./examples
COPY --from=build /src/pipelines ./pipelines
COPY --from=build --chown=1000:1000 /var/lib/mlpipeline /var/lib/mlpipeline
RUN ln -s /app/bin/mlpipeline.js /usr/local/bin/mlpipeline

USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["mlpipeline"]
CMD ["standalone", "-f", "pipelines/"]
