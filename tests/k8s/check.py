"""Assertions on pods stored by the test API server (tests/k8s/run.sh), and a way to run a
stored container's exact command and environment on this machine.

  check.py injected MODE POD.json [--azure]   the stored pod carries what MODE injects
  check.py untouched BEFORE.json AFTER.json   same spec (BEFORE: created before the webhook)
  check.py same A.json B.json                 same spec apart from names the API server picks
                                              and the order of volumeMounts (see normal())
  check.py show POD.json                      an abridged view (init containers, env, volumes)
  check.py env POD.json CONTAINER K=V...      the container's env is exactly these, each once
                                              (V "valueFrom" for a valueFrom entry)
  check.py jobpod JOB.json                    prints the pod the Job controller would create
                                              from the stored Job (kube-controller-manager's
                                              GetPodFromTemplate: generateName, the template's
                                              labels, a controller ownerReference, the tracking
                                              finalizer)
  check.py jobpod-stored POD.json             that pod as stored: still the Job's (restartPolicy
                                              Never, its labels and owner), the sidecar native
  check.py exec POD.json CONTAINER [--no-args] [--mounts DIR] [--pass VAR,...] -- PROGRAM [ARGS]
      exec PROGRAM with the container's args (unless --no-args) and exactly its env (plus the
      --pass variables from here); with --mounts, a value under a volume's mountPath is
      rewritten to DIR/<volume name>/..., where the test put what kubelet would mount.
Exits 1 with a message on the first failed check."""
import json
import os
import re
import sys


def fail(msg):
    print(f"check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def load(path):
    with open(path) as f:
        return json.load(f)


def env(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def by_name(cs, name):
    for c in cs:
        if c["name"] == name:
            return c
    fail(f"no container {name!r} in {[c['name'] for c in cs]}")


def injected(mode, pod, azure):
    spec, ann = pod["spec"], pod["metadata"].get("annotations", {})
    if ann.get("dbtoken.dev/injected") != mode:
        fail(f"annotation dbtoken.dev/injected={ann.get('dbtoken.dev/injected')!r}, want {mode}")
    inits = spec.get("initContainers", [])
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    if not azure:
        sat = vols["dbtoken-federated-token"]["projected"]["sources"][0]["serviceAccountToken"]
        if sat["expirationSeconds"] != 3600 or not sat.get("audience"):
            fail(f"projected token {sat}")
    elif "dbtoken-federated-token" in vols:
        fail("an Azure Workload Identity pod gets no projected token of dbtoken's")
    names = [c["name"] for c in inits]
    want = {"serve": ["dbtoken"], "write": ["dbtoken-init", "dbtoken"], "env": []}[mode]
    if names[: len(want)] != want:
        fail(f"init containers {names}, want {want} first")
    if mode != "env":
        side = by_name(inits, "dbtoken")
        if side.get("restartPolicy") != "Always":
            fail("the sidecar is not a native sidecar (restartPolicy Always)")
        sc = side["securityContext"]
        if not (sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
                and sc["capabilities"] == {"drop": ["ALL"]}):
            fail(f"sidecar securityContext {sc}")
        port = side["ports"][0]["containerPort"]
        for probe, path in (("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            g = side[probe]["httpGet"]
            if g["path"] != path or g["port"] != port:
                fail(f"{probe} {g}, want {path} on {port}")
        if f"0.0.0.0:{port}" not in side["args"]:
            fail(f"probes on {port} but args {side['args']}")
        if side["resources"]["requests"] != {"cpu": "10m", "memory": "8Mi"}:
            fail(f"requests {side['resources']}")
    skip = set(filter(None, (s.strip() for s in ann.get("dbtoken.dev/skip-containers", "").split(","))))
    envc = set(filter(None, (s.strip() for s in ann.get("dbtoken.dev/env-containers", "").split(","))))
    for c in inits[len(want):] + spec["containers"]:
        e = env(c)
        if c["name"] in skip:
            if any(k.startswith("DATABRICKS_") for k in e):
                fail(f"{c['name']} is skipped but got {sorted(e)}")
            continue
        mounts = {m["name"]: (m["mountPath"], m.get("readOnly", False)) for m in c.get("volumeMounts", [])}
        if c["name"] in envc or mode == "env":
            if "DATABRICKS_OIDC_TOKEN_FILEPATH" not in e or "DATABRICKS_AUTH_TYPE" in e:
                fail(f"{c['name']}: file-oidc variables expected, got {sorted(e)}")
            want_mount = ("dbtoken-federated-token", os.path.dirname(e["DATABRICKS_OIDC_TOKEN_FILEPATH"]))
        elif mode == "serve":
            if e.get("DATABRICKS_AUTH_TYPE") != "metadata-service" or not e.get("DATABRICKS_METADATA_SERVICE_URL"):
                fail(f"{c['name']}: metadata-service variables expected, got {sorted(e)}")
            want_mount = None
        else:  # write: the token file the sidecar keeps fresh, read-only
            want_mount = ("dbtoken-token", "/var/run/databricks")
        if want_mount and mounts.get(want_mount[0]) != (want_mount[1], True):
            fail(f"{c['name']}: {want_mount[0]} mounted {mounts.get(want_mount[0])}, want read-only at {want_mount[1]}")
        if "DATABRICKS_HOST" not in e:
            fail(f"{c['name']}: no DATABRICKS_HOST")
        if azure and "AZURE_CLIENT_ID" not in e:
            fail(f"{c['name']}: Azure Workload Identity's variables are missing")
    if azure and "AZURE_CLIENT_ID" not in env(by_name(inits, "dbtoken")):
        fail("the sidecar lacks Azure Workload Identity's variables (was the other webhook reinvoked?)")


def normal(pod, mount_order=True):
    """The spec with the names the API server makes up (kube-api-access-xxxxx) fixed. With
    mount_order False, each container's volumeMounts are sorted by path: their order carries
    no meaning for disjoint paths, and when a webhook adds a container, the API server's own
    ServiceAccount plugin (reinvoked after webhooks) appends its kube-api-access mount to it
    before or after the other webhook's, depending on which webhook ran first."""
    spec = json.loads(re.sub(r"kube-api-access-[a-z0-9]+", "kube-api-access-X", json.dumps(pod["spec"])))
    if not mount_order:
        for c in spec.get("initContainers", []) + spec["containers"]:
            c.get("volumeMounts", []).sort(key=lambda m: m["mountPath"])
    return spec


def env_exactly(pod, name, want):
    c = by_name(pod["spec"].get("initContainers", []) + pod["spec"]["containers"], name)
    got = [(e["name"], "valueFrom" if "valueFrom" in e else e.get("value")) for e in c.get("env", [])]
    names = [n for n, _ in got]
    if len(names) != len(set(names)):
        fail(f"{name}: a variable is set twice: {names}")
    expect = dict(w.split("=", 1) for w in want)
    if dict(got) != expect:
        fail(f"{name}: env {dict(got)}, want {expect}")


def job_pod(job):
    t = job["spec"]["template"]
    meta = t.get("metadata", {})
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": job["metadata"]["name"] + "-",
            "namespace": job["metadata"]["namespace"],
            "labels": meta.get("labels", {}),
            "annotations": meta.get("annotations", {}),
            "finalizers": ["batch.kubernetes.io/job-tracking"],
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                                 "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": t["spec"],
    }


def job_pod_stored(pod):
    meta, spec = pod["metadata"], pod["spec"]
    if spec.get("restartPolicy") != "Never":
        fail(f"the Job's pod has restartPolicy {spec.get('restartPolicy')}")
    if not meta["labels"].get("batch.kubernetes.io/job-name") or meta["labels"].get("dbtoken.dev/inject") != "true":
        fail(f"the Job's labels are gone: {meta['labels']}")
    owner = meta.get("ownerReferences", [{}])[0]
    if (owner.get("kind"), owner.get("controller")) != ("Job", True):
        fail(f"owner {owner}")
    side = by_name(spec["initContainers"], "dbtoken")
    if side.get("restartPolicy") != "Always":
        fail("the Job's sidecar is a plain init container: the pod would never start its app")


def show(pod):
    spec = pod["spec"]
    print(f"metadata.annotations: {json.dumps(pod['metadata'].get('annotations', {}))}")
    for kind in ("initContainers", "containers"):
        for c in spec.get(kind, []):
            extra = " restartPolicy=Always" if c.get("restartPolicy") else ""
            print(f"{kind}: {c['name']}{extra} args={json.dumps(c.get('args', []))}")
            for e in c.get("env", []):
                print(f"    env {e['name']}={e.get('value')}")
            for m in c.get("volumeMounts", []):
                print(f"    mount {m['name']} at {m['mountPath']}{' (ro)' if m.get('readOnly') else ''}")
    for v in spec.get("volumes", []):
        print(f"volume: {v['name']} {json.dumps({k: x for k, x in v.items() if k != 'name'})}")


def run(argv):
    if "--" not in argv:
        fail("exec: -- PROGRAM missing")
    i = argv.index("--")
    opts, prog = argv[:i], argv[i + 1:]
    pod, name = load(opts[0]), opts[1]
    c = by_name(pod["spec"].get("initContainers", []) + pod["spec"]["containers"], name)
    mounts = opts[opts.index("--mounts") + 1] if "--mounts" in opts else None
    passed = opts[opts.index("--pass") + 1].split(",") if "--pass" in opts else []
    e = {}
    for k, v in env(c).items():
        if v is None:
            fail(f"{name}: {k} comes from valueFrom; this runner takes literal values only")
        for m in c.get("volumeMounts", []) if mounts else []:
            p = m["mountPath"].rstrip("/")
            if v == p or v.startswith(p + "/"):
                v = os.path.join(mounts, m["name"]) + v[len(p):]
        e[k] = v
    for k in passed:
        if k in os.environ:
            e.setdefault(k, os.environ[k])
    args = prog + ([] if "--no-args" in opts else c.get("command", [])[1:] + c.get("args", []))
    os.execve(prog[0], args, e)


def main():
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "injected":
        injected(rest[0], load(rest[1]), "--azure" in rest)
    elif cmd == "untouched":
        a, b = load(rest[0]), load(rest[1])
        if normal(a) != normal(b):
            fail(f"the spec changed:\n{json.dumps(normal(a))}\n{json.dumps(normal(b))}")
        if any(k.startswith("dbtoken.dev/") for k in b["metadata"].get("annotations", {})):
            fail("dbtoken annotations on an unlabelled pod")
    elif cmd == "same":
        a, b = normal(load(rest[0]), False), normal(load(rest[1]), False)
        if a != b:
            fail(f"the two orders differ:\n{json.dumps(a)}\n{json.dumps(b)}")
    elif cmd == "show":
        show(load(rest[0]))
    elif cmd == "env":
        env_exactly(load(rest[0]), rest[1], rest[2:])
    elif cmd == "jobpod":
        print(json.dumps(job_pod(load(rest[0]))))
    elif cmd == "jobpod-stored":
        job_pod_stored(load(rest[0]))
    elif cmd == "exec":
        run(rest)
    else:
        fail(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
