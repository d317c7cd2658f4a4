#!/usr/bin/env bash
# A blue/green deployment you drive yourself: a service with the EXTERNAL deployment controller,
# a task set per version, green brought in as a canary, scaled up, promoted, and blue removed.
# Needs AWS_ENDPOINT_URL (ecsd's endpoint), credentials in the environment, and a cluster with
# instances (CLUSTER, "demo" by default; the five-minute tour's simulated hosts will do).
set -euo pipefail
: "${AWS_ENDPOINT_URL:?set AWS_ENDPOINT_URL to the endpoint of ecsd, e.g. http://127.0.0.1:8340}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
cluster="${CLUSTER:-demo}"
service=checkout
# Every call goes to ecsd, whichever aws CLI reads AWS_ENDPOINT_URL or not.
aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

for colour in blue green; do
  aws ecs register-task-definition --family "checkout-$colour" --container-definitions \
    "[{\"name\":\"app\",\"image\":\"busybox\",\"memory\":32,\"command\":[\"sleep\",\"3600\"]}]" >/dev/null
done
aws ecs create-service --cluster "$cluster" --service-name "$service" --desired-count 2 \
  --deployment-controller type=EXTERNAL >/dev/null

# Waits until a task set runs as many tasks as it should.
settled() {
  local id=$1 wanted running
  for _ in $(seq 300); do
    read -r wanted running < <(aws ecs describe-task-sets --cluster "$cluster" --service "$service" --task-sets "$id" \
      --query 'taskSets[0].[computedDesiredCount,runningCount]' --output text) || true
    [ -n "${wanted:-}" ] && [ "$wanted" = "$running" ] && return 0
    sleep 0.2
  done
  echo "task set $id did not settle (${running:-?} of ${wanted:-?} running)" >&2
  return 1
}

blue=$(aws ecs create-task-set --cluster "$cluster" --service "$service" --task-definition checkout-blue \
  --external-id v1 --scale value=100,unit=PERCENT --query taskSet.id --output text)
aws ecs update-service-primary-task-set --cluster "$cluster" --service "$service" --primary-task-set "$blue" >/dev/null
settled "$blue"
echo "blue $blue serves"

# Green as a canary (half the desired count), then all of it.
green=$(aws ecs create-task-set --cluster "$cluster" --service "$service" --task-definition checkout-green \
  --external-id v2 --scale value=50,unit=PERCENT --query taskSet.id --output text)
settled "$green"
aws ecs update-task-set --cluster "$cluster" --service "$service" --task-set "$green" --scale value=100,unit=PERCENT >/dev/null
settled "$green"
aws ecs update-service-primary-task-set --cluster "$cluster" --service "$service" --primary-task-set "$green" >/dev/null
echo "green $green promoted"

# Blue out: scaled to 0, then deleted (DRAINING until its tasks have stopped).
aws ecs update-task-set --cluster "$cluster" --service "$service" --task-set "$blue" --scale value=0,unit=PERCENT >/dev/null
settled "$blue"
aws ecs delete-task-set --cluster "$cluster" --service "$service" --task-set "$blue" >/dev/null
gone=no
for _ in $(seq 300); do
  if [ "$(aws ecs describe-task-sets --cluster "$cluster" --service "$service" --query 'length(taskSets)' --output text)" = 1 ]; then
    gone=yes
    break
  fi
  sleep 0.2
done
[ "$gone" = yes ] || { echo "blue $blue was not removed" >&2; exit 1; }
aws ecs describe-services --cluster "$cluster" --services "$service" \
  --query 'services[0].[taskDefinition,runningCount,length(taskSets)]' --output text
