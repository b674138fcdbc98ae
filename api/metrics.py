"""Prometheus metrics at /metrics: request counts and latencies by route (the instrumentator),
answers found / not found, index size, ingest jobs. Each app has its own registry, so apps built
side by side (tests) do not collide in a process-wide one."""
from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_fastapi_instrumentator import Instrumentator


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.answers = Counter("qa_answers_total", "Answers given by /ask and /chat, by whether one was found",
                               ["found"], registry=self.registry)
        self.ingest_jobs = Counter("qa_ingest_jobs_total", "Finished ingest jobs, by outcome", ["status"],
                                   registry=self.registry)
        # Feedback given (or changed to another kind) on answers, by knowledge base, vote and 👎 reason.
        self.feedback = Counter("qa_feedback_total", "Feedback given on answers, by knowledge base, vote and reason",
                                ["kb", "vote", "reason"], registry=self.registry)
        self.index_documents = Gauge("qa_index_documents", "Documents in the live index", registry=self.registry)
        self.index_chunks = Gauge("qa_index_chunks", "Chunks in the live index", registry=self.registry)

    def install(self, app: FastAPI) -> None:
        Instrumentator(registry=self.registry, excluded_handlers=["/metrics"], should_group_status_codes=False
                       ).instrument(app).expose(app, include_in_schema=False)

    def answered(self, found: bool) -> None:
        self.answers.labels(found=str(found).lower()).inc()

    def feedback_given(self, kb: str, vote: str, reason: str) -> None:
        self.feedback.labels(kb=kb, vote=vote, reason=reason or "none").inc()

    def index_size(self, documents: int, chunks: int) -> None:
        self.index_documents.set(documents)
        self.index_chunks.set(chunks)
