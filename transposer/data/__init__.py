"""Training data: image folders, DTD and procedural textures, served as expansion pairs.

    ds = build_dataset(DataConfig(folders=["/work/shared/corpus/train"]), seed=0)
    item = ds[0]   # {"input": (3, S/2, S/2), "target": (3, S, S)}, float32 in [0, 1]
    ds.set_epoch(epoch)  # before each epoch, for fresh crops (DataLoader workers included)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .expansion import ExpansionDataset
from .folder import DataError, ImagePool, SkippedImageWarning, list_images

__all__ = ["DataConfig", "DataError", "ExpansionDataset", "SkippedImageWarning", "build_dataset"]


@dataclass
class DataConfig:
    folders: list[str] = field(default_factory=list)  # image folders, searched recursively
    dtd: bool = False  # add the Describable Textures Dataset (torchvision; downloads when online)
    dtd_root: str = "~/.cache/transposer/dtd"
    dtd_split: str = "train"  # train | val | test (official splits)
    dtd_partition: int = 1  # 1..10
    procedural_weight: float = 0.3  # fraction of samples from the procedural generator, 0..1
    crop_size: int = 256  # S, pixels: target S x S, input = its centre S/2 x S/2; multiple of 16, >= 32
    rescale: tuple[float, float] = (0.5, 1.0)  # random scale factor of the source before cropping
    flips: bool = True
    rot90: bool = True
    color_jitter: float = 0.05  # max relative change of contrast, white balance and brightness, 0..0.5
    samples_per_epoch: int = 10000
    min_image_size: int = 0  # images with a shorter side below this are skipped; 0 = crop_size // 2
    cache_images: bool = True  # keep decoded images in memory (uint8) when they fit cache_max_gb
    cache_max_gb: float = 2.0

    def __post_init__(self):
        if isinstance(self.folders, str) or not all(isinstance(f, str) for f in self.folders):
            raise DataError(f"folders must be a list of folder paths, got {self.folders!r}")
        self.folders = list(self.folders)
        self.rescale = tuple(self.rescale)

        def bad(name, allowed):
            return DataError(f"{name} must be {allowed}, got {getattr(self, name)!r}")

        if not 0.0 <= self.procedural_weight <= 1.0:
            raise bad("procedural_weight", "in [0, 1]")
        if not isinstance(self.crop_size, int) or self.crop_size < 32 or self.crop_size % 16:
            raise bad("crop_size", "a multiple of 16 and >= 32 (the input, S/2, must be a multiple of 8)")
        lo_hi = self.rescale
        if len(lo_hi) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in lo_hi) \
                or not 0.05 <= lo_hi[0] <= lo_hi[1] <= 8.0:
            raise bad("rescale", "(lo, hi) with 0.05 <= lo <= hi <= 8")
        if not 0.0 <= self.color_jitter <= 0.5:
            raise bad("color_jitter", "in [0, 0.5]")
        if not isinstance(self.samples_per_epoch, int) or self.samples_per_epoch < 1:
            raise bad("samples_per_epoch", "an integer >= 1")
        if not isinstance(self.min_image_size, int) or self.min_image_size < 0:
            raise bad("min_image_size", "an integer >= 0 (0 = crop_size // 2)")
        if not self.cache_max_gb >= 0:
            raise bad("cache_max_gb", ">= 0")
        if self.dtd_split not in ("train", "val", "test"):
            raise bad("dtd_split", "one of train, val, test")
        if not isinstance(self.dtd_partition, int) or not 1 <= self.dtd_partition <= 10:
            raise bad("dtd_partition", "an integer in 1..10")

    @property
    def min_size(self) -> int:
        return self.min_image_size or self.crop_size // 2


def build_dataset(cfg: DataConfig, seed: int = 0) -> ExpansionDataset:
    """Scan (and by default decode) the real images, then wrap them in an ExpansionDataset."""
    pool = None
    if cfg.procedural_weight < 1.0:
        paths = [p for folder in cfg.folders for p in list_images(folder)]
        if cfg.dtd:
            from .dtd import dtd_image_paths

            paths += dtd_image_paths(cfg.dtd_root, cfg.dtd_split, cfg.dtd_partition)
        if not paths:
            raise DataError(
                f"no images: folders={cfg.folders!r}, dtd={cfg.dtd} give no image files but "
                f"procedural_weight={cfg.procedural_weight} < 1; add folders or set procedural_weight = 1.0"
            )
        pool = ImagePool(paths, cfg.min_size, cfg.cache_images, int(cfg.cache_max_gb * 2**30))
        if not len(pool):
            where = f"folders={cfg.folders!r}" + (" and DTD" if cfg.dtd else "")
            raise DataError(f"none of the {len(paths)} image files in {where} is usable (see the warnings above)")
    return ExpansionDataset(cfg, pool, seed)
