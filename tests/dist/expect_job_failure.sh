#!/usr/bin/env bash
# Passes when a command ends with a non-zero status within LIMIT seconds: expect_job_failure.sh LIMIT COMMAND...
# (an MPI job one of whose processes dies must end, not hang). Prints how long the job took.
set -uo pipefail
limit=$1
shift
start=$(date +%s%N)
timeout --kill-after=5 "$limit" "$@"
status=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "FAILED: the job did not end within $limit s (status $status)"
  exit 1
fi
if [ "$status" -eq 0 ]; then
  echo "FAILED: the job succeeded although a process exited in the middle of an exchange"
  exit 1
fi
echo "the job ended with status $status after $elapsed_ms ms (limit $limit s)"
