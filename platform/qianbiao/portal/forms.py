"""The annotator's sign-in and activation forms. Both go through ``authenticate``,
so django-axes counts every failure against the employee number and IP."""

from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from qianbiao.workforce.models import Annotator, AnnotatorStatus

from .models import AnnotatorLogin


def username_for_employee_number(number: str) -> str:
    """The user behind an employee number; an unknown number maps to a username no
    user has, so that axes counts failures on it just the same."""
    login = AnnotatorLogin.objects.filter(annotator__code=number.strip()).only("user__username")
    login = login.select_related("user").first()
    return login.user.username if login else f"unknown-annotator:{number.strip()[:64]}"


class PortalLoginForm(AuthenticationForm):
    username = forms.CharField(label=_("Employee number"), max_length=32)
    error_messages = {
        "invalid_login": _("Wrong employee number or password."),
        "inactive": _("Your access to the annotator portal has ended."),
    }

    def clean(self):
        number = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if number and password:
            self.user_cache = authenticate(
                self.request, username=username_for_employee_number(number), password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user) -> None:
        # Staff sign in through the admin; here only annotators still employed.
        if not Annotator.objects.filter(login__user=user, status=AnnotatorStatus.ACTIVE).exists():
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")


class ActivationForm(forms.Form):
    employee_number = forms.CharField(label=_("Employee number"), max_length=32)
    code = forms.CharField(label=_("Activation code"), max_length=32)
    password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user = None
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        number, code = data.get("employee_number"), data.get("code")
        if not number or not code:
            return data
        self.user = authenticate(
            self.request, username=username_for_employee_number(number), activation_code=code
        )
        if self.user is None:
            raise forms.ValidationError(
                _("Wrong employee number or activation code, or the code has expired or was used."),
                code="invalid_code",
            )
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                password_validation.validate_password(first, self.user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
