"""Account pages: sign up, sign in/out (Django's views), password change/reset, settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from picard.account_forms import ProfileForm, RegisterForm


def home(request):
    if request.user.is_authenticated:
        return redirect("memories:list")
    return render(request, "home.html")


@require_http_methods(["GET", "POST"])
def register(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = ""
    if request.user.is_authenticated:
        return redirect(next_url or "memories:list")
    form = RegisterForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        user.display_name = form.cleaned_data.get("display_name", "")
        user.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Picard, {user.public_name}! Save your first memory below.")
        return redirect(next_url or reverse("memories:create"))
    return render(request, "accounts/register.html", {"form": form, "next": next_url}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request):
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Your settings are saved.")
            return redirect("account_settings")
        return render(request, "accounts/settings.html", {"form": form}, status=400)
    return render(request, "accounts/settings.html", {"form": form})
