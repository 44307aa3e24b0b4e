"""Trainer: bad input is refused clearly; stages log, checkpoint and resume."""
import gzip
import os
import struct

import numpy as np
import pytest

from var_tools import train
from var_tools.data import DatasetError, load


def write_idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    header = struct.pack('>I', 0x0800 | arr.ndim) + struct.pack('>' + 'I' * arr.ndim, *arr.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + arr.tobytes())


@pytest.fixture
def fake_data(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / 'data'
    d.mkdir()
    for prefix, n in (('train', 48), ('t10k', 16)):
        write_idx(d / f'{prefix}-images-idx3-ubyte.gz', rng.integers(0, 256, (n, 28, 28)))
        write_idx(d / f'{prefix}-labels-idx1-ubyte.gz', rng.integers(0, 10, n))
    return str(d)


def test_missing_dataset_folder_is_a_clear_error(tmp_path, capsys):
    rc = train.main(['vqvae', '--data', str(tmp_path / 'nowhere'), '--out', str(tmp_path / 'o'), '--steps', '1'])
    assert rc == 2
    err = capsys.readouterr().err
    assert 'nowhere' in err and 'does not exist' in err


def test_truncated_dataset_file_is_reported(fake_data):
    path = os.path.join(fake_data, 'train-images-idx3-ubyte.gz')
    with gzip.open(path, 'rb') as f:
        data = f.read()
    with gzip.open(path, 'wb') as f:
        f.write(data[:1000])
    with pytest.raises(DatasetError, match='truncated'):
        load('train', fake_data)


@pytest.mark.parametrize('pns,msg', [
    ([1, 3, 2, 7], 'strictly increasing'),
    ([1, 2, 3, 4, 5, 6], 'must equal the latent side 7'),
    ([0, 7], 'positive integer'),
])
def test_wrong_patch_schedule_is_refused(tmp_path, fake_data, capsys, pns, msg):
    rc = train.main(['vqvae', '--data', fake_data, '--out', str(tmp_path / 'o'), '--steps', '1',
                     '--patch-nums', *map(str, pns)])
    assert rc == 2
    assert msg in capsys.readouterr().err


def test_stages_checkpoint_and_resume(tmp_path, fake_data):
    run = tmp_path / 'run'
    common = ['--data', fake_data, '--ckpt-every', '1']
    assert train.main(['vqvae', *common, '--out', str(run / 'vqvae'), '--steps', '2', '--bs', '4']) == 0
    assert train.main(['vqvae', *common, '--out', str(run / 'vqvae'), '--steps', '3', '--bs', '4']) == 0
    log = (run / 'vqvae' / 'log.txt').read_text()
    assert 'resumed VQ-VAE from step 2' in log
    assert (run / 'vqvae' / 'metrics.json').exists()
    assert train.main(['tokens', *common, '--run', str(run)]) == 0
    assert train.main(['var', *common, '--run', str(run), '--steps', '1', '--bs', '4']) == 0
    assert train.main(['var', *common, '--run', str(run), '--steps', '2', '--bs', '4']) == 0
    assert 'resumed VAR from step 1' in (run / 'var' / 'log.txt').read_text()


def test_vocab_size_and_kept_snapshots(tmp_path, fake_data, capsys):
    import torch
    run = tmp_path / 'run'
    common = ['--data', fake_data, '--ckpt-every', '1']
    assert train.main(['vqvae', *common, '--out', str(run / 'vqvae'), '--steps', '1', '--bs', '4',
                       '--vocab-size', '40000']) == 2
    assert 'between 2 and 32767' in capsys.readouterr().err
    assert train.main(['vqvae', *common, '--out', str(run / 'vqvae'), '--steps', '1', '--bs', '4',
                       '--vocab-size', '64']) == 0
    assert torch.load(str(run / 'vqvae' / 'vqvae.pt'))['config']['vocab_size'] == 64
    # resuming with another codebook size is refused, not silently mixed
    assert train.main(['vqvae', *common, '--out', str(run / 'vqvae'), '--steps', '2', '--bs', '4',
                       '--vocab-size', '128']) == 2
    assert 'another configuration' in capsys.readouterr().err
    assert train.main(['tokens', *common, '--run', str(run)]) == 0
    assert train.main(['var', *common, '--run', str(run), '--steps', '3', '--bs', '4', '--keep-at', '9']) == 2
    assert 'snapshot steps must lie in 1..3' in capsys.readouterr().err
    assert train.main(['var', *common, '--run', str(run), '--steps', '3', '--bs', '4', '--keep-at', '2']) == 0
    snap = torch.load(str(run / 'var' / 'var-step2.pt'))
    last = torch.load(str(run / 'var' / 'var.pt'))
    assert snap['step'] == 2 and last['step'] == 3 and 'opt' not in snap
    assert snap['config']['vocab_size'] == 64
    assert not torch.equal(snap['model']['head.weight'], last['model']['head.weight'])
    from var_tools import export
    vae, var, ck = export.load_trained(str(run), 'var-step2.pt')
    assert ck['step'] == 2 and var.V == 64
    with pytest.raises(export.ExportError, match='file name inside'):
        export.load_trained(str(run), '../vqvae/vqvae.pt')
