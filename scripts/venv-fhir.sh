#!/usr/bin/env bash
# Create the FHIR test server's own venv (.venv-fhir at the repo root) with sekmet-fhir pinned.
# Idempotent: when the venv already has the pinned version, this returns at once.
# sekmet pins FastAPI/uvicorn/fhir.resources 8, so it never shares the app's .venv.
set -euo pipefail

SEKMET_VERSION="0.1.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv-fhir"
PYTHON="${PYTHON:-python3}"

if [[ -x "${VENV}/bin/sekmet" ]] \
   && "${VENV}/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('sekmet-fhir') != '${SEKMET_VERSION}')" 2>/dev/null; then
    exit 0
fi

if [[ ! -x "${VENV}/bin/python" ]]; then
    echo "venv-fhir: creating ${VENV}" >&2
    "${PYTHON}" -m venv "${VENV}"
fi
echo "venv-fhir: installing sekmet-fhir==${SEKMET_VERSION}" >&2
"${VENV}/bin/pip" install --quiet --disable-pip-version-check "sekmet-fhir==${SEKMET_VERSION}"
test -x "${VENV}/bin/sekmet" || { echo "venv-fhir: ${VENV}/bin/sekmet missing after install" >&2; exit 1; }
