"""Account URLs: /register, /login, /logout, password change and reset, settings."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from picard import account_views, manage_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("register", account_views.register, name="register"),
    path("login", auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("manage/clients", manage_views.clients_view, name="manage_clients"),
    path("manage/clients/<str:client_id>/disable", manage_views.client_state_view, {"action": "disable"}, name="manage_client_disable"),
    path("manage/clients/<str:client_id>/enable", manage_views.client_state_view, {"action": "enable"}, name="manage_client_enable"),
    path("account/settings", account_views.account_settings, name="account_settings"),
    path("account/password", auth_views.PasswordChangeView.as_view(template_name="accounts/password_change.html"), name="password_change"),
    path("account/password/done", auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html"), name="password_change_done"),
    path(
        "password-reset",
        auth_views.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
        ),
        name="password_reset",
    ),
    path("password-reset/sent", auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_sent.html"), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>",
        auth_views.PasswordResetConfirmView.as_view(template_name="accounts/password_reset_confirm.html", success_url=reverse_lazy("password_reset_complete")),
        name="password_reset_confirm",
    ),
    path("password-reset/done", auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"), name="password_reset_complete"),
]
