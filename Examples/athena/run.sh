#!/usr/bin/env bash
# Stored objects queried in place with `aws athena`: a CSV table and a partitioned, gzipped
# JSON-lines access log. Needs AWS_ENDPOINT_URL (ecsd's endpoint) and credentials in the environment.
set -euo pipefail
cd "$(dirname "$0")"
: "${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL to the endpoint of ecsd, e.g. http://127.0.0.1:8340}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
results="s3://example-results/athena/"

aws s3 mb s3://example-data >/dev/null 2>&1 || true
aws s3 mb s3://example-results >/dev/null 2>&1 || true
aws s3 cp orders.csv s3://example-data/orders/orders.csv >/dev/null
for file in access-logs/year=*/month=*/*.json; do
  gzip -c "$file" | aws s3 cp - "s3://example-data/${file}.gz" >/dev/null
done

# Starts a query, waits for it, prints its rows (tab-separated) or why it failed.
athena() {
  local id state
  id=$(aws athena start-query-execution --query-string "$1" --work-group primary \
    --result-configuration "OutputLocation=$results" --query QueryExecutionId --output text)
  while true; do
    state=$(aws athena get-query-execution --query-execution-id "$id" --query QueryExecution.Status.State --output text)
    case "$state" in SUCCEEDED|FAILED|CANCELLED) break ;; esac
    sleep 0.2
  done
  if [ "$state" != SUCCEEDED ]; then
    aws athena get-query-execution --query-execution-id "$id" --query QueryExecution.Status.StateChangeReason --output text >&2
    return 1
  fi
  # A NULL is a Datum without VarCharValue; the first row holds the column labels.
  aws athena get-query-results --query-execution-id "$id" --output json | python3 -c '
import json, sys
for row in json.load(sys.stdin)["ResultSet"]["Rows"]:
    print("\t".join(datum.get("VarCharValue", "NULL") for datum in row["Data"]))'

}

# One statement per file, in order: the database, the two tables, the log's partitions.
for file in tables/*.sql; do
  athena "$(cat "$file")" >/dev/null
done

echo "== revenue by customer"
athena "SELECT customer, count(*) AS orders, sum(amount) AS revenue, max(ordered_at) AS last_order
        FROM shop.orders GROUP BY customer ORDER BY revenue DESC NULLS LAST"
echo "== errors and slow requests by month (reads only the partitions it needs)"
athena "SELECT month, count(*) AS requests, count_if(status >= 500) AS errors, max(latency_ms) AS slowest_ms
        FROM shop.access_logs WHERE year = '2024' GROUP BY month ORDER BY month"
echo "== the same catalog through Glue"
aws glue get-tables --database-name shop --query 'TableList[].[Name,StorageDescriptor.Location]' --output text
aws glue get-partitions --database-name shop --table-name access_logs --expression "year = '2024' AND month >= '02'" \
  --query 'Partitions[].Values' --output text
echo "== the cluster's own records: CloudWatch Logs' groups by events (functions' REPORT lines are in stevedore.invocations)"
athena "SELECT log_group, count(*) AS events, max(event_time) AS last_event
        FROM stevedore.log_events GROUP BY log_group ORDER BY events DESC LIMIT 5"
