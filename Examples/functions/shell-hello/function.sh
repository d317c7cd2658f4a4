# Example handler for the sh custom runtime (sourced by ./bootstrap).
# $1 is the raw event JSON; stdout is the response, stderr goes to the log.
handler() {
  EVENT=${1:-null}
  echo "shell-hello: got event ($(printf '%s' "$EVENT" | wc -c) bytes), trace id $_X_AMZN_TRACE_ID" >&2
  # Fail on purpose when the event contains "fail": true (also as a queue message's body, quoted
  # inside the SQS event: \"fail\": true)
  if printf '%s' "$EVENT" | grep -Eq '"fail\\?"[[:space:]]*:[[:space:]]*true'; then
    echo "shell-hello: asked to fail" >&2
    exit 1
  fi
  echo "{\"message\":\"hello from sh\",\"input\":$EVENT}"
}
