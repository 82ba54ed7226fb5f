#!/bin/sh
# Pool start task: runs once on every node as it joins the pool (and again after a reboot).
# Leaves a marker with the node's tool versions in the node-shared directory, where tasks can read it.
set -eu
shared="${AZ_BATCH_NODE_SHARED_DIR:-$PWD}"
mkdir -p "$shared/batchforge"
{
  echo "prepared_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "python=$(python3 --version 2>&1 || echo missing)"
  echo "pool=${AZ_BATCH_POOL_ID:-local}"
} > "$shared/batchforge/node-info.txt"
echo "node prepared: $shared/batchforge/node-info.txt"
