"""Operators, listed in registration order for the add-on's class tuple."""

from .expand import IMAGE_OT_transposer_expand, NODE_OT_transposer_expand, WM_OT_transposer_cancel

classes = (IMAGE_OT_transposer_expand, NODE_OT_transposer_expand, WM_OT_transposer_cancel)
