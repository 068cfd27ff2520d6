"""Issue an API key for a data enterprise; the key is printed once."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from qianbiao.api.keys import api_key_issue
from qianbiao.core.validators import normalize_credit_code
from qianbiao.enterprises.models import Enterprise


class Command(BaseCommand):
    help = "Issue an API key for the enterprise with this unified social credit code (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("credit_code", help="The enterprise's unified social credit code.")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'ETL server'.")

    def handle(self, *args, credit_code: str, name: str, **options):
        code = normalize_credit_code(credit_code)
        enterprise = Enterprise.objects.filter(credit_code=code).first()
        if enterprise is None:
            raise CommandError(f"No enterprise has the credit code {code}.")
        try:
            issued = api_key_issue(enterprise=enterprise, name=name)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(
            f"Key “{issued.api_key.name}” for {enterprise.name} ({enterprise.credit_code}). "
            "It is shown only now; Qianbiao keeps only its digest:"
        )
        self.stdout.write(issued.plaintext)
