"""The memory pages: /memories/…, /activity, /manage/overview."""

from django.urls import path

from memories import views

app_name = "memories"

urlpatterns = [
    path("memories/", views.memory_list_view, name="list"),
    path("memories/new", views.memory_create_view, name="create"),
    path("memories/bulk", views.memory_bulk_view, name="bulk"),
    path("memories/users/lookup", views.user_lookup_view, name="user_lookup"),
    path("memories/<uuid:memory_id>/", views.memory_detail_view, name="detail"),
    path("memories/<uuid:memory_id>/edit", views.memory_edit_view, name="edit"),
    path("memories/<uuid:memory_id>/delete", views.memory_delete_view, name="delete"),
    path("memories/<uuid:memory_id>/restore", views.memory_restore_view, name="restore"),
    path("memories/<uuid:memory_id>/merge", views.memory_merge_view, name="merge"),
    path("memories/trash", views.trash_view, name="trash"),
    path("memories/trash/empty", views.trash_empty_view, name="trash_empty"),
    path("memories/import", views.import_view, name="import"),
    path("memories/import/<uuid:job_id>", views.import_job_view, name="import_job"),
    path("memories/import/<uuid:job_id>/status", views.import_job_status_view, name="import_job_status"),
    path("memories/import/<uuid:job_id>/start", views.import_job_action_view, {"action": "start"}, name="import_job_start"),
    path("memories/import/<uuid:job_id>/cancel", views.import_job_action_view, {"action": "cancel"}, name="import_job_cancel"),
    path("memories/import/<uuid:job_id>/undo", views.import_job_action_view, {"action": "undo"}, name="import_job_undo"),
    path("memories/import/<uuid:job_id>/redo", views.import_job_action_view, {"action": "redo"}, name="import_job_redo"),
    path("memories/export", views.export_view, name="export"),
    path("activity", views.activity_view, name="activity"),
    path("manage/overview", views.admin_overview_view, name="admin_overview"),
]
