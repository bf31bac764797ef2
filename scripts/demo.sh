#!/usr/bin/env bash
# The main job on one machine: builds the binary, runs a local Prometheus 2.42 (127.0.0.1:9090,
# remote-write receiver + native histograms), the hub (127.0.0.1:9201) forwarding into it, and
# the agent with its embedded defaults remote-writing to the hub through its durable queue.
#   game server → agent (:4318 OTLP, :8125 StatsD) → hub (:9201, tenant "demo") → Prometheus (:9090)
# Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SKIP_ARM64=1 npm run --silent build

demo=.demo
mkdir -p "$demo/data" "$demo/hub" "$demo/prometheus"
token="demo-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '%s' "$token" > "$demo/agent.token"
printf 'admin-%s' "$token" > "$demo/admin.token"
cat > "$demo/prometheus.yml" <<YAML
global: { scrape_interval: 15s }
YAML

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

prometheus --config.file="$demo/prometheus.yml" --storage.tsdb.path="$demo/prometheus" \
  --web.listen-address=127.0.0.1:9090 --web.enable-remote-write-receiver \
  --enable-feature=native-histograms --log.level=warn &
pids+=($!)
dist/agent hub --listen 127.0.0.1:9201 --data-dir "$demo/hub" --upstream http://127.0.0.1:9090/api/v1/write \
  --tenant "demo:$token" --admin-token-file "$demo/admin.token" &
pids+=($!)
for _ in $(seq 50); do curl -sf 127.0.0.1:9201/-/ready >/dev/null && break; sleep 0.2; done
dist/agent run --data-dir "$demo/data" --remote-write-url http://127.0.0.1:9201/api/v1/write \
  --remote-write-token-file "$demo/agent.token" &
pids+=($!)

cat <<TXT

edge-agent demo running:
  agent      OTLP http://127.0.0.1:4318/v1/metrics, StatsD udp 127.0.0.1:8125, admin http://127.0.0.1:9464
  hub        http://127.0.0.1:9201 (tenant "demo"; /metrics, /api/v1/fleet with the admin token)
  prometheus http://127.0.0.1:9090 (the agent remote-writes every 10 s via the hub; native histograms on)

try:
  echo "game.kills:1|c|#shard_id:7,queue:ranked" > /dev/udp/127.0.0.1/8125
  curl -s 127.0.0.1:9464/metrics | grep game_kills
  dist/agent status
  curl -s '127.0.0.1:9090/api/v1/query?query=game_kills_total'
  dist/agent hub fleet --admin-token-file $demo/admin.token --hub http://127.0.0.1:9201
  dist/agent hub cadence incident --selector host=$(hostname) --for 5m --admin-token-file $demo/admin.token
Ctrl-C stops everything.
TXT
wait
