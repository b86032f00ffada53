#!/bin/bash
# Gadgetron's own entrypoint (activate the gadgetron conda env, exec gadgetron), plus myoseg's Python first on
# PATH: Gadgetron launches <execute type="python"> gadgets with the first `python3` it finds on PATH.
set -eo pipefail
# shellcheck disable=SC1091
. /opt/conda/etc/profile.d/conda.sh
conda activate gadgetron
export PATH="/opt/myoseg-env/bin:${PATH}"
exec /opt/conda/envs/gadgetron/bin/gadgetron "$@"
