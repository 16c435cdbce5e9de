# The MMO gateway (docs/operations.md#docker-and-compose).
#
#   docker build -t mmo-gateway .
#   docker run --rm -p 8081:8081 -p 9090:9090 -e GATEWAY_LOG_LEVEL=debug mmo-gateway
#   docker run --rm mmo-gateway --check-config
#
# Config: config/gateway.json (every field at its default), overridden per container by
# GATEWAY_<SECTION>_<FIELD> variables. Arguments after the image name go to the gateway.
FROM node:22-bookworm-slim

# Deno from npm, the version CI uses (.ci/run).
ARG DENO_VERSION=2.9.6
RUN npm install -g "deno@${DENO_VERSION}" && deno --version

# Everything below runs, and is owned, as the image's unprivileged user.
WORKDIR /app
RUN chown node:node /app
USER node
ENV DENO_DIR=/home/node/.cache/deno DENO_NO_UPDATE_CHECK=1

# Dependencies first, pinned by deno.lock (--frozen: a stale lock fails the build), so this
# layer is rebuilt only when they change.
COPY --chown=node:node deno.json deno.lock package.json ./
RUN deno install --frozen
COPY --chown=node:node main.ts mod.ts ./
COPY --chown=node:node src ./src
COPY --chown=node:node config ./config
RUN deno install --frozen --entrypoint main.ts

# WebSocket, QUIC (when quic.enabled), metrics and probes.
EXPOSE 8081/tcp 8082/udp 9090/tcp

# /livez answers while the process runs and its event loop turns; node is in the base image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.GATEWAY_METRICS_PORT || 9090}/livez`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM drains sessions for shutdown.grace_sec (default 10 s; Docker waits 10 s by default,
# so give `docker stop -t` or compose's stop_grace_period a few seconds more).
STOPSIGNAL SIGTERM

# The `gateway` task of deno.json, word for word (tests/ops/deploy_test.ts checks it).
ENTRYPOINT ["deno", "run", "-q", "-P=gateway", "--v8-flags=--max-semi-space-size=4", "main.ts"]
CMD []
