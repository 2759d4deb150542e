"""``POST /api/tools`` (the MCP endpoint itself is mounted in picard/asgi.py)."""

from django.urls import path

from mcp_bridge import apis

app_name = "mcp_bridge"
urlpatterns = [
    path("api/tools", apis.ToolsApi.as_view(), name="api-tools"),
]
