"""Checks of the deployment files that no off-the-shelf linter does; run by infra/lint-deploy.sh in its venv.

  k8s-schemas SRC DST         kubernetes-validate's JSON schemas -> files kubeconform can load offline
  keda-schema CRD DST         KEDA's ScaledObject CRD (from the KEDA Go module) -> a strict JSON schema for kubeconform
  keda-triggers FILE SCHEMA   every ScaledObject trigger in FILE names a known scaler and only its parameters,
                              and gives each required one (KEDA's generated scalers-schema.json)
  compose-commands FILE       the `lookout` commands the compose file's Lookout services run, one a line
  drain VALUES WORKER_TS      the chart's workers.drainSeconds equals the worker's Temporal shutdownGraceTime
Exit status 1 with a message naming the fault; 0 when the check holds.
"""
import json
import os
import re
import sys

import yaml


def fail(msg):
    print(f"deploy_check: {msg}", file=sys.stderr)
    sys.exit(1)


def k8s_schemas(src, dst):
    # kubernetes-validate's "-local" schemas carry an https $id and refs to "/api/_definitions.json": resolved
    # against the $id that is a URL kubeconform's offline loader refuses. Without the $id and with a relative
    # ref, both resolve to the file beside them.
    os.makedirs(dst, exist_ok=True)

    def fix(o):
        if isinstance(o, dict):
            o.pop("$id", None)
            return {k: (v.replace("/api/_definitions.json#", "_definitions.json#") if k == "$ref" and isinstance(v, str) else fix(v)) for k, v in o.items()}
        if isinstance(o, list):
            return [fix(x) for x in o]
        return o

    n = 0
    for f in os.listdir(src):
        if f.endswith(".json"):
            with open(os.path.join(src, f)) as fh:
                d = json.load(fh)
            with open(os.path.join(dst, f), "w") as fh:
                json.dump(fix(d), fh)
            n += 1
    if n < 100:
        fail(f"only {n} schema files in {src}: not a kubernetes-validate schema folder")
    print(f"{n} schemas -> {dst}")


def keda_schema(crd_file, dst):
    with open(crd_file) as fh:
        crd = yaml.safe_load(fh)
    if crd.get("kind") != "CustomResourceDefinition":
        fail(f"{crd_file} is not a CRD")
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]

    def strict(o):
        # kubeconform -strict rejects unknown fields only where a schema says so: do what the API server's
        # structural-schema pruning does, except where the CRD keeps unknown fields.
        if isinstance(o, dict):
            o = {k: strict(v) for k, v in o.items()}
            if o.get("type") == "object" and "properties" in o and "additionalProperties" not in o and not o.get("x-kubernetes-preserve-unknown-fields"):
                o["additionalProperties"] = False
            return o
        if isinstance(o, list):
            return [strict(x) for x in o]
        return o

    os.makedirs(dst, exist_ok=True)
    for v in crd["spec"]["versions"]:
        schema = strict(v["schema"]["openAPIV3Schema"])
        schema["properties"]["metadata"] = {"type": "object"}
        name = f"{kind.lower()}-{group.split('.')[0]}-{v['name']}.json"
        with open(os.path.join(dst, name), "w") as fh:
            json.dump(schema, fh)
        print(f"{kind} {group}/{v['name']} -> {os.path.join(dst, name)}")


def keda_triggers(rendered, schema_file):
    with open(schema_file) as fh:
        scalers = {s["type"]: s["parameters"] for s in json.load(fh)["scalers"]}
    problems, seen = [], 0
    for doc in yaml.safe_load_all(open(rendered)):
        if not doc or doc.get("kind") != "ScaledObject":
            continue
        name = doc["metadata"]["name"]
        for i, t in enumerate(doc["spec"]["triggers"]):
            seen += 1
            where = f"{name} trigger {i} ({t.get('type')})"
            params = scalers.get(t.get("type"))
            if params is None:
                problems.append(f"{where}: unknown scaler type")
                continue
            allowed = set()
            for p in params:
                if p.get("metadataVariableReadable"):
                    allowed.add(p["name"])
                if p.get("envVariableReadable"):
                    allowed.add(p["name"] + "FromEnv")
            md = t.get("metadata") or {}
            for k in md:
                if k not in allowed:
                    problems.append(f"{where}: unknown parameter {k!r}")
            for p in params:
                required = not p.get("optional") and "default" not in p and p.get("metadataVariableReadable")
                by_auth = p.get("triggerAuthenticationVariableReadable") and t.get("authenticationRef")
                if required and not by_auth and p["name"] not in md and p["name"] + "FromEnv" not in md:
                    problems.append(f"{where}: missing required parameter {p['name']!r}")
    if seen == 0:
        fail(f"no ScaledObject trigger in {rendered}")
    if problems:
        fail("KEDA triggers:\n  " + "\n  ".join(problems))
    print(f"{seen} KEDA triggers: every parameter known to KEDA's scaler schema, required ones given")


def compose_commands(compose_file):
    with open(compose_file) as fh:
        c = yaml.safe_load(fh)
    cmds = set()
    for name, s in c["services"].items():
        image = str(s.get("image", ""))
        ep = s.get("entrypoint") or []
        if not image.startswith("lookout:") or any("tsx/cjs" in str(x) for x in ep):
            continue
        args = [str(x) for x in (ep[ep.index("/app/bin/lookout") + 1:] if "/app/bin/lookout" in ep else [])] + [str(x) for x in (s.get("command") or [])]
        if args and not args[0].startswith("-"):
            cmds.add(args[0])
    if not cmds:
        fail(f"no lookout command found in {compose_file}")
    print("\n".join(sorted(cmds)))


def drain(values_file, worker_ts):
    with open(values_file) as fh:
        v = yaml.safe_load(fh)
    m = re.search(r"shutdownGraceTime:\s*'(\d+)s'", open(worker_ts).read())
    if not m:
        fail(f"no shutdownGraceTime: 'Ns' in {worker_ts}")
    if int(m.group(1)) != int(v["workers"]["drainSeconds"]):
        fail(f"chart workers.drainSeconds={v['workers']['drainSeconds']} but {worker_ts} drains for {m.group(1)} s: Kubernetes would kill workers mid-drain or wait for nothing")
    print(f"worker drain {m.group(1)} s = chart drainSeconds; terminationGracePeriodSeconds {int(m.group(1)) + int(v['workers']['flushMarginSeconds'])} s")


if __name__ == "__main__":
    cmds = {"k8s-schemas": k8s_schemas, "keda-schema": keda_schema, "keda-triggers": keda_triggers, "compose-commands": compose_commands, "drain": drain}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__)
        sys.exit(2)
    cmds[sys.argv[1]](*sys.argv[2:])
