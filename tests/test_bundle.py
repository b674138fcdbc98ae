"""The offline bundle end to end: `scripts/build_bundle.py` builds it, the README's install commands
install it where no network can be reached, and the installed `qa` (not this checkout's) answers,
serves the web chat, and runs behind the example nginx; the systemd unit is checked as written.

The build reuses the wheel cache in build/wheelhouse (the first run downloads the wheels). The module
takes a few minutes, most of it pip unpacking torch and the first embedding of the corpus; it leaves
nothing behind (the bundle, its contents and the installation come to about 5 GB).
"""
from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import READER_KEY, _free_port, wait_for

from qa.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.bundle
log = logging.getLogger(__name__)

QUESTION = "2025年市场主体目标是多少？"
VERSION = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def readme_install_block() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- deploy-install -->\s*```bash\n(.*?)```\s*<!-- /deploy-install -->", readme, re.DOTALL)
    assert section, "README has no deploy-install block"
    return section.group(1)


@functools.cache
def can_isolate_network() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--net", "true"], capture_output=True).returncode == 0


def offline(cmd: list[str]) -> list[str]:
    """`cmd` in a network namespace of its own (no interface but a downed loopback) where the
    kernel lets us make one; pip is also told there is no index, either way."""
    return ["unshare", "--net", *cmd] if can_isolate_network() else cmd


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the checkout (its virtualenv, QA_ settings) and with pip kept off the network."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "QA_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(PROJECT_ROOT))
    return {**env, "PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/unreachable", "PIP_EXTRA_INDEX_URL": "",
            "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull, **extra}


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # The timeout only keeps a hung install from hanging the suite.
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False)


@dataclass(frozen=True)
class Installed:
    bundle: Path    # the extracted bundle folder
    prefix: Path
    data_dir: Path
    output: str     # what the README's commands printed
    root: Path


@pytest.fixture(scope="module")
def installed(tmp_path_factory, model_dir) -> Installed:
    root = tmp_path_factory.mktemp("bundle")
    t0 = time.perf_counter()
    built = run([sys.executable, str(PROJECT_ROOT / "scripts" / "build_bundle.py"), "--out", str(root / "dist"),
                 "--model", str(model_dir)], cwd=root)
    assert built.returncode == 0, built.stderr[-3000:]
    (tar,) = (root / "dist").glob("qa-bundle-*.tar")
    t1 = time.perf_counter()

    block = readme_install_block()
    readme_name = re.search(r"tar xf (qa-bundle-\S+)\.tar", block).group(1)
    assert readme_name.startswith(f"qa-bundle-{VERSION}-"), "the README names another version's bundle"
    prefix, data_dir = root / "opt" / "qa", root / "var" / "lib" / "qa"
    script = (block.replace(readme_name, tar.name.removesuffix(".tar"))
              .replace("/opt/qa", str(prefix)).replace("/var/lib/qa", str(data_dir)))
    out = run(offline(["bash", "-euo", "pipefail", "-c", script]), cwd=tar.parent, env=clean_env())
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    log.info("bundle %.0f MB built in %.0f s; README install %s in %.0f s", tar.stat().st_size / 1e6, t1 - t0,
             "in a network namespace" if can_isolate_network() else "with pip offline", time.perf_counter() - t1)
    tar.unlink()
    yield Installed(tar.parent / tar.name.removesuffix(".tar"), prefix, data_dir, out.stdout + out.stderr, root)
    subprocess.run(["rm", "-rf", str(root)], check=False)  # ~50,000 files: faster than shutil.rmtree


def test_readme_install_commands_work_offline_and_the_installed_qa_answers(installed):
    assert "650万户" in installed.output


def test_the_installed_package_is_used_with_its_web_assets_not_the_checkout(installed, tmp_path):
    probe = "import qa, api.app; print(qa.__file__); print(api.app.STATIC / 'index.html')"
    out = run([str(installed.prefix / "venv" / "bin" / "python"), "-c", probe], cwd=tmp_path, env=clean_env())
    assert out.returncode == 0, out.stderr
    module, page = map(Path, out.stdout.split())
    assert module.is_relative_to(installed.prefix) and page.is_relative_to(installed.prefix)
    assert page.is_file()
    env = dict(line.split("=", 1) for line in (installed.prefix / "etc" / "qa.env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert env["QA_EMBED_MODEL"] == str(installed.prefix / "model" / "multilingual-e5-small")
    assert env["QA_CORPUS_DIR"] == str(installed.prefix / "corpus")
    assert env["QA_INDEX_DIR"] == str(installed.data_dir / "index")


def test_installing_the_same_bundle_again_changes_nothing(installed):
    index = installed.data_dir / "index"
    live, versions = os.readlink(index / "CURRENT"), sorted(p.name for p in (index / "versions").iterdir())
    out = run(offline(["./install.sh", "--prefix", str(installed.prefix), "--data-dir", str(installed.data_dir)]),
              cwd=installed.bundle, env=clean_env())
    assert out.returncode == 0, out.stderr[-3000:]
    assert os.readlink(index / "CURRENT") == live
    assert sorted(p.name for p in (index / "versions").iterdir()) == versions


def test_a_damaged_bundle_is_refused_before_anything_is_installed(installed, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-al", str(installed.bundle), str(copy)], check=True)  # hard links: no 1 GB copy
    damaged = copy / "corpus" / "湖南省十四五市场监管规划.txt"
    text = damaged.read_text(encoding="utf-8")
    damaged.unlink()  # a new file, not a write through the shared link
    damaged.write_text(text.replace("650", "550"), encoding="utf-8")
    out = run(["./install.sh", "--prefix", str(tmp_path / "qa"), "--data-dir", str(tmp_path / "data")],
              cwd=copy, env=clean_env())
    shutil.rmtree(copy)  # its links would keep the bundle's 1 GB on disk after the module's cleanup
    assert out.returncode != 0
    assert "corpus/湖南省十四五市场监管规划.txt: FAILED" in out.stdout + out.stderr
    assert not (tmp_path / "qa").exists() and not (tmp_path / "data").exists()


def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value), ...]}: keys may repeat (EnvironmentFile)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"not a unit line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_runs_the_installed_qa_confined_to_its_data_directory(installed):
    unit = unit_entries(installed.prefix / "etc" / "qa.service")
    service = unit["Service"]
    values = dict(service)
    assert values["ExecStart"] == f"{installed.prefix}/venv/bin/qa serve"
    assert os.access(values["ExecStart"].split()[0], os.X_OK)
    assert [v for k, v in service if k == "EnvironmentFile"] == [f"{installed.prefix}/etc/qa.env", "/etc/qa/qa.env"]
    assert values["User"] == "qa" and values["ProtectSystem"] == "strict"
    assert values["ReadWritePaths"] == str(installed.data_dir) == values["WorkingDirectory"]
    assert values["PrivateTmp"] == values["NoNewPrivileges"] == "yes"
    assert values["Restart"] == "on-failure"
    assert dict(unit["Install"])["WantedBy"] == "multi-user.target"


def test_systemd_unit_passes_systemd_analyze_verify(installed):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    unit = installed.prefix / "etc" / "qa.service"
    out = run(["systemd-analyze", "verify", str(unit)], cwd=installed.root)
    # Only what concerns this unit: the host's own units may draw warnings of their own.
    ours = [line for line in out.stderr.splitlines() if "qa.service" in line]
    assert out.returncode == 0 and ours == [], out.stderr


# ----- the installed service, alone and behind the example nginx -----

@dataclass(frozen=True)
class Served:
    url: str
    log: Path


@pytest.fixture(scope="module")
def served(installed) -> Served:
    port, log_file = _free_port(), installed.root / "serve.log"
    env = clean_env(QA_API_KEYS=f"reader:{READER_KEY}", QA_PORT=str(port))
    with open(log_file, "w") as out:
        proc = subprocess.Popen([str(installed.prefix / "bin" / "qa"), "serve"], cwd=installed.root, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/readyz", proc, log_file)
        yield Served(url, log_file)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until_ready(url: str, proc: subprocess.Popen, log: Path, **client) -> None:
    for _ in range(600):  # ~3 minutes of polling: a hang protection, not a timing assertion
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2, **client).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready:\n{log.read_text()[-3000:]}")


def test_installed_qa_serve_serves_the_web_chat_and_answers(served):
    page = httpx.get(f"{served.url}/", timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert httpx.get(f"{served.url}/static/app.js", timeout=30).status_code == 200
    answer = httpx.post(f"{served.url}/api/v1/ask", json={"question": QUESTION},
                        headers={"X-API-Key": READER_KEY}, timeout=60).json()
    assert answer["answer"] == "650万户"


def nginx_config(tmp_path: Path, backend: str = "127.0.0.1:8000", https: int = 443, http: int = 80) -> Path:
    """deploy/nginx.conf inside a minimal main configuration, with a self-signed certificate in tmp_path."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=qa.test",
                    "-keyout", str(tmp_path / "qa.key"), "-out", str(tmp_path / "qa.crt")],
                   check=True, capture_output=True)
    site = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    site = (site.replace("/etc/nginx/tls/", f"{tmp_path}/").replace("127.0.0.1:8000", backend)
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
            .replace("listen 80;", f"listen 127.0.0.1:{http};"))
    (tmp_path / "qa.conf").write_text(site, encoding="utf-8")
    main = tmp_path / "nginx.conf"
    main.write_text(f"""{"user root;" if os.geteuid() == 0 else ""}
pid {tmp_path}/nginx.pid;
events {{}}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    include {tmp_path}/qa.conf;
}}
""", encoding="utf-8")
    return main


def test_example_nginx_config_passes_nginx_t_with_the_upload_limit_of_the_settings(tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; `make test` installs it)")
    site = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    s = Settings()
    upload_mb = (s.max_upload_bytes * s.max_upload_files + 2**20) // 2**20  # the API's own limit, with the form
    assert re.search(r"location = /api/v1/documents \{[^}]*client_max_body_size " + str(upload_mb) + "m;", site)
    assert re.search(r"location = /api/v1/chat \{[^}]*proxy_buffering off;[^}]*X-Accel-Buffering no", site)
    conf = nginx_config(tmp_path)
    out = run(["nginx", "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "error.log")], cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_example_nginx_streams_the_chat_and_drops_a_forged_forwarded_for(served, tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; `make test` installs it)")
    https = _free_port()
    conf = nginx_config(tmp_path, backend=served.url.removeprefix("http://"), https=https, http=_free_port())
    proc = subprocess.Popen(["nginx", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "error.log"),
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"https://127.0.0.1:{https}"
        wait_until_ready(f"{url}/readyz", proc, tmp_path / "error.log", verify=False)
        with httpx.stream("POST", f"{url}/api/v1/chat", json={"question": QUESTION}, verify=False, timeout=60,
                          headers={"X-API-Key": READER_KEY, "X-Forwarded-For": "203.0.113.9"}) as r:
            assert r.status_code == 200 and r.headers["x-accel-buffering"] == "no"
            assert r.headers["content-type"].startswith("text/event-stream")
            events = re.findall(r"^event: (\w+)$", r.read().decode("utf-8"), re.MULTILINE)
            request_id = r.headers["x-request-id"]
        assert events[-1] == "done" and "answer" in events
        # the access log line is written once the stream has ended, a moment after the client has it all
        (line,) = wait_for(lambda: [ln for ln in served.log.read_text(encoding="utf-8").splitlines()
                                    if request_id in ln], lambda: served.log.read_text(encoding="utf-8")[-2000:])
        assert '"client": "127.0.0.1"' in line and "203.0.113.9" not in line
    finally:
        proc.terminate()
        proc.wait(timeout=60)
