#!/bin/bash
# Runs once, inside the influxdb:2.x container, after DOCKER_INFLUXDB_INIT_MODE=setup has created the org,
# bucket and admin token (the image runs executable *.sh files in /docker-entrypoint-initdb.d/ then, with the
# influx CLI already configured and DOCKER_INFLUXDB_INIT_BUCKET_ID / _ORG exported).
#
# binbridge's Grafana dashboards use InfluxQL so that they run on InfluxDB 1.x, 2.x and 3.x. On 2.x an InfluxQL
# query names a database and retention policy, which a DBRP mapping ties to a bucket: this creates
# "<INFLUX_V1_DB>/autogen" -> the initial bucket, as the default retention policy of that database.
set -euo pipefail

db="${INFLUX_V1_DB:-binbridge}"
rp="autogen"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:?the influxdb image exports it after setup}"
org="${DOCKER_INFLUXDB_INIT_ORG:?set by docker-compose.yml}"

if influx v1 dbrp list --org "$org" --db "$db" --hide-headers 2>/dev/null | grep -q .; then
  echo "init-dbrp: a DBRP mapping for database '$db' already exists"
  exit 0
fi

influx v1 dbrp create \
  --org "$org" \
  --db "$db" \
  --rp "$rp" \
  --bucket-id "$bucket_id" \
  --default
echo "init-dbrp: InfluxQL database '$db' (retention policy '$rp') now reads bucket '${DOCKER_INFLUXDB_INIT_BUCKET:-}' ($bucket_id)"
