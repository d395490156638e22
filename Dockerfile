# kclassify: every binary in one image (default command: the worker).
#
#   docker build -t kclassify:local .
#   docker run --rm kclassify:local --help
#   docker run --rm --entrypoint kclassify-sla kclassify:local --help
#
# Two stages on Debian 12 (bookworm): the build stage has the -dev packages
# and the compiler; the runtime stage only the shared libraries, curl (for
# health checks) and CA certificates, and runs as the unprivileged user
# `kclassify` (uid 10001). docker-compose.yml runs the whole stack from it.

FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        librdkafka-dev libcurl4-openssl-dev libavro-dev libhiredis-dev libssl-dev liblmdb-dev \
        libjansson-dev libxxhash-dev libmicrohttpd-dev check libsubunit-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Unit tests that need nothing outside the process run here (check_redis
# needs a redis-server: it runs in scripts/test.sh).
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    && cmake --build /build -j"$(nproc)" \
    && (cd /build && ctest -L unit -E check_redis --output-on-failure) \
    && DESTDIR=/out cmake --install /build

FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        librdkafka1 libcurl4 libavro23 libhiredis0.14 libssl3 liblmdb0 libjansson4 libxxhash0 \
        libmicrohttpd12 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 kclassify \
    && useradd --system --uid 10001 --gid kclassify --home-dir /var/lib/kclassify \
        --shell /usr/sbin/nologin kclassify \
    && install -d -o kclassify -g kclassify -m 0700 /var/lib/kclassify /var/lib/kclassify/lmdb
COPY --from=build /out/usr/bin/ /usr/bin/
COPY --from=build /out/usr/share/man/ /usr/share/man/
COPY --from=build /out/usr/share/kclassify/ /usr/share/kclassify/
COPY config/worker.conf config/sla.conf /etc/kclassify/
USER kclassify:kclassify
WORKDIR /var/lib/kclassify
VOLUME ["/var/lib/kclassify/lmdb"]
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9464/health >/dev/null || exit 1
ENTRYPOINT ["kclassify-worker"]
CMD ["-c", "/etc/kclassify/worker.conf"]
