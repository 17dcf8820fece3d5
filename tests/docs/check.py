#!/usr/bin/env python3
"""The docs site's checks (tests/docs.sh runs them):

  check.py snippets SRC WORK      run the fenced snippets whose info string has `run`
                                  (sh, python, go, java, c; `exit=N` expects that exit code),
                                  compile those marked `compile` (java), and parse every yaml
                                  snippet, `k8s` ones also as Kubernetes objects
  check.py k8s-yaml SRC OUT       write each `yaml,k8s` snippet to OUT/NN-page.yaml (for
                                  tests/k8s/run.sh to validate against the real API server)
  check.py links BOOK             every internal href/src of the built HTML resolves, anchors too
  check.py png FILE               the screenshot decodes, has a sane size and is not one colour

Snippets run in WORK with the environment tests/mock-env.sh exports (dbtoken on PATH).
Java snippets are single-file programs (`java -cp $DOCS_JAVA_CP File.java`, JVM options from
DOCS_JAVA_OPTS) or, marked `compile`, classes compiled by javac against the same classpath; C
snippets are whole programs built with `cc -I include` against DOCS_C_LIB (libdbtoken.so). The real API
server of tests/k8s/run.sh validates the `yaml,k8s` snippets that `k8s-yaml` writes out.
"""
import html.parser
import os
import re
import struct
import subprocess
import sys
import urllib.parse
import zlib
from pathlib import Path

CLASS = re.compile(r"^(?:public\s+)?(?:final\s+)?(?:class|record)\s+(\w+)", re.M)
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.M | re.S)


def snippets(src):
    for page in sorted(Path(src).rglob("*.md")):
        text = page.read_text()
        for m in FENCE.finditer(text):
            info = m.group(1).replace(",", " ").split()
            if info:
                line = text.count("\n", 0, m.start()) + 1
                yield f"{page.relative_to(src)}:{line}", info[0], set(info[1:]), m.group(2)


def k8s_structural(doc, where):
    """The fields every Kubernetes object has, and the pod fields these pages use."""
    for f in ("apiVersion", "kind", "metadata"):
        if f not in doc:
            raise ValueError(f"{where}: Kubernetes object without {f}")
    if not isinstance(doc["metadata"], dict) or "name" not in doc["metadata"]:
        raise ValueError(f"{where}: metadata.name missing")
    if doc["kind"] == "Pod":
        spec = doc.get("spec") or {}
        for group in ("initContainers", "containers"):
            for c in spec.get(group, []):
                if "name" not in c or "image" not in c:
                    raise ValueError(f"{where}: {group} entry without name or image: {c}")
                for e in c.get("env", []):
                    if set(e) - {"name", "value", "valueFrom"} or "name" not in e:
                        raise ValueError(f"{where}: bad env entry {e}")
        if not spec.get("containers"):
            raise ValueError(f"{where}: Pod without containers")


def run_snippets(src, work):
    import yaml

    ran = validated = shown = 0
    failures = []
    go_mod = Path(__file__).resolve().parents[2] / "bindings" / "go"
    for n, (where, lang, attrs, body) in enumerate(snippets(src)):
        if lang == "yaml":
            try:
                docs = [d for d in yaml.safe_load_all(body) if d is not None]
                if "k8s" in attrs:
                    for d in docs:
                        k8s_structural(d, where)
                validated += 1
            except Exception as e:  # noqa: BLE001 - reported with its place
                failures.append(f"{where}: yaml: {e}")
            continue
        if "run" not in attrs and not (lang == "java" and "compile" in attrs):
            shown += 1
            continue
        want = int(next((a[5:] for a in attrs if a.startswith("exit=")), "0"))
        d = Path(work) / f"snippet-{n}"
        d.mkdir()
        if lang == "java":
            m = CLASS.search(body)
            if not m:
                failures.append(f"{where}: java snippet declares no top-level class")
                continue
            (d / f"{m.group(1)}.java").write_text(body)
            cp = os.environ.get("DOCS_JAVA_CP", "")
            if "compile" in attrs:
                cmd = ["javac", "-Xlint:all", "-Werror", "-cp", cp, "-d", "classes", f"{m.group(1)}.java"]
            else:
                cmd = ["java", *os.environ.get("DOCS_JAVA_OPTS", "").split(), "-cp", cp, f"{m.group(1)}.java"]
        elif lang == "c":
            (d / "main.c").write_text(body)
            root = Path(__file__).resolve().parents[2]
            lib = Path(os.environ.get("DOCS_C_LIB", root / "target" / "release" / "libdbtoken.so"))
            cmd = ["sh", "-c", f"cc -std=c11 -Wall -Wextra -Werror -I {root / 'include'} main.c "
                   f"-L {lib.parent} -ldbtoken -Wl,-rpath,{lib.parent} -o main && ./main"]
        elif lang == "sh":
            (d / "s.sh").write_text(body)
            cmd = ["bash", "-eo", "pipefail", "s.sh"]
        elif lang == "python":
            (d / "s.py").write_text(body)
            cmd = [sys.executable, "s.py"]
        elif lang == "go":
            (d / "main.go").write_text(body)
            (d / "go.mod").write_text(
                "module docsnippet\n\ngo 1.21\n\nrequire github.com/dbtoken/dbtoken/bindings/go v0.0.0\n"
                f"replace github.com/dbtoken/dbtoken/bindings/go => {go_mod}\n")
            cmd = ["sh", "-c", "go mod tidy >/dev/null 2>&1; go run -tags dbtoken_dev ."]
        else:
            failures.append(f"{where}: no runner for `{lang},run`")
            continue
        p = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=120)
        if p.returncode != want:
            failures.append(f"{where}: {lang} snippet exited {p.returncode}, want {want}\n"
                            f"stdout: {p.stdout}\nstderr: {p.stderr}")
        else:
            ran += 1
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    print(f"docs snippets: {ran} ran, {validated} yaml validated, {shown} shown only, "
          f"{len(failures)} failed")
    return not failures


def k8s_yaml(src, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for where, lang, attrs, body in snippets(src):
        if lang == "yaml" and "k8s" in attrs:
            n += 1
            page = where.split(":")[0].replace("/", "-").removesuffix(".md")
            (out / f"{n:02d}-{page}.yaml").write_text(f"# {where}\n{body}")
    print(f"docs k8s yaml: {n} snippets written to {out}")
    return n > 0


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for k in ("href", "src"):
            if a.get(k):
                self.refs.append(a[k])


def check_links(book):
    book = Path(book)
    pages = {}
    for f in book.rglob("*.html"):
        p = Links()
        p.feed(f.read_text())
        pages[f.resolve()] = p
    bad, n = [], 0
    for f, p in pages.items():
        if f.name in ("print.html", "404.html", "toc.html"):
            continue
        for ref in p.refs:
            u = urllib.parse.urlparse(ref)
            if u.scheme or ref.startswith("//") or ref.startswith("mailto:"):
                continue
            target = (f.parent / urllib.parse.unquote(u.path)).resolve() if u.path else f
            n += 1
            if not target.exists():
                bad.append(f"{f.relative_to(book.resolve())}: {ref}: no such file")
            elif u.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if u.fragment not in ids:
                    bad.append(f"{f.relative_to(book.resolve())}: {ref}: no anchor #{u.fragment}")
    for b in bad:
        print("FAIL", b, file=sys.stderr)
    print(f"docs links: {n} internal links checked, {len(bad)} broken")
    return not bad


def check_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        ln, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + ln]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + ln
    w, h, depth, ctype = ihdr[:4]
    assert 400 <= w <= 4000 and 300 <= h <= 4000, f"odd size {w}x{h}"
    assert depth == 8 and ctype in (2, 6), f"unexpected PNG format depth={depth} type={ctype}"
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours = {}
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            for x in range(0, w, 4):
                px = bytes(line[x * bpp:x * bpp + 3])
                colours[px] = colours.get(px, 0) + 1
        prev = line
    total = sum(colours.values())
    top = max(colours.values()) / total
    assert len(colours) >= 20, f"only {len(colours)} colours: a blank render"
    assert top < 0.97, f"one colour covers {top:.0%}: a blank render"
    print(f"docs screenshot: {w}x{h}, {len(colours)} colours sampled, background {top:.0%}")
    return True


if __name__ == "__main__":
    what = sys.argv[1]
    ok = {"snippets": lambda: run_snippets(sys.argv[2], sys.argv[3]),
          "links": lambda: check_links(sys.argv[2]),
          "k8s-yaml": lambda: k8s_yaml(sys.argv[2], sys.argv[3]),
          "png": lambda: check_png(sys.argv[2])}[what]()
    sys.exit(0 if ok else 1)
