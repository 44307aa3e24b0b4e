"""The official-checkpoint path: random weights of the official shapes, strict load, export, parity."""
import json
import os

import pytest
import torch

from var_tools import ort_node
from var_tools.export import sha256_file
from var_tools.manifest import validate_manifest
from var_tools.verify_official import main as verify_main

TOL = 1e-4


def test_official_shapes_export_and_match_pytorch(tmp_path, capsys):
    if not ort_node.node_available():
        pytest.fail('onnxruntime-node is not installed: run `npm ci` before the Python tests')
    # depth 2 keeps CI fast; the depth-16 run of the same script is reported in the README
    assert verify_main(['--depth', '2', '--work', str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report['max_abs_logits'] <= TOL
    assert report['max_abs_f_hat'] <= TOL
    assert report['max_abs_image'] <= TOL
    # The weights exercise every block (parity.exercise_every_block): switching every block off moves
    # these logits by 49.9 (max |logit| 51.3, std 12.5; measured at depth 2), where training's init
    # moved them by 0.0027 of 11.8. A 1 % error in the last block's attention projection or MLP output
    # layer, or an ignored log(100) temperature cap, moves the comparison by 0.13, 0.21 and 0.67:
    # over a thousand times the tolerance, so such an error in the export fails this test.
    assert report['blocks_off_logits'] >= 20
    assert report['blocks_off_logits'] >= 0.5 * report['logits_absmax']
    for what, moved in report['sensitivity'].items():
        assert moved >= 100 * TOL, (what, moved)
    assert set(report['sensitivity']) == {'attention', 'mlp', 'temperature_cap'}
    man = json.load(open(tmp_path / 'var-d2' / 'manifest.json'))
    assert man['source']['kind'] == 'official'
    files = {f['name']: f for f in man['source']['files']}
    assert set(files) == {'vae_ch160v4096z32.pth', 'var_d2.pth'}
    var_pth = tmp_path / 'var_d2.pth'
    assert files['var_d2.pth'] == {'name': 'var_d2.pth', 'sha256': sha256_file(str(var_pth)),
                                   'bytes': var_pth.stat().st_size}
    # torchvision is installed (.ci/run), so the default names the classes from its ImageNet list
    assert len(man['class_names']) == 1000 and man['class_names'][207] == 'golden retriever'
    assert man['class_names'][0] == 'tench' and man['source']['class_names'].startswith('ImageNet categories, torchvision')
    assert man['weight_dtype'] == 'float32' and man['id'] == 'var-d2'
    validate_manifest(man, str(tmp_path / 'var-d2'))
    assert man['patch_nums'] == [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]
    assert man['image_size'] == 256 and man['image_channels'] == 3
    assert man['phi_index'] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]  # si=7 is an exact tie that float64 breaks upward


def test_wrong_depth_architecture_is_reported(tmp_path):
    from var_tools.export import ExportError, load_official
    from var_tools.var_model import VAR, official_var_config
    from var_tools.vqvae import VQVAE, official_vae_config
    torch.manual_seed(0)
    torch.save(VQVAE(**official_vae_config()).state_dict(), tmp_path / 'vae.pth')
    sd = VAR(**official_var_config(2)).state_dict()
    sd['head.weight'] = torch.zeros(1000, 128)  # a head of the wrong vocabulary
    torch.save(sd, tmp_path / 'var.pth')
    with pytest.raises(ExportError, match=r'head.weight \[1000, 128\] \(expected \[4096, 128\]\)'):
        load_official(str(tmp_path / 'vae.pth'), str(tmp_path / 'var.pth'))
