"""Fashion-MNIST from the IDX files shipped by Debian's `dataset-fashion-mnist`."""
import gzip
import os
import struct

import numpy as np
import torch

DEFAULT_DIR = '/usr/share/datasets/fashion-mnist'
CLASS_NAMES = [
    'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
    'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]


class DatasetError(RuntimeError):
    pass


def _read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    magic, = struct.unpack('>I', data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f'{path}: expected {int(np.prod(dims))} values, found {arr.size} (truncated file?)')
    return arr.reshape(dims)


def _find(root, stem):
    for name in (stem + '.gz', stem):
        p = os.path.join(root, name)
        if os.path.exists(p):
            return p
    raise DatasetError(f'{os.path.join(root, stem)}(.gz) not found; install the Debian package '
                       f'dataset-fashion-mnist or pass --data DIR')


def load(split='train', root=DEFAULT_DIR):
    """Returns (images uint8 [N,28,28], labels int64 [N]) for split 'train' or 'test'."""
    if not os.path.isdir(root):
        raise DatasetError(f'dataset folder {root!r} does not exist; install the Debian package '
                           f'dataset-fashion-mnist or pass --data DIR')
    prefix = 'train' if split == 'train' else 't10k'
    images = _read_idx(_find(root, f'{prefix}-images-idx3-ubyte'))
    labels = _read_idx(_find(root, f'{prefix}-labels-idx1-ubyte')).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f'{split}: {images.shape[0]} images but {labels.shape[0]} labels')
    return images, labels


def to_tensor(images):
    """uint8 [N,28,28] -> float32 [N,1,28,28] in [-1, 1] (the VQ-VAE's input range)."""
    x = torch.from_numpy(np.array(images, dtype=np.float32)).div_(127.5).sub_(1.0)
    return x.unsqueeze(1)
