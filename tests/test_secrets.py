"""Secrets stay secret: API keys (from QA_API_KEYS and from a keys file) and URL passwords never
appear in a report, a log line, an error message or a response; `qa key new` makes keys; a server
with no key at all says so, on start, in /readyz and on the chat page."""
from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import (
    ADMIN_KEY,
    PLAN,
    PROJECT_ROOT,
    READER_KEY,
    copy_index,
    private_server,
    start_server,
    stop_server,
)
from fastapi.testclient import TestClient
from playwright.sync_api import expect, sync_playwright
from test_chat_page import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS

from api.app import create_app
from api.auth import KeyRing
from qa.errors import InvalidArgument
from qa.settings import MASK, Settings, redact

NO_KEYS_PAGE = "本服务尚未配置访问密钥"
JOB_POLL_S = 900  # a cap for a busy machine, not a deadline


def run_qa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], check=False, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=PROJECT_ROOT, timeout=600)


# ----- settings: one place marks what is secret -----


def test_public_settings_mask_api_keys_and_url_passwords():
    s = Settings(api_keys="admin:k-admin-111,reader:k-reader-222", cors_origins="https://portal.example.cn",
                 embed_model="https://bob:pa@ss@models.example.cn/e5")
    public = s.public()
    assert public["api_keys"] == MASK
    assert public["embed_model"] == f"https://bob:{MASK}@models.example.cn/e5"
    assert public["cors_origins"] == "https://portal.example.cn"  # a URL without a password is left alone
    assert s.api_keys == "admin:k-admin-111,reader:k-reader-222"  # the value itself is untouched


def test_unset_secret_is_shown_as_unset():
    assert Settings(api_keys="").public()["api_keys"] == ""


def test_no_serialisation_or_repr_of_settings_shows_a_secret():
    s = Settings(api_keys="admin:k-admin-111", embed_model="postgresql://qa:db-pw-333@db/qa")
    for text in (s.model_dump_json(), json.dumps(s.model_dump(mode="json")), str(s.model_dump()), repr(s), str(s)):
        assert "k-admin-111" not in text and "db-pw-333" not in text


def test_setting_named_like_a_secret_is_masked_without_a_marker():
    class WithLlm(Settings):  # as a setting added later might be, without SECRET on its Field
        llm_api_key: str = ""
        db_password: str = ""

    s = WithLlm(llm_api_key="sk-llm-444", db_password="pw-555")
    assert s.public()["llm_api_key"] == MASK and s.public()["db_password"] == MASK
    assert "sk-llm-444" not in repr(s)


def test_keys_file_path_is_not_a_secret(tmp_path):
    assert not Settings.is_secret("api_keys_file")
    assert Settings(api_keys_file=tmp_path / "keys").public()["api_keys_file"] == str(tmp_path / "keys")


def test_invalid_setting_is_refused_without_echoing_its_value():
    with pytest.raises(ValueError) as e:
        Settings(port="postgresql://qa:db-pw-666@db/qa")
    assert "port" in str(e.value) and "db-pw-666" not in str(e.value)


def test_redact_masks_the_password_of_every_url_in_a_text():
    text = "milvus http://root:Milvus-777@m:19530 and redis://:r-888@cache:6379/0 and http://host/a@b"
    assert redact(text) == f"milvus http://root:{MASK}@m:19530 and redis://:{MASK}@cache:6379/0 and http://host/a@b"


# ----- keys: made by `qa key new`, never echoed -----


def test_key_new_prints_only_the_key_and_appends_it_to_a_private_keys_file(tmp_path):
    keys_file = tmp_path / "etc" / "qa" / "keys"  # the folder does not exist yet
    admin = run_qa("key", "new", "--role", "admin", "--file", str(keys_file))
    reader = run_qa("key", "new", "--file", str(keys_file))
    assert admin.returncode == 0 and reader.returncode == 0, admin.stderr + reader.stderr
    admin_key, reader_key = admin.stdout.strip(), reader.stdout.strip()
    assert len(admin_key) >= 40 and admin_key != reader_key
    assert admin.stdout == admin_key + "\n"  # stdout holds the key alone, for scripts
    assert f"QA_API_KEYS_FILE={keys_file}" in admin.stderr
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert keys_file.read_text() == f"admin:{admin_key}\nreader:{reader_key}\n"
    ring = KeyRing.from_settings(Settings(api_keys="", api_keys_file=keys_file))
    assert ring.identify(admin_key).role == "admin" and ring.identify(reader_key).role == "reader"


def test_key_new_starts_a_new_line_in_a_file_that_lacks_a_final_newline(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# 运维\nreader:old-key-1")
    out = run_qa("key", "new", "--file", str(keys_file))
    assert out.returncode == 0, out.stderr
    assert keys_file.read_text() == f"# 运维\nreader:old-key-1\nreader:{out.stdout.strip()}\n"


def test_key_new_warns_when_the_keys_file_is_readable_by_everyone(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("reader:old-key-1\n")
    keys_file.chmod(0o644)
    out = run_qa("key", "new", "--file", str(keys_file))
    assert out.returncode == 0 and "chmod o-rwx" in out.stderr
    keys_file.chmod(0o640)  # readable by the service's group: a deployment's choice, no warning
    assert "chmod" not in run_qa("key", "new", "--file", str(keys_file)).stderr


def test_key_new_without_a_file_only_prints_the_key():
    out = run_qa("key", "new", "--role", "admin")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert KeyRing([("admin", key)], False).identify(key).is_admin
    assert key not in out.stderr


def test_key_new_refuses_an_unknown_role(tmp_path):
    out = run_qa("key", "new", "--role", "root", "--file", str(tmp_path / "keys"))
    assert out.returncode != 0 and not (tmp_path / "keys").exists()


def test_malformed_keys_file_is_refused_without_echoing_its_lines(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("admin:good-key-1\nsuperuser:file-secret-999\n")
    with pytest.raises(InvalidArgument) as e:
        KeyRing.from_settings(Settings(api_keys="", api_keys_file=keys_file))
    assert str(keys_file) in e.value.message and "file-secret-999" not in e.value.message


def test_readyz_reports_that_keys_are_configured(corpus_service):
    settings = corpus_service.settings.model_copy(update={"api_keys": f"admin:{ADMIN_KEY},reader:{READER_KEY}"})
    with TestClient(create_app(settings, service=corpus_service)) as c:
        deadline = time.monotonic() + 900
        while (r := c.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.json()["auth"] == {"keys_configured": True, "anonymous_read": False}


# ----- a full run: serve, use, evaluate; then look for the keys everywhere -----


def _write_upload(tmp_path: Path) -> Path:
    doc = tmp_path / "密钥测试通报.txt"
    doc.write_text("某市市场监管局通报\n\n2024年全市新登记市场主体12345户，同比增长6.5%。\n", encoding="utf-8")
    return doc


def _exercise(url: str, admin: str, reader: str, upload: Path) -> list[str]:
    """Uses every kind of endpoint, with good keys, wrong ones and bad requests; returns everything
    the server sent back (status line, headers, body) as text."""
    seen: list[str] = []
    A, R = {"X-API-Key": admin}, {"Authorization": f"Bearer {reader}"}

    def record(r: httpx.Response) -> httpx.Response:
        seen.append(f"{r.status_code} {r.request.method} {r.request.url.path}\n{dict(r.headers)}\n{r.text}")
        return r

    with httpx.Client(base_url=url, timeout=60) as c:
        assert record(c.get(f"/?key={admin}")).status_code == 200  # the chat page opened with its key
        assert record(c.get("/readyz")).status_code == 200
        assert record(c.get("/healthz")).status_code == 200
        assert record(c.get("/api/v1/index", headers=R)).status_code == 200
        assert record(c.get("/api/v1/me", headers=A)).json()["role"] == "admin"
        assert record(c.post("/api/v1/ask", headers=R, json={"question": "2025年市场主体目标是多少？"})).status_code == 200
        assert record(c.post("/api/v1/search", headers=A, json={"query": "湖南查扣非法口罩"})).status_code == 200
        assert record(c.post("/api/v1/chat", headers=R, json={"question": "贵州2020年新设立市场主体多少户？"})).status_code == 200
        assert record(c.get("/api/v1/documents", headers=R)).status_code == 200
        assert record(c.get(f"/api/v1/documents/{PLAN}", headers=R)).status_code == 200
        with upload.open("rb") as f:
            job = record(c.post("/api/v1/documents", headers=A, files={"files": (upload.name, f)})).json()
        deadline = time.monotonic() + JOB_POLL_S
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.3)
            job = record(c.get(f"/api/v1/jobs/{job['job_id']}", headers=A)).json()
        assert job["status"] == "succeeded", job
        doc_id = job["files"][0]["doc_ids"][0]
        assert record(c.delete(f"/api/v1/documents/{doc_id}", headers=A)).status_code == 200
        # Refusals and errors: a wrong key that contains a real one, a wrong scheme, a reader's
        # write, no key, a missing document, a bad body.
        assert record(c.get("/api/v1/index", headers={"X-API-Key": admin + "x"})).status_code == 401
        assert record(c.get("/api/v1/index", headers={"Authorization": f"Basic {reader}"})).status_code == 401
        assert record(c.delete(f"/api/v1/documents/{PLAN}", headers=R)).status_code == 403
        assert record(c.get("/api/v1/index")).status_code == 401
        assert record(c.get("/api/v1/documents/没有这篇", headers=R)).status_code == 404
        assert record(c.post("/api/v1/ask", headers=A, json={"question": 5})).status_code == 422
        assert record(c.get("/metrics")).status_code == 200
    return seen


def test_no_artefact_of_a_full_run_contains_a_key(tmp_path, corpus_service, model_dir):
    keys_file = tmp_path / "secrets" / "keys"
    file_admin = run_qa("key", "new", "--role", "admin", "--file", str(keys_file)).stdout.strip()
    file_reader = run_qa("key", "new", "--role", "reader", "--file", str(keys_file)).stdout.strip()
    env_admin, env_reader = f"env-admin-{secrets.token_hex(12)}", f"env-reader-{secrets.token_hex(12)}"
    llm_key = f"sk-llm-{secrets.token_hex(12)}"  # a setting to come: must not leak even before it exists
    keys = [file_admin, file_reader, env_admin, env_reader, llm_key]
    assert all(keys)
    env = {"QA_API_KEYS": f"admin:{env_admin},reader:{env_reader}", "QA_API_KEYS_FILE": str(keys_file),
           "QA_LLM_API_KEY": llm_key}

    index_dir = copy_index(corpus_service, tmp_path / "kb")
    server = start_server(index_dir, model_dir, tmp_path / "server.log", **env)
    try:
        seen = _exercise(server.url, env_admin, file_reader, _write_upload(tmp_path))
        seen += _exercise(server.url, file_admin, env_reader, _write_upload(tmp_path))
    finally:
        stop_server(server)

    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text("".join((PROJECT_ROOT / "eval" / "seed_questions.jsonl").read_text(encoding="utf-8")
                                .splitlines(keepends=True)[:5]), encoding="utf-8")
    out = tmp_path / "report"
    ran = run_qa("eval", str(eval_set), "--index", str(index_dir), "--model", str(model_dir), "--out", str(out),
                 env=env)
    assert ran.returncode == 0, ran.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["api_keys"] == MASK  # the settings are still reported, masked
    assert report["settings"]["api_keys_file"] == str(keys_file)

    artefacts = {"server log": server.log.read_bytes(), "responses": "\n".join(seen).encode(),
                 "eval output": (ran.stdout + ran.stderr).encode()}
    artefacts |= {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    artefacts |= {str(p): p.read_bytes() for p in index_dir.rglob("*") if p.is_file()}  # jobs/ included
    assert any("/jobs/" in name for name in artefacts), "the upload left no job file to check"
    leaks = [(name, key) for name, data in artefacts.items() for key in keys if key.encode() in data]
    assert leaks == []


# ----- a server with no key at all -----


@pytest.fixture(scope="module")
def keyless_server(tmp_path_factory, corpus_service, model_dir):
    with private_server(tmp_path_factory, corpus_service, model_dir, "keyless",
                        QA_API_KEYS="", QA_ALLOW_ANONYMOUS_READ="false") as server:
        yield server


def test_readyz_reports_a_server_without_keys(keyless_server):
    r = httpx.get(f"{keyless_server.url}/readyz")
    assert r.status_code == 200
    assert r.json()["auth"] == {"keys_configured": False, "anonymous_read": False}


def test_server_without_keys_says_on_start_how_to_create_one(keyless_server):
    log = keyless_server.log.read_text()
    assert "未配置任何 API 密钥" in log and "qa key new --role admin" in log, log


def _in_own_thread(check) -> None:
    """Playwright's sync API will not start on a thread whose event loop is running, as it is while
    test_chat_page's session-wide browser is open; a thread of its own has none."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(check).result()


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_chat_page_on_a_server_without_keys_explains_instead_of_asking_for_one(keyless_server, width):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    foreign, errors = [], []

    def check():
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=VIEWPORTS[width], locale="zh-CN", reduced_motion="reduce")
            page = context.new_page()
            page.on("request", lambda r: r.url.startswith((keyless_server.url, "data:", "about:")) or foreign.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{keyless_server.url}/")
            banner = page.locator("#banner")
            expect(banner).to_contain_text(NO_KEYS_PAGE, timeout=20_000)
            expect(banner).to_contain_text("qa key new")
            expect(page.locator("#key-dialog")).to_be_hidden()
            expect(page.locator("#question")).to_be_disabled()
            expect(page.locator(".suggestion").first).to_be_disabled()
            page.screenshot(path=ARTIFACTS / f"no-keys-{width}.png")
            banner.get_by_role("button", name="重新检查").click()  # checks again, and still explains
            expect(banner).to_contain_text(NO_KEYS_PAGE)
            expect(page.locator("#key-dialog")).to_be_hidden()
            browser.close()

    _in_own_thread(check)
    assert foreign == [] and errors == []
