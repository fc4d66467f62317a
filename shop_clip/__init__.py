"""shop-clip: CLIP-powered product discovery for Django stores."""

__version__ = "0.1.0"
