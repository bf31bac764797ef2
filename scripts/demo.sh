#!/usr/bin/env bash
# The main job on one machine: builds the agent, runs it with its embedded defaults, and runs a
# local Prometheus (127.0.0.1:9090) that scrapes the agent's /metrics. Ctrl-C stops both.
# Until remote write lands (issue #3), Prometheus reads the agent by scraping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SKIP_ARM64=1 npm run --silent build

demo=.demo
mkdir -p "$demo/data" "$demo/prometheus"
cat > "$demo/prometheus.yml" <<YAML
global: { scrape_interval: 5s }
scrape_configs:
  - job_name: edge-agent
    static_configs: [ { targets: ["127.0.0.1:9464"] } ]
YAML

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

prometheus --config.file="$demo/prometheus.yml" --storage.tsdb.path="$demo/prometheus" \
  --web.listen-address=127.0.0.1:9090 --web.enable-remote-write-receiver \
  --enable-feature=native-histograms --log.level=warn &
pids+=($!)
dist/agent run --data-dir "$demo/data" &
pids+=($!)

cat <<TXT

edge-agent demo running:
  agent      OTLP http://127.0.0.1:4318/v1/metrics, StatsD udp 127.0.0.1:8125, admin http://127.0.0.1:9464
  prometheus http://127.0.0.1:9090 (scrapes the agent every 5 s)

try:
  echo "game.kills:1|c|#shard_id:7,queue:ranked" > /dev/udp/127.0.0.1/8125
  curl -s 127.0.0.1:9464/metrics | grep game_kills
  dist/agent status
  curl -s '127.0.0.1:9090/api/v1/query?query=game_kills_total'
Ctrl-C stops everything.
TXT
wait
