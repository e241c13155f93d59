# pneumo serve in a container: Debian 12, the same scripts/install-deps.sh as a workstation or CI,
# a Release build, `cmake --install` (binary in /usr/local/bin, the shipped model and the viewer in
# /usr/local/share/pneumo), and `pneumo serve` on 0.0.0.0:8080 as an unprivileged user.
#
#   docker build -t pneumo .
#   docker run --rm -p 8080:8080 pneumo                      # the shipped model
#   docker run --rm -p 8080:8080 -v $PWD/run:/models pneumo --model /models/model.pneumo
#   curl -s --data-binary @x.dcm -H 'Content-Type: application/dicom' localhost:8080/v1/predict
#
# Stateless: no volume is needed; run N replicas behind any load balancer (deploy/k8s.yaml).
# SIGTERM (docker stop, a rolling update) stops accepting and answers the accepted requests first.
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
RUN cmake -S . -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPNEUMO_WITH_TORCH=ON \
          -DPNEUMO_BUILD_TESTS=OFF -DPNEUMO_BUILD_BENCH=OFF \
 && cmake --build /tmp/build -j "$(nproc)" --target pneumo \
 && cmake --install /tmp/build --prefix /usr/local \
 && rm -rf /tmp/build /src

RUN useradd --system --no-create-home --shell /usr/sbin/nologin pneumo
USER pneumo
EXPOSE 8080
# Liveness: the process answers; readiness (/ready) is for load balancers and Kubernetes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["pneumo", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD []
