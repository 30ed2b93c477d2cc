#!/usr/bin/env python3
"""The commands of the README and the docs, run as written against a `make run` stack of their own.

Every ```sh block of README.md, docs/*.md and events/README.md is a command a reader copies, so
each one runs here, in order, in its own `bash -euo pipefail` from the project root, and must
exit 0. An HTML comment on the line before a block (invisible once rendered) changes that:

    <!-- test: background -->       a server (`make run`): started as written, in the background;
                                    the blocks after it run once it prints READY, and it gets
                                    Ctrl-C at the end, like a reader's terminal
    <!-- test: skip: <reason> -->   not run here; the reason says why (an AWS account, a command
                                    that takes minutes, this test itself). A skip without a
                                    reason fails.

Two things differ from a reader's terminal, so that this can run beside another stack and so
that an example which stops working fails: the stack listens on a free port (PORT is set, and
`127.0.0.1:9000` in a block reads as that port), and `curl` fails on an HTTP error status
(`--fail-with-body`).

Without a stack, it also checks that every relative link of those files resolves inside the
repository; that docs/api.md names every operation of the OpenAPI document and nothing else, and
only schemas the document has; that the policies in deploy/ are well-formed IAM policy
documents; that every stack output docs/deploy.md reads is an output of template.yaml; and that
every parameter samconfig.toml sets is a parameter of template.yaml.

Prints one line per check, then `readme: N passed, N failed`; exits 1 if any failed.
Run from anywhere: python3 tests/readme/commands.py
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TIMEOUT = 600
READY_TIMEOUT = 900
# Commands a reader would type; other fences (json, text, diagrams) are not run.
SHELLS = {"sh", "bash", "shell"}
MARKER = re.compile(r"^\s*<!--\s*test:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`]*)$")
# What a reader's curl does not do: fail on an HTTP error, so that a broken example fails here.
PRELUDE = 'curl() { command curl --fail-with-body "$@"; }\n'

results = []


def report(ok, what, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'}  {what}", flush=True)
    if detail and not ok:
        print("\n".join("      " + line for line in detail.rstrip().splitlines()[-40:]), flush=True)


def documents():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "events" / "README.md"]
    return [f for f in files if f.exists()]


def blocks(path):
    """(line, language, marker, text) of each fenced block; text without the fence's indent."""
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, info = fence.group(1), fence.group(2), fence.group(3).strip()
        start = i + 1
        marker = None
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and MARKER.match(lines[j]):
            marker = MARKER.match(lines[j]).group(1)
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(ticks[0] * len(ticks)):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        language = info.split()[0].lower() if info else ""
        found.append((start, language, marker, "\n".join(body) + "\n"))
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_run_here(text, port):
    return text.replace("127.0.0.1:9000", f"127.0.0.1:{port}").replace("localhost:9000", f"localhost:{port}")


class Background:
    """A block that serves until Ctrl-C: its output goes to a log, READY says it is up."""

    def __init__(self, where, text, env):
        self.where = where
        self.log_path = ROOT / "target" / f"readme-{where.replace('/', '_').replace(':', '-')}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self.log = open(self.log_path, "w")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["bash", "-c", text], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, text=True, errors="replace")
        # Set when the output says READY, or ends (the server stopped before it was ready).
        self.url = None
        self.settled = threading.Event()
        self.reader = threading.Thread(target=self.copy_output, daemon=True)
        self.reader.start()

    def copy_output(self):
        """Copies the output to the log as it comes, and notes the READY line."""
        for line in self.process.stdout:
            if self.log.closed:  # stopped, and a child still held the output
                break
            self.log.write(line)
            self.log.flush()
            ready = re.match(r"READY (\S+)", line)
            if ready and self.url is None:
                self.url = ready.group(1)
                self.settled.set()
        self.settled.set()

    def wait_ready(self):
        self.settled.wait(READY_TIMEOUT)
        if self.url:
            return self.url, time.monotonic() - self.started
        return None, self.log_path.read_text(errors="replace")

    def stop(self):
        """Ctrl-C to its process group, as a terminal sends it; then harder, if need be."""
        for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        self.reader.join(timeout=10)
        self.log.close()
        return self.process.returncode


def run_block(text, env):
    """(ok, output, status) of one block, in a process group of its own: on a timeout, the whole
    group goes, not only its shell (a build it started would run on)."""
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", PRELUDE + text], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=BLOCK_TIMEOUT)
        status = f"exit {process.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        status = f"timed out after {BLOCK_TIMEOUT} s"
    return process.returncode == 0, output.decode(errors="replace"), status


def run_commands():
    port = free_port()
    env = dict(os.environ, PORT=str(port))
    servers = []
    try:
        for path in documents():
            name = path.relative_to(ROOT)
            for line, language, marker, text in blocks(path):
                if language not in SHELLS:
                    continue
                where = f"{name}:{line}"
                if marker is not None and marker.startswith("skip"):
                    reason = marker[len("skip"):].lstrip(":").strip()
                    report(bool(reason), f"{where} skipped: {reason or 'no reason given'}")
                    continue
                text = as_run_here(text, port)
                if marker == "background":
                    server = Background(where, text, env)
                    servers.append(server)
                    url, waited = server.wait_ready()
                    if url:
                        report(True, f"{where} `{text.strip().splitlines()[0]}` READY at {url} after {waited:.0f} s")
                    else:
                        report(False, f"{where} `{text.strip()}` never printed READY", waited)
                    continue
                if marker is not None:
                    report(False, f"{where}: unknown marker {marker!r}")
                    continue
                started = time.monotonic()
                ok, output, status = run_block(text, env)
                first = text.strip().splitlines()[0] if text.strip() else ""
                report(ok, f"{where} `{first}`{' …' if text.strip().count(chr(10)) else ''}"
                       f" ({time.monotonic() - started:.1f} s{'' if ok else ', ' + status})", output)
        if servers:
            check_api_md(port)
    finally:
        for server in servers:
            code = server.stop()
            report(code is not None, f"{server.where} stopped by Ctrl-C (exit {code})")


def check_links():
    link = re.compile(r"\[[^\]]*\]\(([^)\s]+)[^)]*\)")
    for path in documents():
        in_code, bad = False, []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FENCE.match(line):
                in_code = not in_code
                continue
            if in_code:
                continue
            targets = link.findall(line) + re.findall(r"`(\.\./[^`\s]+)`", line)
            for target in targets:
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                resolved = (path.parent / target.split("#")[0]).resolve()
                if ROOT not in [resolved, *resolved.parents]:
                    bad.append(f"line {number}: {target} is outside the repository")
                elif not resolved.exists():
                    bad.append(f"line {number}: {target} does not exist")
        report(not bad, f"{path.relative_to(ROOT)}: every relative link is a file of the repository", "\n".join(bad))


def check_api_md(port):
    """docs/api.md against the running stack's OpenAPI document."""
    page = (ROOT / "docs" / "api.md").read_text()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=30) as answer:
            document = json.load(answer)
    except OSError as err:
        report(False, f"docs/api.md: the stack's OpenAPI document: {err}")
        return

    def shape(path):
        return re.sub(r"\{[^}]*\}", "{}", path.removeprefix("/api/v1").rstrip("/") or "/")

    operations = {(method.upper(), shape(path)) for path, item in document["paths"].items() for method in item}
    named = {(m, shape(p)) for m, p in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", page)}
    missing = sorted(operations - named)
    unknown = sorted(named - operations)
    report(not missing and not unknown and len(named) > 0,
           f"docs/api.md names the {len(operations)} operations of the OpenAPI document, and no other",
           f"not on the page: {missing}\nnot in the document: {unknown}")
    schemas = set(document["components"]["schemas"])
    # Backticked CamelCase words are schema names, but for template parameters and outputs and
    # these few words.
    not_schemas = {"ETag", "Bearer"} | template_section("Parameters") | template_section("Outputs")
    named_schemas = set(re.findall(r"`([A-Z][a-z]+[A-Za-z]*)`", page)) - not_schemas
    unknown = sorted(named_schemas - schemas)
    report(not unknown and len(named_schemas) > 0,
           f"docs/api.md names {len(named_schemas)} schemas, all of the OpenAPI document",
           f"not in the document: {unknown}")


def template_section(name):
    """The keys of one top-level section of template.yaml (no YAML library: CloudFormation tags)."""
    text = (ROOT / "template.yaml").read_text()
    section = re.search(rf"^{name}:\n((?:[ \n].*\n?)*)", text, re.M)
    return set(re.findall(r"^  ([A-Za-z0-9]+):", section.group(1), re.M)) if section else set()


def check_deploy():
    for path in sorted((ROOT / "deploy").glob("*.json")):
        problems = []
        try:
            policy = json.loads(path.read_text())
        except ValueError as err:
            report(False, f"{path.relative_to(ROOT)} parses as JSON", str(err))
            continue
        if policy.get("Version") != "2012-10-17":
            problems.append('Version is not "2012-10-17"')
        statements = policy.get("Statement")
        if not isinstance(statements, list) or not statements:
            problems.append("no Statement list")
            statements = []
        for n, statement in enumerate(statements):
            sid = statement.get("Sid", f"statement {n}")
            if statement.get("Effect") not in ("Allow", "Deny"):
                problems.append(f"{sid}: Effect is neither Allow nor Deny")
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions
            if not actions or not all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", a) for a in actions):
                problems.append(f"{sid}: Action is not a list of service:Action")
            if "Resource" not in statement and "Principal" not in statement:
                problems.append(f"{sid}: neither Resource (a permissions policy) nor Principal (a trust policy)")
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if not all(r == "*" or r.startswith("arn:aws:") for r in resources):
                problems.append(f"{sid}: a Resource that is neither * nor an ARN")
        size = len(re.sub(r"\s", "", path.read_text()))
        if size > 10240:
            problems.append(f"{size} characters: over IAM's 10 240 for a role's inline policies")
        report(not problems, f"{path.relative_to(ROOT)} is a well-formed IAM policy ({len(statements)} statements)",
               "\n".join(problems))

    outputs = template_section("Outputs")
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    read = set(re.findall(r"OutputKey=='(\w+)'", deploy))
    # The outputs the steps name in prose: `Name` in the sentence that lists "the others".
    others = re.search(r"The others:(.*?)\n\n", deploy, re.S)
    read |= set(re.findall(r"`(\w+)`", others.group(1))) if others else set()
    missing = sorted(read - outputs)
    report(len(read) >= 2 and not missing,
           f"docs/deploy.md reads {len(read)} stack outputs, all outputs of template.yaml",
           f"not in template.yaml's Outputs: {missing}; found {sorted(read)}")

    parameters = template_section("Parameters")
    config = (ROOT / "samconfig.toml").read_text()
    overridden = set()
    for overrides in re.findall(r'^parameter_overrides\s*=\s*"([^"]*)"', config, re.M):
        overridden |= {pair.split("=", 1)[0] for pair in overrides.split()}
    unknown = sorted(overridden - parameters)
    report(len(overridden) > 0 and not unknown,
           f"samconfig.toml sets {len(overridden)} parameters, all parameters of template.yaml",
           f"not in template.yaml's Parameters: {unknown}")


def main():
    check_links()
    check_deploy()
    run_commands()
    failed = results.count(False)
    print(f"readme: {results.count(True)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
