"""The error responses each kind of route can give, for the OpenAPI page."""
from __future__ import annotations

from ..schemas import ErrorOut

_ERR = {"model": ErrorOut}

READ_ERRORS = {
    400: {**_ERR, "description": "请求体不是合法的 JSON"},
    401: {**_ERR, "description": "缺少或无效的 API 密钥"},
    422: {**_ERR, "description": "参数不合法（如问题为空或过长）"},
    429: {**_ERR, "description": "请求过于频繁"},
    503: {**_ERR, "description": "服务未就绪（索引或模型未加载）"},
}

# /ask and /chat: a `conversation_id` that is not the caller's (or does not exist) is a 404.
ASK_ERRORS = {**READ_ERRORS, 404: {**_ERR, "description": "conversation_id 所指的对话不存在（或不是调用者的）"}}

WRITE_ERRORS = {
    **READ_ERRORS,
    403: {**_ERR, "description": "需要管理员（admin）密钥"},
    404: {**_ERR, "description": "没有这个文档"},
    413: {**_ERR, "description": "文件过大或过多"},
    415: {**_ERR, "description": "不支持的文件类型"},
    507: {**_ERR, "description": "磁盘空间不足（在线索引未改变）"},
}
