"""The caller's conversations: list, read again (answers and citations as they were), rename, delete.

A conversation belongs to the API key that asked in it (anonymous: to the browser's X-Client-ID);
an admin reads everyone's. Someone else's conversation is answered 404, as one that does not exist.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from qa.errors import ConversationNotFound
from qa.records import Records

from ..deps import RecordsDep, ViewerDep
from ..record_schemas import (
    ConversationDetailOut,
    ConversationListOut,
    ConversationOut,
    DeletedOut,
    RenameIn,
    TurnOut,
)
from ..schemas import ErrorOut

router = APIRouter(tags=["对话记录"])

_ERR = {"model": ErrorOut}
ERRORS = {
    400: {**_ERR, "description": "请求体不是合法的 JSON"},
    401: {**_ERR, "description": "缺少或无效的 API 密钥"},
    404: {**_ERR, "description": "没有这个对话（或不是调用者的对话）"},
    422: {**_ERR, "description": "参数不合法"},
    429: {**_ERR, "description": "请求过于频繁"},
}
ConversationId = Annotated[str, Path(max_length=64, description="对话编号")]


def _store(records: Records | None, conversation_id: str) -> Records:
    if records is None:  # QA_RECORDS=off: nothing is kept, so no conversation exists
        raise ConversationNotFound(f"没有编号为 {conversation_id} 的对话（服务未开启问答记录）")
    return records


@router.get("/conversations", summary="对话列表", response_model=ConversationListOut,
            responses={k: v for k, v in ERRORS.items() if k != 404})
def list_conversations(viewer: ViewerDep, records: RecordsDep,
                       limit: Annotated[int, Query(ge=1, le=200, description="最多返回多少个")] = 50,
                       offset: Annotated[int, Query(ge=0, le=1_000_000, description="跳过前多少个")] = 0,
                       all: Annotated[bool, Query(description="管理员：列出所有人的对话（否则只列自己的）")] = False,
                       ) -> ConversationListOut:
    """调用者的对话，最近的在前；标题为第一个问题（可重命名）。

    匿名读取时，对话归属于请求头 `X-Client-ID` 所给的浏览器编号；不带它时列表为空。
    """
    if records is None:
        return ConversationListOut(records="off", conversations=[])
    owner = None if all and viewer.admin else viewer.owner
    return ConversationListOut(records=records.mode, conversations=[
        ConversationOut.of(c) for c in records.conversations(owner, limit, offset)])


@router.get("/conversations/{conversation_id}", summary="查看对话", response_model=ConversationDetailOut,
            responses=ERRORS)
def get_conversation(conversation_id: ConversationId, viewer: ViewerDep, records: RecordsDep) -> ConversationDetailOut:
    """对话中的每一问，连同当时的回答与引用（只保存问题时，回答为 null）和评价。"""
    conv, turns = _store(records, conversation_id).conversation(conversation_id, viewer.reads)
    return ConversationDetailOut(**ConversationOut.of(conv).model_dump(), turns=[TurnOut.of(t) for t in turns])


@router.patch("/conversations/{conversation_id}", summary="重命名对话", response_model=ConversationOut,
              responses=ERRORS)
def rename_conversation(conversation_id: ConversationId, body: RenameIn, viewer: ViewerDep,
                        records: RecordsDep) -> ConversationOut:
    """改变对话的标题。"""
    return ConversationOut.of(_store(records, conversation_id).rename(conversation_id, viewer.reads, body.title))


@router.delete("/conversations/{conversation_id}", summary="删除对话", response_model=DeletedOut, responses=ERRORS)
def delete_conversation(conversation_id: ConversationId, viewer: ViewerDep, records: RecordsDep) -> DeletedOut:
    """删除对话及其中的全部问答和评价（不可恢复）。"""
    _store(records, conversation_id).delete_conversation(conversation_id, viewer.reads)
    return DeletedOut(deleted=conversation_id)
