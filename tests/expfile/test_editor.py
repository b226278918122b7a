"""Editors, for real: the YAML language server and an independent validator use our schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, missing

SERVER = (
    REPO
    / "tests"
    / "editor"
    / "node_modules"
    / "yaml-language-server"
    / "bin"
    / "yaml-language-server"
)
EXPFILE = """\
# yaml-language-server: $schema=expfile.schema.json
version: 1
name: lsp
hypothesis: a typo and a wrong type are both flagged
stges: {}
stages:
  run: {cmd: 42}
  fetch: {cmd: "true"}
"""


class LanguageServer:
    """A minimal LSP client over stdio: requests, notifications, and answers to the server."""

    def __init__(self, root: Path) -> None:
        self.process = subprocess.Popen(
            ["node", str(SERVER), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.next_id = 0
        self.root = root

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while line := self.process.stdout.readline().strip():
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        message: dict[str, Any] = json.loads(self.process.stdout.read(length))
        if "method" in message and "id" in message:  # the server asks us something
            settings = {"validate": True, "hover": True, "schemaStore": {"enable": False}}
            items = message.get("params", {}).get("items", [])
            answer = (
                [settings for _ in items]
                if message["method"] == "workspace/configuration"
                else None
            )
            self.send({"id": message["id"], "result": answer})
        return message

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == self.next_id and "method" not in message:
                return message.get("result")

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive()
            if message.get("method") == method and message["params"].get("diagnostics"):
                return message["params"]  # type: ignore[no-any-return]
        raise TimeoutError(method)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def server(tmp_path: Path):
    if shutil.which("node") is None or not SERVER.exists():
        missing("yaml-language-server is not installed: run `doit editor-deps`")
    shutil.copyfile(REPO / "expfile.schema.json", tmp_path / "expfile.schema.json")
    client = LanguageServer(tmp_path)
    client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": tmp_path.as_uri(),
            "capabilities": {"workspace": {"configuration": True}},
        },
    )
    client.send({"method": "initialized", "params": {}})
    client.send(
        {
            "method": "workspace/didChangeConfiguration",
            "params": {"settings": {"yaml": {"validate": True, "schemaStore": {"enable": False}}}},
        }
    )
    yield client
    client.close()


def test_language_server_flags_typo_and_wrong_type(server: LanguageServer, tmp_path: Path) -> None:
    document = tmp_path / "expfile.yaml"
    document.write_text(EXPFILE)
    server.send(
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {
                    "uri": document.as_uri(),
                    "languageId": "yaml",
                    "version": 1,
                    "text": EXPFILE,
                }
            },
        }
    )
    diagnostics = server.wait_for("textDocument/publishDiagnostics")["diagnostics"]
    found = {(d["range"]["start"]["line"], d["message"]) for d in diagnostics}
    assert (4, "Property stges is not allowed.") in found
    assert (6, 'Incorrect type. Expected "string".') in found
    assert all("expfile.schema.json" in d["data"]["schemaUri"][0] for d in diagnostics)

    hover = server.request(
        "textDocument/hover",
        {"textDocument": {"uri": document.as_uri()}, "position": {"line": 3, "character": 3}},
    )
    assert "What you expect the next run to show" in hover["contents"]["value"]


def test_independent_validator_accepts_schema_and_examples() -> None:
    check = [sys.executable, "-m", "check_jsonschema"]
    schema = REPO / "expfile.schema.json"
    result = subprocess.run(
        [*check, "--check-metaschema", str(schema)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    examples = sorted(str(p) for p in (REPO / "examples").glob("*/expfile.yaml"))
    valid = sorted(str(p) for p in (REPO / "tests/data/expfiles/valid").glob("*.yaml"))
    assert len(examples) >= 2
    result = subprocess.run(
        [*check, "--schemafile", str(schema), *examples, *valid], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_independent_validator_rejects_what_we_reject() -> None:
    check = [
        sys.executable,
        "-m",
        "check_jsonschema",
        "--schemafile",
        str(REPO / "expfile.schema.json"),
    ]
    for name in ("unknown-top-key", "cmd-and-script", "bad-var-name", "prerun-is-string"):
        path = REPO / "tests/data/expfiles/invalid" / f"{name}.yaml"
        result = subprocess.run([*check, str(path)], capture_output=True, text=True)
        assert result.returncode == 1, name
