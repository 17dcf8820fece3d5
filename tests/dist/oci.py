"""Reads an unpacked OCI image layout archive of scripts/dist.sh (dist_oci_image) the way a
registry client does: index.json -> the image index (ref VERSION) -> one manifest per
platform -> its config and layers. Checks what every dist image promises and prints one line
per platform for the shell to run it:

  oci.py plan LAYOUT VERSION NAME     ARCH|USER|ENV|LAYERS  (ENV "K=V ...", LAYERS blob paths)

NAME is the image's title and /NAME its entrypoint; the user is 65532:65532, the config's
os/architecture those of the index entry. Exits 1 naming the first thing that is not so."""
import json
import os
import sys


def fail(msg):
    print(f"oci: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def plan(root, version, name):
    def blob(d):
        return json.load(open(os.path.join(root, "blobs", *d["digest"].split(":"))))

    top = json.load(open(os.path.join(root, "index.json")))
    if len(top["manifests"]) != 1:
        fail(f"index.json lists {len(top['manifests'])} refs, want one (the version)")
    [ref] = top["manifests"]
    if ref.get("annotations", {}).get("org.opencontainers.image.ref.name") != version:
        fail(f"index.json ref {ref.get('annotations')}, want {version}")
    index = blob(ref)
    if index["mediaType"] != "application/vnd.oci.image.index.v1+json":
        fail(f"the ref is a {index['mediaType']}, want an image index")
    for m in index["manifests"]:
        p = m["platform"]
        manifest = blob(m)
        config = blob(manifest["config"])
        c = config["config"]
        where = f"{name} {p['os']}/{p['architecture']}"
        if (config["os"], config["architecture"]) != (p["os"], p["architecture"]):
            fail(f"{where}: config says {config['os']}/{config['architecture']}")
        if c.get("User") != "65532:65532":
            fail(f"{where}: user {c.get('User')!r}, want 65532:65532")
        if c.get("Entrypoint") != [f"/{name}"]:
            fail(f"{where}: entrypoint {c.get('Entrypoint')}, want ['/{name}']")
        labels = c.get("Labels", {})
        if (labels.get("org.opencontainers.image.version"), labels.get("org.opencontainers.image.title")) != (version, name):
            fail(f"{where}: labels {labels}")
        env = " ".join(c.get("Env", []))
        layers = " ".join(layer["digest"].replace(":", "/") for layer in manifest["layers"])
        print(p["architecture"], c["User"], env, layers, sep="|")


def main():
    if len(sys.argv) != 5 or sys.argv[1] != "plan":
        fail("usage: oci.py plan LAYOUT VERSION NAME")
    plan(*sys.argv[2:])


if __name__ == "__main__":
    main()
