"""Turn dropped paths into queue entries: folders are searched, PBR sets become one entry.

A PBR set is a group of files in one folder sharing a base name, told apart by a role suffix:
`bricks_color.png`, `bricks_normal.png`, `bricks_roughness.png`. The colour map guides the
expansion; the other maps are companions that the runtime expands with the same arrangement, so
they stay registered with it. Sets from the common libraries name roles differently (ambientCG:
`Bricks001_2K_NormalGL`, Poly Haven: `brick_wall_nor_gl_2k`), so a trailing resolution token
such as `2k` is ignored and several spellings of each role are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from transposer.runtime.files import IMAGE_SUFFIXES  # the one list of what the runtime reads

# Spellings seen in texture libraries, lower case, "_" standing for any separator.
GUIDE_ROLES = ("basecolor", "base_color", "basecolour", "base_colour", "albedo", "diffuse", "diff",
               "colour", "color", "col")
COMPANION_ROLES = {
    "normal": ("normal", "normalgl", "normaldx", "normal_gl", "normal_dx", "nor_gl", "nor_dx",
               "nrm", "nor", "norm"),
    "roughness": ("roughness", "rough", "rgh"),
    "height": ("height", "displacement", "disp", "bump"),
    "ao": ("ambientocclusion", "ambient_occlusion", "occlusion", "ao"),
    "metallic": ("metallic", "metalness", "metal"),
    "specular": ("specular", "spec"),
    "glossiness": ("glossiness", "gloss"),
    "opacity": ("opacity", "alpha", "mask"),
    "emission": ("emission", "emissive"),
}
_SEP = r"[_\-. ]"
_RESOLUTION = re.compile(rf"{_SEP}\d+k$", re.IGNORECASE)


@dataclass(frozen=True)
class TextureSet:
    guide: Path
    companions: tuple[tuple[str, Path], ...] = ()  # (role, path), roles as in COMPANION_ROLES

    @property
    def name(self) -> str:
        return self.guide.name


def collect_image_paths(paths) -> list[Path]:
    """Files as given (even unknown types: reading them will report the error), folders searched
    recursively for image files. Order kept, duplicates dropped."""
    seen: set[Path] = set()
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            candidates = [path]
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def split_role(path: Path) -> tuple[str, str | None]:
    """(base name, role) where role is "guide", a companion role, or None when no suffix matches.

    >>> split_role(Path("Bricks001_2K_NormalGL.png"))
    ('bricks001', 'normal')
    """
    stem = _RESOLUTION.sub("", path.stem)
    lowered = stem.lower()
    candidates = [(s, "guide") for s in GUIDE_ROLES]
    candidates += [(s, role) for role, spellings in COMPANION_ROLES.items() for s in spellings]
    # Longest spelling first, so "nor_gl" wins over "gl"-less "nor" and "basecolor" over "color".
    for spelling, role in sorted(candidates, key=lambda c: -len(c[0])):
        pattern = rf"{_SEP}{spelling.replace('_', _SEP)}$"
        match = re.search(pattern, lowered)
        if match and match.start() > 0:
            return lowered[: match.start()], role
    return lowered, None


def group_texture_sets(paths: list[Path], group: bool = True) -> list[TextureSet]:
    """One TextureSet per guide image. With `group`, files of a set that has a colour map are
    attached to it as companions; files of a set without one stay separate entries."""
    if not group:
        return [TextureSet(p) for p in paths]
    parsed = [(p, *split_role(p)) for p in paths]
    guides: dict[tuple[Path, str], Path] = {}
    for path, base, role in parsed:
        if role == "guide":
            guides.setdefault((path.parent, base), path)
    companions: dict[Path, list[tuple[str, Path]]] = {}
    attached: set[Path] = set()
    for path, base, role in parsed:
        guide = guides.get((path.parent, base))
        if guide is not None and role not in (None, "guide"):
            companions.setdefault(guide, []).append((role, path))
            attached.add(path)
    sets = []
    for path, _, _ in parsed:
        if path in attached:
            continue
        sets.append(TextureSet(path, tuple(companions.get(path, ()))))
    return sets
