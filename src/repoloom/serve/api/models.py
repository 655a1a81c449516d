"""``GET /health`` (model, backend, queue and counters) and ``GET /v1/models``."""

from __future__ import annotations

from fastapi import APIRouter

from repoloom.serve.api.state import State

router = APIRouter()


@router.get("/health")
async def health(state: State) -> dict:
    backend = state.backend
    return {
        "status": "ok",
        "model": backend.model_id,
        "backend": state.backend_kind,
        "upstream_kind": getattr(backend, "kind", None),
        "fim_template": state.fim_template.name,
        "context_window": state.window,
        "queued": backend.queued,
        "stats": dict(backend.stats),
    }


@router.get("/v1/models")
async def models(state: State) -> dict:
    return {
        "object": "list",
        "data": [
            {
                "id": state.backend.model_id,
                "object": "model",
                "created": state.started,
                "owned_by": "repoloom",
                "max_model_len": state.window,
            }
        ],
    }
