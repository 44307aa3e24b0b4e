"""Fashion-MNIST classifier: forward contract, checkpoints and ONNX export.

These tests use freshly initialised models and never need the trained checkpoint
or the dataset.
"""
import os

import onnx
import pytest
import torch

from var_tools import classifier as C


def _model(seed=0):
    torch.manual_seed(seed)
    return C.FashionClassifier().eval()


def test_forward_shapes_and_dtype():
    model = _model()
    for batch in (1, 5):
        logits, features = model(torch.rand(batch, 1, 28, 28))
        assert logits.shape == (batch, C.NUM_CLASSES)
        assert features.shape == (batch, C.FEATURE_DIM)
        assert logits.dtype == features.dtype == torch.float32
        assert (features >= 0).all()  # post-ReLU penultimate activation


def test_eval_forward_is_deterministic():
    model = _model()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_checkpoint_roundtrip(tmp_path):
    model = _model()
    ckpt = tmp_path / 'c.pt'
    C.save_checkpoint(model, str(ckpt), test_accuracy=0.5)
    loaded = C.load_classifier(str(ckpt))
    assert not loaded.training
    assert loaded.test_accuracy == 0.5
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], loaded(x)[0])


def test_load_missing_checkpoint_is_clear(tmp_path):
    with pytest.raises(C.ClassifierError, match='does not exist'):
        C.load_classifier(str(tmp_path / 'missing.pt'))


def _dims(value_info):
    return [d.dim_value if d.HasField('dim_value') else d.dim_param
            for d in value_info.type.tensor_type.shape.dim]


def test_export_interface(tmp_path):
    path = tmp_path / 'sub' / 'classifier.onnx'
    assert C.export_classifier(_model(), str(path)) == str(path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.opset_import[0].version == 17
    init = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    assert [i.name for i in inputs] == ['image']
    assert inputs[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    in_dims = _dims(inputs[0])
    assert len(in_dims) == 4 and in_dims[1:] == [1, 28, 28]
    assert isinstance(in_dims[0], str) and in_dims[0]  # dynamic batch
    outs = {o.name: _dims(o) for o in model.graph.output}
    assert list(outs) == ['logits', 'features']
    assert len(outs['logits']) == 2 and outs['logits'][1] == 10
    assert len(outs['features']) == 2 and outs['features'][1] == C.FEATURE_DIM
    assert all(isinstance(d[0], str) for d in outs.values())
    # no stray temporary files next to the export
    assert os.listdir(path.parent) == ['classifier.onnx']


def test_export_refuses_to_overwrite_different_file(tmp_path):
    path = tmp_path / 'classifier.onnx'
    path.write_bytes(b'not a model')
    with pytest.raises(C.ClassifierError, match='already exists'):
        C.export_classifier(_model(), str(path))
    assert path.read_bytes() == b'not a model'
    C.export_classifier(_model(), str(path), force=True)
    onnx.checker.check_model(onnx.load(str(path)))
    # re-exporting the same weights is accepted without --force
    C.export_classifier(_model(), str(path))


def test_export_cli_and_exit_codes(tmp_path, capsys):
    ckpt = tmp_path / 'c.pt'
    C.save_checkpoint(_model(), str(ckpt), test_accuracy=0.1)
    out = tmp_path / 'classifier.onnx'
    assert C.main(['export', '--ckpt', str(ckpt), '--out', str(out)]) == 0
    assert out.exists()
    out.write_bytes(b'other')
    assert C.main(['export', '--ckpt', str(ckpt), '--out', str(out)]) == 2
    assert '--force' in capsys.readouterr().err
    assert C.main(['train', '--data', str(tmp_path / 'nope'), '--out', str(tmp_path / 'x.pt')]) == 2
    assert 'does not exist' in capsys.readouterr().err
