import uuid

from django.db import models


class Collection(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=100)


class Item(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    blurb = models.TextField(blank=True)
    price = models.FloatField()
    available = models.BooleanField(default=True)
    collections = models.ManyToManyField(Collection, related_name="items", blank=True)


class Photo(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="photos")
    file = models.ImageField(upload_to="photos/")
    position = models.PositiveSmallIntegerField(default=0)
