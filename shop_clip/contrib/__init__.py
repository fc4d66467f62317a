"""Presets for shop frameworks.  Each subpackage imports its framework only when a store names it;
the core never imports them."""
