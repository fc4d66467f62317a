from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('shop_clip', '0004_product_keyword_documents'),
    ]

    operations = [
        # Existing spaces get "": configured_space records the backend the next time it meets one.
        migrations.AddField(
            model_name='embeddingspace',
            name='backend',
            field=models.CharField(blank=True, default='', help_text="The encoder's dotted class path (empty: created before it was recorded).", max_length=500),
        ),
    ]
