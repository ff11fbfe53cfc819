"""Transposer desktop app: drop textures on a window, compare the expansion with the original, save.

Start it with `transposer-app` or `python -m desktop_app`; `transposer-app --help` lists the
headless options used for screenshots and checks.
"""
