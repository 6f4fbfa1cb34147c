#!/bin/bash
# The Dockerfile and compose.yaml, built and run for real with podman (no Docker engine or
# registry here): base images are made locally (Debian by debootstrap, Python 3.11 and a
# PostgreSQL stand-in from Debian's packages), the project's files are used unchanged.
#   usage (root, from the project root): .ci/container/check.sh
set -euo pipefail
ROOT=$(pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
P=slaci
export DEBIAN_FRONTEND=noninteractive
t() { local s=$SECONDS; "$@"; echo "== $((SECONDS-s)) s: ${*:1:5}"; }
cleanup() {
  (cd "$ROOT" && podman-compose -p $P down -v >/dev/null 2>&1) || true
  podman network rm -f ${P}_default >/dev/null 2>&1 || true
  rm -rf "$W" "$ROOT/.env.container"
}
trap cleanup EXIT

# 1. Tools, and podman settings this machine needs (runc; rlimits within this shell's).
if ! command -v podman-compose >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -q >/dev/null
  apt-get install -y -q podman buildah debootstrap runc podman-compose >/dev/null
fi
cat > /etc/containers/containers.conf <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

# 2. Base images, made once per machine.
if ! podman image exists localhost/debian:bookworm; then
  MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  t debootstrap --variant=minbase bookworm "$W/rootfs" "$MIRROR" >"$W/debootstrap.log"
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
    "$MIRROR" "$MIRROR" "$MIRROR" > "$W/rootfs/etc/apt/sources.list"
  mkdir -p "$W/rootfs/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$W/rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  tar --numeric-owner -C "$W/rootfs" -c . | podman import --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' - localhost/debian:bookworm >/dev/null
  rm -rf "$W/rootfs"
fi
podman image exists localhost/pybase:bookworm || t podman build -q -t localhost/pybase:bookworm "$HERE/pybase"
DB_IMAGE=$(awk '/image: postgres:/{print $2; exit}' compose.yaml)
if ! podman image exists "docker.io/library/$DB_IMAGE"; then
  t podman build -q -t localhost/pg15:bookworm "$HERE/pg"
  podman tag localhost/pg15:bookworm "docker.io/library/$DB_IMAGE"
fi

# 3. The image: built from the Dockerfile, run as a user would (see probe.py).
t podman build --format docker --build-arg PYTHON_IMAGE=localhost/pybase:bookworm \
  -t localhost/sla-bot:ci "$ROOT" >"$W/build.log" 2>&1 || { tail -30 "$W/build.log"; exit 1; }
echo "image: built localhost/sla-bot:ci"
podman run --rm localhost/sla-bot:ci --version
podman run --rm localhost/sla-bot:ci --help | sed -n 1,3p  # sed reads it all: no SIGPIPE
.venv/bin/python "$HERE/probe.py" localhost/sla-bot:ci 2>"$W/probe.err" || { cat "$W/probe.err"; exit 1; }

# 4. compose.yaml: PostgreSQL and two replicas, started together (podman-compose ignores
#    `service_healthy`: the replicas must wait for the database by themselves).
SECRET=compose-$RANDOM-secret
printf 'GITHUB_WEBHOOK_SECRET=%s\nSLA_SWEEP_INTERVAL=5\n' "$SECRET" > .env.container
sed 's/env_file: .env$/env_file: .env.container/; s/image: sla-bot:local/image: localhost\/sla-bot:ci/' \
  compose.yaml > "$W/compose.yaml"
cp "$W/compose.yaml" "$ROOT/.compose.ci.yaml"
trap 'cleanup; rm -f "$ROOT/.compose.ci.yaml"' EXIT
t podman-compose -p $P -f .compose.ci.yaml up -d >"$W/up.log" 2>&1 || { cat "$W/up.log"; exit 1; }
.venv/bin/python "$HERE/compose_probe.py" "$SECRET" $P .compose.ci.yaml
echo "container: all checks passed"
