#!/usr/bin/env bash
# The main job on one machine: builds the agent, runs a local Prometheus 2.42 (127.0.0.1:9090,
# remote-write receiver + native histograms) and the agent with its embedded defaults,
# remote-writing into it through its durable queue. Ctrl-C stops both.
# (The hub, issue #4, will sit between the two.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SKIP_ARM64=1 npm run --silent build

demo=.demo
mkdir -p "$demo/data" "$demo/prometheus"
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
dist/agent run --data-dir "$demo/data" --remote-write-url http://127.0.0.1:9090/api/v1/write &
pids+=($!)

cat <<TXT

edge-agent demo running:
  agent      OTLP http://127.0.0.1:4318/v1/metrics, StatsD udp 127.0.0.1:8125, admin http://127.0.0.1:9464
  prometheus http://127.0.0.1:9090 (the agent remote-writes every 10 s; native histograms on)

try:
  echo "game.kills:1|c|#shard_id:7,queue:ranked" > /dev/udp/127.0.0.1/8125
  curl -s 127.0.0.1:9464/metrics | grep game_kills
  dist/agent status
  curl -s '127.0.0.1:9090/api/v1/query?query=game_kills_total'
Ctrl-C stops everything.
TXT
wait
