"""One APIRouter per file; `api.app.create_app` mounts them under /api/v1."""
