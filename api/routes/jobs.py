"""GET /jobs/{job_id}: the progress and outcome of an upload's ingest."""
from __future__ import annotations

from fastapi import APIRouter

from ..deps import Admin, RuntimeDep
from ..schemas import JobOut
from .responses import WRITE_ERRORS

router = APIRouter(tags=["文档"])


@router.get("/jobs/{job_id}", summary="导入任务进度", response_model=JobOut, responses=WRITE_ERRORS)
def get_job(job_id: str, who: Admin, rt: RuntimeDep) -> JobOut:
    """导入任务的状态（queued、running、succeeded、failed）、每个文件的结果和导入报告。"""
    return JobOut.model_validate(rt.jobs.get(job_id))
