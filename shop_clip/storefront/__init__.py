"""Storefront: HTML pages, template tags and a small script over the Python API.

A store includes the pages with one URL line (``path("shop/", include("shop_clip.storefront.urls"))``)
and puts ``{% load shop_clip %}`` tags on its own templates.  Every page works without JavaScript;
``static/shop_clip/shop_clip.js`` enhances them.  Pages and tags call ``shop_clip.search`` and
``shop_clip.look``, as store code does; query strings are read with ``shop_clip.api.params``.
"""
