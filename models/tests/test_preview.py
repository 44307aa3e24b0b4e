import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from var_tools import ort_node
from var_tools.preview import (area_down, canonical, fit_linear, fit_preview, fit_tiny_decoder, js_number,
                               main as preview_main, project, psnr, seal, write_preview)

HERE = os.path.dirname(__file__)
EMBEDDED = os.path.join(HERE, '..', 'fashion-mnist-var')


def test_numbers_are_written_as_javascript_writes_them():
    # JSON.stringify of each value in Node
    cases = {1e-7: '1e-7', 1.5e-7: '1.5e-7', 1e-6: '0.000001', 0.000012: '0.000012', 123.456: '123.456',
             1e21: '1e+21', 1e20: '100000000000000000000', -0.5: '-0.5', 2.0: '2', 3: '3', 3.4e38: '3.4e+38',
             -1.0000001e-5: '-0.000010000001', 0.0: '0'}
    for value, text in cases.items():
        assert js_number(value) == text, value
    with pytest.raises(Exception):
        js_number(float('nan'))


def test_digest_covers_every_field_with_sorted_keys():
    body = {'b': [1.5, 2.0], 'a': {'y': 1e-7, 'x': 'z'}}
    assert canonical(body) == '{"a":{"x":"z","y":1e-7},"b":[1.5,2]}'
    sealed = seal(body)
    assert sealed['digest'] == hashlib.sha256(canonical(body).encode()).hexdigest()
    changed = seal(dict(body, b=[1.5, 2.0001]))
    assert changed['digest'] != sealed['digest']


def test_area_down_averages_blocks():
    img = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    out = area_down(img, 2)
    assert out.shape == (1, 1, 2, 2)
    assert np.allclose(out[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_least_squares_recovers_a_linear_map_with_bias():
    rng = np.random.default_rng(1)
    n, S, C, hw, ch = 5, 3, 6, 4, 3
    f = rng.normal(size=(n, S, C, hw, hw)).astype(np.float32) * 0.1
    w = rng.normal(size=(ch, C)) * 0.5
    b = np.array([0.5, 0.4, 0.6])
    t = np.einsum('oc,nschw->nsohw', w, f) + b.reshape(1, 1, ch, 1, 1)
    weight, bias = fit_linear(f, t)
    assert np.allclose(weight, w, atol=1e-4) and np.allclose(bias, b, atol=1e-4)
    assert psnr(project(f, weight, bias), np.clip(t, 0, 1)) > 60


def test_tiny_decoder_fits_what_a_linear_map_cannot():
    rng = np.random.default_rng(2)
    n, S, C, hw = 40, 1, 4, 6
    f = rng.normal(size=(n, S, C, hw, hw)).astype(np.float32)
    # a target no linear map of one pixel reaches: the rectified first channel of the left neighbour
    t = np.zeros((n, S, 1, hw, hw), np.float32)
    t[..., 1:] = np.maximum(f[:, :, :1, :, :-1], 0) * 0.4
    weight, bias = fit_linear(f[:30], t[:30])
    lin = psnr(project(f[30:], weight, bias), t[30:])
    pred, layers = fit_tiny_decoder(f[:30], t[:30], f[30:], seed=0, steps=400)
    t = t[30:]
    assert pred.shape == t.shape
    assert layers['0.weight'].shape == (16, C, 3, 3) and layers['2.weight'].shape == (1, 16, 3, 3)
    assert psnr(pred, t) > lin + 3


@pytest.mark.skipif(not ort_node.node_available(), reason='needs node and node_modules (npm ci)')
def test_fit_on_the_embedded_model_writes_a_bound_sealed_record(tmp_path):
    model = tmp_path / 'm'
    shutil.copytree(EMBEDDED, model, ignore=shutil.ignore_patterns('preview.json'))
    record = fit_preview(str(model), tokens='random', images=4, tiny=False, log=lambda s: None)
    manifest = json.loads((model / 'manifest.json').read_text())
    assert record['kind'] == 'linear'
    assert record['model']['manifestSha256'] == hashlib.sha256((model / 'manifest.json').read_bytes()).hexdigest()
    assert len(record['weight']) == manifest['image_channels'] and len(record['weight'][0]) == manifest['Cvae']
    assert len(record['psnr']['per_scale_db']) == len(manifest['patch_nums'])
    # the last scale's f_hat is the image: the map must do better there than a constant grey
    assert record['psnr']['held_out_db'] > 8
    body = {k: v for k, v in record.items() if k != 'digest'}
    assert record['digest'] == hashlib.sha256(canonical(body).encode()).hexdigest()
    path = write_preview(str(model), record)
    assert json.loads(open(path).read()) == record


def test_cli_names_a_folder_without_a_manifest(tmp_path, capsys):
    assert preview_main(['--model', str(tmp_path)]) == 2
    assert f'{tmp_path} has no manifest.json' in capsys.readouterr().err
    (tmp_path / 'manifest.json').write_text('{}')
    assert preview_main(['--model', str(tmp_path), '--images', '1']) == 2
    assert '--images must be at least 2' in capsys.readouterr().err


def test_the_embedded_model_ships_a_bound_preview_map():
    record = json.loads(open(os.path.join(EMBEDDED, 'preview.json')).read())
    with open(os.path.join(EMBEDDED, 'manifest.json'), 'rb') as f:
        assert record['model']['manifestSha256'] == hashlib.sha256(f.read()).hexdigest()
    body = {k: v for k, v in record.items() if k != 'digest'}
    assert record['digest'] == hashlib.sha256(canonical(body).encode()).hexdigest()
    assert record['psnr']['held_out_db'] >= record['psnr']['linear']['held_out_db']


def test_export_adds_a_map_and_a_failed_fit_leaves_the_folder_as_it_is(tmp_path, monkeypatch, capsys):
    from var_tools import export, preview
    calls = []

    def fake_fit(out, tokens, images, log):
        calls.append((tokens, images))
        if len(calls) == 2:
            raise preview.PreviewError('no decoder')
        return seal({'kind': 'linear', 'psnr': {'held_out_db': 20.0}})

    monkeypatch.setattr(preview, 'fit_preview', fake_fit)
    path = export.add_preview(str(tmp_path), 'trained')
    assert path == str(tmp_path / 'preview.json') and json.loads(open(path).read())['kind'] == 'linear'
    assert 'held-out PSNR 20.0 dB' in capsys.readouterr().out
    (tmp_path / 'preview.json').unlink()
    assert export.add_preview(str(tmp_path), 'official') is None
    assert calls == [('generated', 64), ('random', 8)]
    err = capsys.readouterr().err
    assert f'no preview map for {tmp_path} (no decoder)' in err and 'python -m var_tools.preview' in err
    assert not (tmp_path / 'preview.json').exists()
