"""FAB's own English API answers (404 "Not found", 400 "Request is not JSON", 500 "Fatal error") in Chinese."""

from __future__ import annotations

from typing import Any

_FAB_MESSAGES = {"Request is not JSON": "请求内容应为 JSON（Content-Type: application/json）",
                 "Not a valid rison/json argument": "查询参数 q 的格式不对，请检查后重试",
                 "Not a valid rison argument": "查询参数 q 的格式不对，请检查后重试"}
"""FAB's own English answers that reach API users, in Chinese (other texts pass as they are)."""


class ChineseAnswers:
    """Mixed into the base API before ``ModelRestApi``: FAB's answer helpers, with Chinese texts."""

    response: Any

    def response_400(self, message: Any = None) -> Any:
        text = _FAB_MESSAGES.get(message, message) if isinstance(message, str) else message
        return self.response(400, message=text or "请求参数不对，请检查后重试")

    def response_404(self) -> Any:
        return self.response(404, message="没有这条记录（或不在本县），请检查编号")

    def response_422(self, message: Any = None) -> Any:
        return self.response(422, message=message or "数据无法处理，请检查后重试")

    def response_500(self, message: Any = None) -> Any:
        return self.response(500, message="服务器内部错误，请稍后重试；仍然不行请联系县管理员")
