"""Small Fashion-MNIST classifier used to score generated images.

The classifier is exported as ``classifier.onnx`` and used by VAR Studio to
compute Inception-Score-like, FID-like and class-accuracy metrics over
generated 28x28 grayscale images.

Model contract (PyTorch and ONNX alike):

* input  ``image``    float32 [B, 1, 28, 28], pixel values in [0, 1]
  (``uint8 / 255``, the generator's output range). Normalisation to zero
  mean / unit variance happens inside the model.
* output ``logits``   float32 [B, 10], class order = ``data.CLASS_NAMES``.
* output ``features`` float32 [B, 128] (``FEATURE_DIM``), the penultimate
  activation (after ReLU, before the final linear layer). Used for FID-like
  statistics.

Command line (run from ``models/``)::

    python3 -m var_tools.classifier train  --data DIR --out runs/classifier/classifier.pt [--epochs N]
    python3 -m var_tools.classifier eval   --ckpt runs/classifier/classifier.pt [--data DIR]
    python3 -m var_tools.classifier export --ckpt runs/classifier/classifier.pt --out PATH.onnx [--force]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from var_tools.data import CLASS_NAMES, DEFAULT_DIR, DatasetError, load

NUM_CLASSES = len(CLASS_NAMES)
FEATURE_DIM = 128
ONNX_OPSET = 17
INPUT_NAME = 'image'
OUTPUT_NAMES = ('logits', 'features')
CHECKPOINT_FORMAT = 'var-studio-fashion-classifier'
CHECKPOINT_VERSION = 1

# Fashion-MNIST training-set pixel statistics on the [0, 1] scale.
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530

DEFAULT_CONFIG = {'widths': [16, 32, 64], 'feature_dim': FEATURE_DIM, 'dropout': 0.3}


class ClassifierError(RuntimeError):
    """A user-facing problem (missing checkpoint, refused overwrite, bad export)."""


def _conv_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class FashionClassifier(nn.Module):
    """Three conv stages (28 -> 14 -> 7 -> 3) followed by a 128-d feature layer.

    ``forward(image)`` takes float images [B, 1, 28, 28] in [0, 1] and returns
    ``(logits [B, 10], features [B, feature_dim])``.
    """

    def __init__(self, widths=None, feature_dim=FEATURE_DIM, dropout=0.3, num_classes=NUM_CLASSES):
        super().__init__()
        widths = list(widths or DEFAULT_CONFIG['widths'])
        if len(widths) != 3:
            raise ValueError(f'widths must have 3 entries, got {widths}')
        w1, w2, w3 = widths
        self.config = {'widths': widths, 'feature_dim': int(feature_dim), 'dropout': float(dropout)}
        self.feature_dim = int(feature_dim)
        self.stage1 = _conv_block(1, w1)                                     # 28x28
        self.stage2 = nn.Sequential(_conv_block(w1, w2), _conv_block(w2, w2))  # 14x14
        self.stage3 = _conv_block(w2, w3)                                    # 7x7
        self.fc = nn.Linear(w3 * 3 * 3, self.feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def forward(self, image):
        x = (image - PIXEL_MEAN) / PIXEL_STD
        x = F.max_pool2d(self.stage1(x), 2)   # -> 14x14
        x = F.max_pool2d(self.stage2(x), 2)   # -> 7x7
        x = F.max_pool2d(self.stage3(x), 2)   # -> 3x3
        features = F.relu(self.fc(torch.flatten(x, 1)))
        logits = self.head(self.dropout(features))
        return logits, features


# ---------------------------------------------------------------------------
# Checkpoints

def _publish(tmp, path):
    """Atomically moves ``tmp`` to ``path`` with ordinary (umask-based) permissions."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, path)


def save_checkpoint(model, path, **extra):
    ckpt = {
        'format': CHECKPOINT_FORMAT,
        'version': CHECKPOINT_VERSION,
        'config': dict(model.config),
        'class_names': list(CLASS_NAMES),
        'state_dict': {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    ckpt.update(extra)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.classifier-', suffix='.pt', dir=folder)
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(ckpt_path):
    """Returns the checkpoint dict (state_dict, config, test_accuracy, ...)."""
    if not os.path.isfile(ckpt_path):
        raise ClassifierError(f'checkpoint {ckpt_path!r} does not exist; train one with '
                              f'`python3 -m var_tools.classifier train --out {ckpt_path}`')
    try:
        ckpt = torch.load(ckpt_path, map_location='cpu')
    except Exception as e:  # corrupt / not a torch file
        raise ClassifierError(f'cannot read checkpoint {ckpt_path!r}: {e}') from e
    if not isinstance(ckpt, dict) or ckpt.get('format') != CHECKPOINT_FORMAT:
        raise ClassifierError(f'{ckpt_path!r} is not a Fashion-MNIST classifier checkpoint')
    if ckpt.get('version', 0) > CHECKPOINT_VERSION:
        raise ClassifierError(f'{ckpt_path!r} has checkpoint version {ckpt["version"]}; '
                              f'this code reads up to version {CHECKPOINT_VERSION}')
    return ckpt


def load_classifier(ckpt_path):
    """Builds a FashionClassifier from a checkpoint, in eval mode on the CPU."""
    ckpt = load_checkpoint(ckpt_path)
    model = FashionClassifier(**ckpt['config'])
    try:
        model.load_state_dict(ckpt['state_dict'])
    except RuntimeError as e:
        raise ClassifierError(f'checkpoint {ckpt_path!r} does not match the model: {e}') from e
    model.eval()
    model.test_accuracy = ckpt.get('test_accuracy')
    return model


# ---------------------------------------------------------------------------
# ONNX export

def _export_to(model, path):
    was_training = model.training
    model.eval()
    try:
        dummy = torch.zeros(2, 1, 28, 28, dtype=torch.float32)
        with torch.no_grad():
            torch.onnx.export(
                model, (dummy,), path,
                opset_version=ONNX_OPSET,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={INPUT_NAME: {0: 'batch'},
                              OUTPUT_NAMES[0]: {0: 'batch'},
                              OUTPUT_NAMES[1]: {0: 'batch'}},
                do_constant_folding=True,
            )
    finally:
        model.train(was_training)


def _dims(value_info):
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField('dim_value') else (d.dim_param or '?'))
    return out


def verify_onnx(path, feature_dim=None):
    """onnx.checker plus the interface contract; raises ClassifierError on mismatch."""
    import onnx

    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise ClassifierError(f'{path}: onnx.checker failed: {e}') from e
    inputs = [i for i in model.graph.input
              if i.name not in {init.name for init in model.graph.initializer}]
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise ClassifierError(f'{path}: inputs are {[i.name for i in inputs]}, expected [{INPUT_NAME!r}]')
    in_dims = _dims(inputs[0])
    if len(in_dims) != 4 or in_dims[1:] != [1, 28, 28] or isinstance(in_dims[0], int):
        raise ClassifierError(f'{path}: input shape {in_dims}, expected [batch, 1, 28, 28]')
    outputs = list(model.graph.output)
    if [o.name for o in outputs] != list(OUTPUT_NAMES):
        raise ClassifierError(f'{path}: outputs are {[o.name for o in outputs]}, expected {list(OUTPUT_NAMES)}')
    expected_last = {OUTPUT_NAMES[0]: NUM_CLASSES, OUTPUT_NAMES[1]: feature_dim}
    for o in outputs:
        dims = _dims(o)
        want = expected_last[o.name]
        if len(dims) != 2 or isinstance(dims[0], int) or (want is not None and dims[1] != want):
            raise ClassifierError(f'{path}: output {o.name!r} has shape {dims}, '
                                  f'expected [batch, {want if want is not None else "F"}]')
    return model


def _same_file(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        return fa.read() == fb.read()


def export_classifier(model, path, force=False):
    """Exports ``model`` (a FashionClassifier or a checkpoint path) to ONNX at ``path``.

    Opset 17, input ``image`` [B,1,28,28] float32, outputs ``logits`` [B,10] and
    ``features`` [B,F], dynamic batch. The file is written atomically and checked
    with onnx.checker. An existing file with different content is only replaced
    when ``force`` is true (otherwise ClassifierError); identical content is left
    as is. Returns ``path``.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_classifier(os.fspath(model))
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ClassifierError(f'{path!r} is a directory; give the .onnx file path')
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.classifier-', suffix='.onnx', dir=folder)
    os.close(fd)
    try:
        _export_to(model, tmp)
        verify_onnx(tmp, feature_dim=model.feature_dim)
        if os.path.exists(path):
            if _same_file(tmp, path):
                return path
            if not force:
                raise ClassifierError(f'{path!r} already exists and differs from the new export; '
                                      f'pass --force (force=True) to replace it')
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ---------------------------------------------------------------------------
# Training / evaluation

def _to_unit(images):
    """uint8 [N,28,28] -> float32 [N,1,28,28] in [0, 1]."""
    return torch.tensor(np.asarray(images, dtype=np.uint8)).float().div_(255.0).unsqueeze(1)


def _augment(x, gen, shift=2):
    """Random horizontal flip and random translation by up to ``shift`` pixels."""
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if shift > 0:
        padded = F.pad(x[:, 0], (shift, shift, shift, shift))
        oy = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
        ox = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
        ar = torch.arange(28)
        rows = (oy[:, None] + ar)[:, :, None]
        cols = (ox[:, None] + ar)[:, None, :]
        x = padded[torch.arange(b)[:, None, None], rows, cols].unsqueeze(1)
    return x


@torch.no_grad()
def evaluate(model, images, labels, batch_size=1000):
    """Returns the accuracy of ``model`` on float images [N,1,28,28] in [0,1]."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, images.shape[0], batch_size):
        logits, _ = model(images[i:i + batch_size])
        correct += (logits.argmax(1) == labels[i:i + batch_size]).sum().item()
    model.train(was_training)
    return correct / max(1, images.shape[0])


def train(data_dir, out, epochs=8, batch_size=128, lr=3e-3, seed=0, augment=True, log=print):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tr_img, tr_lab = load('train', data_dir)
    te_img, te_lab = load('test', data_dir)
    x_tr, y_tr = _to_unit(tr_img), torch.from_numpy(tr_lab)
    x_te, y_te = _to_unit(te_img), torch.from_numpy(te_lab)
    log(f'train {len(y_tr)} images, test {len(y_te)} images, epochs {epochs}, '
        f'batch {batch_size}, augment {augment}')

    model = FashionClassifier(**DEFAULT_CONFIG)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    steps_per_epoch = (len(y_tr) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.2)
    start = time.time()
    acc = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(y_tr), generator=gen)
        total, count, correct = 0.0, 0, 0
        for i in range(0, len(y_tr), batch_size):
            idx = perm[i:i + batch_size]
            x, y = x_tr[idx], y_tr[idx]
            if augment:
                x = _augment(x, gen)
            logits, _ = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
            count += len(y)
            correct += (logits.argmax(1) == y).sum().item()
        acc = evaluate(model, x_te, y_te)
        log(f'epoch {epoch}/{epochs}  loss {total / count:.4f}  train_acc {correct / count:.4f}  '
            f'test_acc {acc:.4f}  elapsed {time.time() - start:.0f}s', flush=True)
    save_checkpoint(model, out, test_accuracy=acc, epochs=epochs, seed=seed, augment=augment,
                    train_seconds=round(time.time() - start, 1))
    log(f'saved {out} (test accuracy {acc:.4f})')
    return model, acc


# ---------------------------------------------------------------------------
# CLI

def _cmd_train(args):
    if args.epochs < 1:
        raise ClassifierError('--epochs must be >= 1')
    train(args.data, args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
          seed=args.seed, augment=not args.no_augment)


def _cmd_eval(args):
    model = load_classifier(args.ckpt)
    images, labels = load('test', args.data)
    x, y = _to_unit(images), torch.from_numpy(labels)
    acc = evaluate(model, x, y)
    print(f'test accuracy {acc:.4f} ({round(acc * len(y))}/{len(y)})')


def _cmd_export(args):
    model = load_classifier(args.ckpt)
    path = export_classifier(model, args.out, force=args.force)
    print(f'wrote {path} (opset {ONNX_OPSET}, input {INPUT_NAME} [B,1,28,28], '
          f'outputs logits [B,{NUM_CLASSES}], features [B,{model.feature_dim}]; onnx.checker ok)')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python3 -m var_tools.classifier',
                                     description='Fashion-MNIST classifier for image-quality metrics.')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('train', help='train and save a checkpoint')
    p.add_argument('--data', default=DEFAULT_DIR, help=f'Fashion-MNIST folder (default {DEFAULT_DIR})')
    p.add_argument('--out', required=True, help='checkpoint path (.pt)')
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-augment', action='store_true', help='disable flip/shift augmentation')
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser('eval', help='print test accuracy of a checkpoint')
    p.add_argument('--ckpt', required=True)
    p.add_argument('--data', default=DEFAULT_DIR)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser('export', help='export a checkpoint to ONNX')
    p.add_argument('--ckpt', required=True)
    p.add_argument('--out', required=True, help='output .onnx path')
    p.add_argument('--force', action='store_true', help='replace an existing, different file')
    p.set_defaults(func=_cmd_export)

    for p in sub.choices.values():
        p.add_argument('--threads', type=int, default=2, choices=(1, 2),
                       help='CPU threads for torch (default 2; 1 is faster on a busy machine)')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except (DatasetError, ClassifierError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
