#!/usr/bin/env bash
# Checks the deployment files without a container engine or a cluster (run by infra/test.sh; ~10 s when the
# tools are built). Tools come from infra/install.sh (helm, kubeconform, ~/.cache/lookout/deploy-venv).
#   Dockerfile           hadolint (settings: .hadolint.yaml)
#   docker-compose.yml   YAML + the Compose Specification JSON schema (check-jsonschema's vendored copy), and every
#                        `lookout` command its services run answers `lookout CMD --help`
#   deploy/helm/lookout  helm lint --strict; helm template with the default values and with the other switches
#                        (GPU pool, watch ingest, metrics, KEDA off); kubeconform -strict of every rendered manifest
#                        against Kubernetes $KUBE_VERSION's schemas (kubernetes-validate's files, offline) and KEDA's
#                        ScaledObject CRD schema (from the KEDA Go module); every KEDA trigger's parameters against
#                        KEDA's scaler schema; the chart's drain time against the worker's.
# KEDA's schemas come from its Go module (`go mod download`, once; cached beside the tools): without Go and without
# that cache, the ScaledObject schema and trigger checks are skipped with a message saying so (all else still runs).
# Not validated here: that the images build and start, that the chart installs on a live cluster (admission,
# RBAC, the KEDA and NVIDIA operators), that the servers' upstream image tags exist (no registry is reachable).
# Usage: infra/lint-deploy.sh [--help]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = --help ] || [ "${1:-}" = -h ] && { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

TOOLS_DIR=${LOOKOUT_TOOLS_DIR:-$HOME/.cache/lookout/bin}
VENV=$TOOLS_DIR/../deploy-venv
KUBE_VERSION=1.33.0       # one of kubernetes-validate 1.37's schema sets (v1.25 .. v1.37)
KEDA_VERSION=v2.21.0      # the CRD and scaler schema the ScaledObjects are checked against (temporal scaler: >= 2.17)
# Commands the deployment files may run before they exist in this tree (none now; space-separated).
PENDING_COMMANDS=${LOOKOUT_PENDING_COMMANDS-}

for t in "$TOOLS_DIR/helm" "$TOOLS_DIR/kubeconform" "$VENV/bin/hadolint" "$VENV/bin/check-jsonschema"; do
  [ -x "$t" ] || { echo "lint-deploy: $t is missing: run infra/install.sh" >&2; exit 1; }
done
PY=$VENV/bin/python
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "-- Dockerfile: hadolint $("$VENV/bin/hadolint" --version | awk '{print $NF}')"
"$VENV/bin/hadolint" --config .hadolint.yaml Dockerfile

echo "-- docker-compose.yml: Compose Specification schema"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
echo "-- docker-compose.yml: the lookout commands exist"
for cmd in $("$PY" infra/deploy_check.py compose-commands docker-compose.yml); do
  if node bin/lookout "$cmd" --help >/dev/null 2>&1; then echo "ok -- lookout $cmd"
  elif [[ " $PENDING_COMMANDS " == *" $cmd "* ]]; then echo "pending -- lookout $cmd (not in this tree yet; LOOKOUT_PENDING_COMMANDS)"
  else echo "lint-deploy: docker-compose.yml runs 'lookout $cmd', which is not a lookout command" >&2; exit 1; fi
done

# Schemas, converted once per version into the tools cache.
SCHEMAS=$TOOLS_DIR/../schemas
K8S=$SCHEMAS/kubernetes/v$KUBE_VERSION-local-strict
if [ ! -f "$K8S/.done" ]; then
  src=$("$PY" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')/kubernetes-json-schema/v$KUBE_VERSION-local-strict
  "$PY" infra/deploy_check.py k8s-schemas "$src" "$K8S" && touch "$K8S/.done"
fi
# KEDA: the ScaledObject CRD schema (converted) and the scalers' schema, kept in the cache so that Go is needed once.
KEDA=$SCHEMAS/keda-$KEDA_VERSION
KEDA_SCALERS=$KEDA/scalers-schema.json
if [ ! -f "$KEDA/.done" ] || [ ! -f "$KEDA_SCALERS" ]; then
  if command -v go >/dev/null 2>&1; then
    KEDA_DIR=$(GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    "$PY" infra/deploy_check.py keda-schema "$KEDA_DIR/config/crd/bases/keda.sh_scaledobjects.yaml" "$KEDA"
    cp "$KEDA_DIR/schema/generated/scalers-schema.json" "$KEDA_SCALERS"
    touch "$KEDA/.done"
  else
    KEDA=
    echo "lint-deploy: SKIPPED the KEDA ScaledObject schema and trigger checks: they need KEDA $KEDA_VERSION's schemas from its Go module, and Go is not installed (install Go >= 1.22 and run again once; the schemas are then cached)"
  fi
fi

CHART=deploy/helm/lookout
HELM=$TOOLS_DIR/helm
echo "-- helm lint ($("$HELM" version --short))"
"$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART"
"$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" --set workers.gpu.enabled=true --set ingest.mode=watch --set ingest.replicas=1 --set metrics.enabled=true
echo "-- helm template + kubeconform (Kubernetes $KUBE_VERSION, KEDA $KEDA_VERSION)"
"$HELM" template lookout "$CHART" --kube-version "$KUBE_VERSION" > "$WORK/default.yaml"
"$HELM" template lookout "$CHART" --kube-version "$KUBE_VERSION" --set workers.gpu.enabled=true --set ingest.mode=watch --set ingest.replicas=1 --set metrics.enabled=true > "$WORK/gpu-watch.yaml"
"$HELM" template lookout "$CHART" --kube-version "$KUBE_VERSION" --set keda.enabled=false > "$WORK/no-keda.yaml"
# A chart that refuses a bad combination says so (watch ingest keeps one cursor: one replica).
if "$HELM" template lookout "$CHART" --kube-version "$KUBE_VERSION" --set ingest.mode=watch --set ingest.replicas=2 >/dev/null 2>&1; then
  echo "lint-deploy: the chart accepted ingest.mode=watch with 2 replicas" >&2; exit 1
fi
if [ -n "$KEDA" ]; then KEDA_ARGS=(-schema-location "$KEDA/{{ .ResourceKind }}{{ .KindSuffix }}.json"); else KEDA_ARGS=(-skip ScaledObject); fi
"$TOOLS_DIR/kubeconform" -strict -summary -kubernetes-version "$KUBE_VERSION" \
  -schema-location "$SCHEMAS/kubernetes/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  "${KEDA_ARGS[@]}" \
  "$WORK/default.yaml" "$WORK/gpu-watch.yaml" "$WORK/no-keda.yaml"
if [ -n "$KEDA" ]; then
  "$PY" infra/deploy_check.py keda-triggers "$WORK/default.yaml" "$KEDA_SCALERS"
  "$PY" infra/deploy_check.py keda-triggers "$WORK/gpu-watch.yaml" "$KEDA_SCALERS"
fi
"$PY" infra/deploy_check.py drain "$CHART/values.yaml" workers/worker.ts
if [ -n "$KEDA" ]; then echo "lint-deploy: ok"; else echo "lint-deploy: ok (KEDA schema and trigger checks skipped: no Go)"; fi
