#!/usr/bin/env bash
# System packages the tests use (Debian). Idempotent; each part says which tests need it.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v gcc >/dev/null || need+=(gcc g++)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
