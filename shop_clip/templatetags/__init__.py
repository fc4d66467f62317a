"""Template tags: ``{% load shop_clip %}`` (templatetags/shop_clip.py)."""
