#!/usr/bin/env bash
# Runs BenchmarkApiClients from the prebuilt binaries beside this script
# (`make bench-kit` builds the folder): no Go toolchain, no checkout.
#
# Settings, as for `make bench`: KEYPORT_BENCH_SIZES (default 100,1000),
# KEYPORT_BENCH_LIFETIME (60s), KEYPORT_BENCH_LIFETIMES (3),
# KEYPORT_BENCH_OPERATOR_ARGS, KEYPORT_BENCH_FOREIGN_SECRETS (2000; 0 skips
# the foreign-Secrets phase), KEYPORT_BENCH_REFRESH_STRATEGY (Fraction or
# Latest). Arguments are passed to the test binary
# (-test.v, say).
set -euo pipefail
kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export KUBEBUILDER_ASSETS="$kit"
export KEYPORT_TESTENV_ROOT="$kit"
export KEYPORT_CERT_MANAGER_CRDS="$kit/cert-manager-crds"
export KEYPORT_BENCH_OPERATOR_BIN="$kit/keyport-operator"
export KEYPORT_BENCH_FOREIGN_SECRETS="${KEYPORT_BENCH_FOREIGN_SECRETS:-2000}"
cd "$kit"
exec ./apiclient.test -test.run '^$' -test.bench BenchmarkApiClients -test.benchtime 1x -test.timeout 4h "$@"
