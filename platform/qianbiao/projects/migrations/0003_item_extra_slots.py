# Quality control raises an item's needed annotators when they disagree.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0002_assignment_history_and_leaner_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='item',
            name='extra_slots',
            field=models.PositiveSmallIntegerField(db_default=0, default=0, verbose_name='extra annotators'),
        ),
        migrations.AddConstraint(
            model_name='item',
            constraint=models.CheckConstraint(condition=models.Q(('extra_slots__lt', 10)), name='item_extra_slots_range'),
        ),
    ]
