"""Panels and menus."""
