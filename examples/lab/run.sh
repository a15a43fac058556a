#!/usr/bin/env bash
# The 3-node lab (docs/lab.md), as root: run.sh [--mode ipip|bgp|cross-subnet] [--nodes N] [--reflectors N] [--subnets 1|2] [--with-bird] [--keep]
cd "$(dirname "$0")/../.." && { [[ -x .venv/bin/python ]] || scripts/setup.sh --with-peers; } && exec .venv/bin/python -m pybgp.lab.cluster "$@"
