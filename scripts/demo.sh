#!/usr/bin/env bash
# pybgp's main job, for now: decode a real BGP session captured between FRR and BIRD
# (tests/vectors/captures/), following its OPEN exchange, as JSON Lines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
capture=${1:-tests/vectors/captures/frr.pcap}
echo "# pybgp decode --pcap $capture" >&2
.venv/bin/pybgp decode --pcap "$capture"
