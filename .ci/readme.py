#!/usr/bin/env python3
"""README.md as a new user meets it: every Rust block built in a fresh crate next to the
dependency blocks the README shows, the ones that run on their own run, the Quick start
serves, and every curl line with a status comment (`# 404 ...`) answers with that status,
against the Quick start server or the demo server.

Usage: python3 .ci/readme.py   (from the repository root; `.ci/run` calls it)
Env:   README_PORT (default 3000: the port the README's commands use; another one is
       substituted everywhere when 3000 is taken), CARGO_TARGET_DIR.
"""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CRATE = os.path.join(TARGET, "readme-crate")
PORT = int(os.environ.get("README_PORT", "3000"))
STATUS_COMMENT = re.compile(r"\s#\s*(\d{3})\b[^'\"]*$")


def fail(message):
    sys.exit(f"README check failed: {message}")


def blocks(text):
    """Fenced blocks: (info string, body, line number of the fence), indentation removed."""
    found, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        match = re.match(r"^(\s*)```(\S*)\s*$", lines[i])
        if match and match.group(2):
            indent, info, start = len(match.group(1)), match.group(2), i + 1
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
                i += 1
            found.append((info, "\n".join(body) + "\n", start))
        i += 1
    return found


def port_free(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def localize(text):
    """The README's commands and code on the port this run uses."""
    if PORT == 3000:
        return text
    return text.replace("127.0.0.1:3000", f"127.0.0.1:{PORT}").replace(
        "loopback_port(3000)", f"loopback_port({PORT})")


def manifest(toml_blocks):
    """One [dependencies] table from every block the README shows; mcp-bastion from here."""
    dependencies = {}
    for body in toml_blocks:
        for name, spec in tomllib.loads(body).get("dependencies", {}).items():
            if isinstance(spec, str):
                spec = {"version": spec}
            merged = dict(dependencies.get(name, {}))
            features = sorted(set(merged.get("features", [])) | set(spec.get("features", [])))
            merged.update(spec)
            if features:
                merged["features"] = features
            dependencies[name] = merged
    if "mcp-bastion" not in dependencies:
        fail("no [dependencies] block names mcp-bastion")
    dependencies["mcp-bastion"]["path"] = ROOT

    def value(v):
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ['[package]', 'name = "readme-snippets"', 'version = "0.0.0"', 'edition = "2024"',
             'publish = false', '', '[workspace]', '', '[dependencies]']
    for name, spec in sorted(dependencies.items()):
        fields = ", ".join(f"{key} = {value(v)}" for key, v in spec.items())
        lines.append(f"{name} = {{ {fields} }}")
    return "\n".join(lines) + "\n"


def program(body):
    """A block as a program, the way rustdoc runs it: wrapped in a main when it has none."""
    if re.search(r"^\s*(async\s+)?fn main\(", body, re.M):
        return body
    uses = [line for line in body.split("\n") if line.startswith("use ")]
    rest = [line for line in body.split("\n") if not line.startswith("use ")]
    return ("\n".join(uses) + "\n\nfn main() -> Result<(), Box<dyn std::error::Error>> {\n"
            + "\n".join("    " + line for line in rest) + "\n    Ok(())\n}\n")


def build(rust_blocks, toml_blocks):
    os.makedirs(os.path.join(CRATE, "src", "bin"), exist_ok=True)
    for stale in os.listdir(os.path.join(CRATE, "src", "bin")):
        os.remove(os.path.join(CRATE, "src", "bin", stale))
    with open(os.path.join(CRATE, "Cargo.toml"), "w") as out:
        out.write(manifest(toml_blocks))
    # The repository's lock file pins the same versions (cargo drops what is not needed).
    with open(os.path.join(ROOT, "Cargo.lock")) as lock, \
            open(os.path.join(CRATE, "Cargo.lock"), "w") as out:
        out.write(lock.read())
    names = []
    for info, body, line in rust_blocks:
        name = f"readme_line_{line}"
        with open(os.path.join(CRATE, "src", "bin", f"{name}.rs"), "w") as out:
            out.write(localize(program(body)))
        names.append((name, info, body, line))
    print(f"building {len(names)} README Rust blocks in {CRATE}", flush=True)
    subprocess.run(["cargo", "build", "--quiet", "--bins", "--target-dir", TARGET],
                   cwd=CRATE, check=True)
    return names


def binary(name):
    return os.path.join(TARGET, "debug", name)


def wait_for_port(process, what):
    for _ in range(300):
        if process.poll() is not None:
            fail(f"{what} exited ({process.returncode}) before listening")
        if not port_free(PORT):
            return
        time.sleep(0.1)
    fail(f"{what} never listened on 127.0.0.1:{PORT}")


def commands(body):
    """Logical lines of a shell block (continuations joined)."""
    logical, current = [], ""
    for line in body.split("\n"):
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    return logical


def check_statuses(body, where):
    """Runs a shell block in bash: each curl line with a status comment must answer with it."""
    script, checked = ["set -u", "fails=0"], 0
    for line in commands(localize(body)):
        if line.startswith("#"):
            continue
        match = STATUS_COMMENT.search(line)
        if line.startswith("curl ") and match:
            command, status = line[: match.start()].rstrip(), match.group(1)
            checked += 1
            script.append(
                f"got=$({command} -o /dev/null -w '%{{http_code}}' --max-time 20); "
                f"if [ \"$got\" = {status} ]; then echo \"  {status} ok: \"{shlex.quote(command[:90])}; "
                f"else echo \"  expected {status}, got $got: \"{shlex.quote(command)}; fails=$((fails+1)); fi")
        else:
            script.append(line)
    script.append('exit "$fails"')
    if checked == 0:
        fail(f"no status comments in the shell block for {where}")
    print(f"{checked} curl lines against {where}:", flush=True)
    result = subprocess.run(["bash", "-c", "\n".join(script)])
    if result.returncode != 0:
        fail(f"{result.returncode} curl lines against {where} answered another status")
    return checked


def serve(command, what, read_output=False):
    if not port_free(PORT):
        fail(f"127.0.0.1:{PORT} is taken; set README_PORT to a free port")
    output = subprocess.PIPE if read_output else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.DEVNULL, text=True)
    wait_for_port(process, what)
    return process


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def main():
    global PORT
    if PORT == 3000 and not port_free(3000):
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            PORT = spare.getsockname()[1]
        print(f"127.0.0.1:3000 is taken: the README's port is replaced by {PORT}")
    with open(os.path.join(ROOT, "README.md")) as readme:
        text = readme.read()
    found = blocks(text)
    lines = text.split("\n")
    quick = lines.index("## Quick start") + 1
    quick_end = next(i + 1 for i in range(quick, len(lines)) if lines[i].startswith("## "))
    rust = [b for b in found if b[0].split(",")[0] == "rust"]
    toml = [b[1] for b in found if b[0] == "toml" and "[dependencies]" in b[1]]
    shells = [b for b in found if b[0] == "sh" and STATUS_COMMENT.search(b[1])]
    built = build(rust, toml)

    ran = 0
    for name, info, _, line in built:
        if "no_run" in info or "ignore" in info:
            continue
        subprocess.run([binary(name)], check=True, timeout=60)
        ran += 1
    print(f"{ran} README Rust blocks ran on their own", flush=True)

    servers = [b for b in built if "no_run" in b[1] and "server::serve" in b[2]]
    if not servers or servers[0][3] > quick_end:
        fail("no Quick start server block")
    name, _, _, line = servers[0]
    process = serve([binary(name)], "the Quick start", read_output=True)
    printed = process.stdout.readline()
    if f"127.0.0.1:{PORT}" not in printed:
        stop(process)
        fail(f"the Quick start does not print its address (printed {printed!r})")
    checked = 0
    try:
        for info, body, start in shells:
            if quick <= start <= quick_end:
                checked += check_statuses(body, "the Quick start server")
    finally:
        stop(process)

    subprocess.run(["cargo", "build", "--quiet", "--example", "server"], cwd=ROOT, check=True)
    demo = serve([os.path.join(TARGET, "debug", "examples", "server"), "--addr",
                  f"127.0.0.1:{PORT}"], "the demo server")
    try:
        for info, body, start in shells:
            if not quick <= start <= quick_end:
                checked += check_statuses(body, "the demo server")
        clients = [b for b in built if "no_run" in b[1] and "McpClient" in b[2]]
        for name, _, _, line in clients:
            print(f"README client block (line {line}) against the demo", flush=True)
            subprocess.run([binary(name)], check=True, timeout=60)
            ran += 1
    finally:
        stop(demo)
    print(f"README: {len(built)} Rust blocks built, {ran} run, the Quick start served, "
          f"{checked} curl statuses as documented")


if __name__ == "__main__":
    main()
