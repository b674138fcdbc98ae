"""The README's curl examples, run exactly as written against a real server on loopback."""
from __future__ import annotations

import json
import re
import subprocess

from conftest import ADMIN_KEY, READER_KEY, WAIT_CAP_S

from qa.settings import PROJECT_ROOT


def readme_examples() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- api-examples -->\s*```bash\n(.*?)```\s*<!-- /api-examples -->", readme, re.DOTALL)
    assert section, "README has no api-examples block"
    return section.group(1)


def json_values(text: str) -> list:
    """curl prints bodies back to back, without newlines between them."""
    decoder, values, pos = json.JSONDecoder(), [], 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        value, pos = decoder.raw_decode(text, pos)
        values.append(value)
    return values


def test_readme_curl_examples_run_against_a_real_server(own_server, tmp_path):
    # The examples upload and delete: a server of its own. The timeout is a safety cap only.
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_examples()], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT_CAP_S,
                         env={"PATH": "/usr/bin:/bin", "QA": own_server.url, "KEY": READER_KEY, "ADMIN": ADMIN_KEY})
    assert out.returncode == 0, out.stderr
    bodies = json_values(out.stdout)
    first, follow_up, search, job, new_answer, deleted = bodies
    assert first["answer"] == "650万户" and "488.84" in follow_up["answer"]
    assert search["hits"] and all("湖南" in h["region"] for h in search["hits"])
    assert job["status"] == "succeeded" and new_answer["answer"] == "217家"
    assert deleted["removed"] == ["宠物医院通报"]
