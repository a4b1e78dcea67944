"""``queuectl web`` itself: it serves, it refuses unsafe binds, the core CLI does not
load the web extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import CLI
from tests.web.server import serving


def test_it_serves_the_dashboard_on_the_store(cli: CLI) -> None:
    cli("add", "echo served", check=True)
    with serving(cli) as url:
        response = httpx.get(f"{url}/jobs", timeout=5)
    assert response.status_code == 200
    assert "echo served" in response.text


def test_a_non_loopback_bind_needs_a_token_unless_read_only(cli: CLI, tmp_path: Path) -> None:
    result = cli("web", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "not loopback" in result.stderr
    short = tmp_path / "short-token"
    short.write_text("abc\n")
    result = cli("web", "--host", "0.0.0.0", "--token-file", str(short))
    assert result.returncode == 2
    assert "16 to 4096 characters" in result.stderr
    result = cli("web", "--host", "0.0.0.0", "--token-file", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "cannot read --token-file" in result.stderr


def test_a_token_file_guards_the_served_dashboard(cli: CLI, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-long-enough-secret-token\n")
    with serving(cli, "--token-file", str(token)) as url:
        assert httpx.get(f"{url}/", timeout=5).status_code == 401
        auth = {"authorization": "Bearer a-long-enough-secret-token"}
        assert httpx.get(f"{url}/", headers=auth, timeout=5).status_code == 200


def test_the_core_cli_does_not_import_the_web_extra() -> None:
    code = (
        "import sys\n"
        "from queuectl.cli import main\n"
        "try:\n"
        "    main(['list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'jinja2', 'uvicorn', 'httpx') or m.startswith('queuectl.web'))\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"
