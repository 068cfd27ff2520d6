from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("quality", "0003_result_rejected_db_default"),
    ]

    operations = [
        migrations.AddField(
            model_name="qualitypolicy",
            name="method_recheck_attempted_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
