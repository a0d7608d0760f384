#!/usr/bin/env bash
# Installs Debian's CPU PyTorch (python3-torch) for the PyTorch pipeline test (test/agent/torch-pipeline.test.ts).
# Without it that test is skipped and says why; this script never fails the build.
set -u
if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  echo "python3-torch: already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
(apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-torch >/dev/null) \
  || echo 'python3-torch could not be installed; the PyTorch pipeline test will be skipped'
exit 0
