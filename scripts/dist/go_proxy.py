#!/usr/bin/env python3
"""Add a Go module directory to a GOPROXY file tree (the layout `go` reads from file://).

    go_proxy.py PROXY_DIR MODULE_DIR VERSION

Writes PROXY_DIR/<module path>/@v/{list, VERSION.info, VERSION.mod, VERSION.zip}. The zip
follows the module zip rules (golang.org/x/mod/zip): every file under "<path>@<version>/",
no nested modules (directories with their own go.mod), no vendor/ or hidden directories,
no symbolic links. `go` checks these rules again when it extracts the zip.
"""
import json
import os
import sys
import time
import zipfile


def module_path(mod_dir):
    with open(os.path.join(mod_dir, "go.mod"), encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if len(words) >= 2 and words[0] == "module":
                return words[1].strip('"')
    sys.exit(f"go_proxy: no module line in {mod_dir}/go.mod")


def escape(path):
    # Upper-case letters become "!" + lower case in proxy paths.
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def files(mod_dir):
    for root, dirs, names in os.walk(mod_dir):
        rel_root = os.path.relpath(root, mod_dir)
        keep = []
        for d in sorted(dirs):
            full = os.path.join(root, d)
            if d.startswith(".") or (d == "vendor" and rel_root == "."):
                continue
            if os.path.islink(full) or os.path.exists(os.path.join(full, "go.mod")):
                continue  # a nested module is its own zip
            keep.append(d)
        dirs[:] = keep
        for n in sorted(names):
            full = os.path.join(root, n)
            if n.startswith(".") or os.path.islink(full):
                continue
            yield full, os.path.normpath(os.path.join(rel_root, n)).replace(os.sep, "/")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    proxy, mod_dir, version = sys.argv[1:]
    path = module_path(mod_dir)
    at_v = os.path.join(proxy, escape(path), "@v")
    os.makedirs(at_v, exist_ok=True)
    prefix = f"{path}@{version}/"
    with zipfile.ZipFile(os.path.join(at_v, version + ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for full, rel in files(mod_dir):
            z.write(full, prefix + rel)
    with open(os.path.join(mod_dir, "go.mod"), "rb") as src, open(os.path.join(at_v, version + ".mod"), "wb") as dst:
        dst.write(src.read())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(os.path.join(at_v, version + ".info"), "w", encoding="utf-8") as f:
        json.dump({"Version": version, "Time": stamp}, f)
    listed = set()
    list_file = os.path.join(at_v, "list")
    if os.path.exists(list_file):
        with open(list_file, encoding="utf-8") as f:
            listed = {v.strip() for v in f if v.strip()}
    listed.add(version)
    with open(list_file, "w", encoding="utf-8") as f:
        f.write("".join(v + "\n" for v in sorted(listed)))
    print(f"{path}@{version}")


if __name__ == "__main__":
    main()
