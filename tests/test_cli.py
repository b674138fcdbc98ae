"""The `qa` command as a user runs it: a real process over a real index."""
import json
import os
import shutil
import subprocess
import sys

from conftest import PLAN, PROJECT_ROOT


def run_qa(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def _env(svc):
    return {"QA_INDEX_DIR": str(svc.settings.index_dir), "QA_EMBED_MODEL": svc.settings.embed_model}


def test_search_json_lists_ranked_chunks_with_all_ranks(corpus_service):
    out = run_qa("search", "2025年市场主体目标是多少", "--k", "3", "--json", env_extra=_env(corpus_service))
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["kind"] == "table_row" and "650" in hits[0]["text"]
    assert {"title", "section", "dense_rank", "bm25_rank", "score", "doc_id", "raw_start"} <= set(hits[0])


def test_docs_lists_documents_with_metadata_and_chunk_counts(corpus_service):
    out = run_qa("docs", "--json", env_extra=_env(corpus_service))
    assert out.returncode == 0, out.stderr
    docs = {d["doc_id"]: d for d in json.loads(out.stdout)}
    assert len(docs) == 5
    assert docs[PLAN]["date"] == "2021-08-18" and docs[PLAN]["chunks"] > 50


def test_search_without_an_index_explains_how_to_build_one(tmp_path, model_dir):
    out = run_qa("search", "市场主体", env_extra={"QA_INDEX_DIR": str(tmp_path / "none"),
                                                 "QA_EMBED_MODEL": str(model_dir)})
    assert out.returncode == 2
    assert "qa ingest" in out.stderr and "Traceback" not in out.stderr


def test_a_newcomers_first_question_builds_the_shipped_knowledge_base(tmp_path, model_dir):
    # A project of its own (the package, pyproject.toml and corpus/ copied), so that its default
    # index is missing as on a fresh checkout, without touching this checkout's index/.
    shutil.copytree(PROJECT_ROOT / "qa", tmp_path / "qa", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_ROOT / "corpus", tmp_path / "corpus")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {"QA_EMBED_MODEL": str(model_dir), "PYTHONPATH": str(tmp_path)}

    def search():
        return subprocess.run([sys.executable, "-m", "qa.cli", "search", "2025年市场主体目标是多少", "--json"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)

    first = search()
    assert first.returncode == 0, first.stderr
    assert "首次使用" in first.stderr and "650" in json.loads(first.stdout)[0]["text"]
    assert (tmp_path / "index" / "default" / "CURRENT").exists()
    again = search()
    assert again.returncode == 0 and "首次使用" not in again.stderr


def test_empty_query_is_refused_in_chinese(corpus_service):
    out = run_qa("search", "  ", env_extra=_env(corpus_service))
    assert out.returncode == 2 and "问题不能为空" in out.stderr
