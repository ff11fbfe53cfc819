"""The Describable Textures Dataset (Cimpoi et al., CVPR 2014) through `torchvision.datasets.DTD`.

Only the file list is taken from torchvision (its official train/val/test splits, partitions 1-10);
decoding, caching and sampling are shared with plain folders (see folder.ImagePool). The dataset is
downloaded (~600 MB) into `root` the first time when the machine is online.
"""
from __future__ import annotations

from pathlib import Path

from .folder import DataError

SPLITS = ("train", "val", "test")


def dtd_image_paths(root: str, split: str = "train", partition: int = 1) -> list[Path]:
    """Image files of one official DTD split; downloads the dataset when it is not in `root`."""
    if split not in SPLITS:
        raise DataError(f"dtd_split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not isinstance(partition, int) or not 1 <= partition <= 10:
        raise DataError(f"dtd_partition must be an integer in 1..10, got {partition!r}")
    from torchvision.datasets import DTD  # torchvision is a training dependency only

    root_path = Path(root).expanduser()
    try:
        ds = DTD(str(root_path), split=split, partition=partition, download=False)
    except RuntimeError:  # "Dataset not found": fetch it
        try:
            ds = DTD(str(root_path), split=split, partition=partition, download=True)
        except Exception as exc:  # URLError offline, checksum errors, disk full...
            raise DataError(
                f"dtd: the Describable Textures Dataset is not in {root_path} and could not be downloaded "
                f"({type(exc).__name__}: {exc}); download dtd-r1.0.1.tar.gz from "
                f"https://www.robots.ox.ac.uk/~vgg/data/dtd/ and unpack it into {root_path}/dtd/, or set dtd = false"
            ) from None
    return [Path(p) for p in ds._image_files]  # torchvision keeps the split's files here
