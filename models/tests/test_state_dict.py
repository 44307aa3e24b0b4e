"""State-dict names and shapes equal the official release at the official hyperparameters."""
import json
import os

import pytest
import torch

from var_tools.var_model import VAR, official_var_config
from var_tools.vqvae import VQVAE, official_vae_config

# names and shapes of the official release, as built by the official code (a copy of shared/reference)
REF = os.path.join(os.path.dirname(__file__), 'data', 'var_official_state_dicts.json')


def _reference():
    path = os.environ.get('VAR_STATE_DICT_REFERENCE', REF)
    if not os.path.exists(path):
        pytest.fail(f'reference state-dict list not found at {path}')
    with open(path) as f:
        return json.load(f)['checkpoints']


def _shapes(module):
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def test_vae_matches_official_names_and_shapes():
    ref = _reference()['vae_ch160v4096z32.pth']['shapes']
    cfg = official_vae_config()
    vae = VQVAE(**cfg)
    ours = _shapes(vae)
    assert sorted(set(ref) - set(ours)) == []
    assert sorted(set(ours) - set(ref)) == []
    assert {k: v for k, v in ours.items() if ref[k] != v} == {}


def test_var_d16_matches_official_names_and_shapes():
    spec = _reference()['var_d16.pth']
    cfg = official_var_config(16)
    var = VAR(**cfg)
    ours = _shapes(var)
    ref = spec['shapes']
    assert sorted(set(ref) - set(ours)) == []
    assert sorted(set(ours) - set(ref)) == []
    assert {k: v for k, v in ours.items() if ref[k] != v} == {}
    assert var.state_dict()['lvl_1L'].dtype == torch.int64
    # a strict load of an official-shaped state dict works
    var.load_state_dict({k: torch.zeros(v, dtype=torch.int64 if k == 'lvl_1L' else torch.float32)
                         for k, v in ref.items()}, strict=True)

