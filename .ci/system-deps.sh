#!/usr/bin/env bash
# System packages the tests use (Debian). Idempotent; each part says which tests need it.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v gcc >/dev/null || need+=(gcc g++)
# evaluate: the sandbox (bubblewrap) and the MultiPL-E toolchains (tests/evaluate).
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v g++ >/dev/null || need+=(g++)
command -v javac >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/javatuples.jar ] || need+=(libjavatuples-java)
command -v php >/dev/null || need+=(php-cli)
command -v node >/dev/null || need+=(nodejs)
command -v tsc >/dev/null || need+=(node-typescript)
command -v mcs >/dev/null || need+=(mono-mcs)
command -v mono >/dev/null || need+=(mono-runtime)
command -v go >/dev/null || need+=(golang-go)
command -v rustc >/dev/null || need+=(rustc)
# corpus screening: rustfmt is the Rust front end of the syntax step's second opinion.
command -v rustfmt >/dev/null || need+=(rustfmt)
# corpus screening: `ruby -c` is the Ruby front end (kotlinc/scalac are not used).
command -v ruby >/dev/null || need+=(ruby)
# serve: the llama.cpp /infill request is sent with curl (tests/serve/test_api.py).
command -v curl >/dev/null || need+=(curl)
# corpus fetch: npm pack for npm tarballs (make demo, tests/corpus/test_fetch.py); dpkg-deb for .deb.
command -v npm >/dev/null || need+=(npm)
command -v dpkg-deb >/dev/null || need+=(dpkg)
# export/serve: llama-cpp-python (the `test` extra) builds llama.cpp from source with cmake + g++.
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
