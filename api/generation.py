"""Generated answers at the HTTP edge (qa/generate.py): the configured model, and whether a request wants it.

The model's client is built on the first request that needs it, once per app: with no model
configured (QA_LLM_BASE_URL unset) nothing is built and nothing changes.
"""
from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from qa.generate import Generator

from .deps import RuntimeDep

_building = threading.Lock()


def generator(request: Request, rt: RuntimeDep) -> Generator | None:
    if not rt.settings.llm_configured:
        return None
    state = request.app.state
    if (built := getattr(state, "generator", None)) is None:
        with _building:
            if (built := getattr(state, "generator", None)) is None:
                built = state.generator = Generator(rt.settings)
    return built


GeneratorDep = Annotated[Generator | None, Depends(generator)]


def wants_generation(requested: bool | None, gen: Generator | None) -> bool:
    """A request's `generate` as it says it; left out, on whenever a model is configured (the admin who
    configured one meant it to be used; a client that wants only the extractive answer sends false)."""
    return requested if requested is not None else gen is not None
