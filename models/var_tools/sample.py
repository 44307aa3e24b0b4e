"""PyTorch sampling with the trained model: a per-class samples picture and class accuracy.

    /usr/bin/python3 -m var_tools.sample grid --run runs/fashion --out samples.png
    /usr/bin/python3 -m var_tools.sample eval --run runs/fashion --classifier runs/classifier/classifier.pt

Sampling follows the generation loop of the var-onnx/1 contract (guidance ramp t = cfg*si/(S-1),
top-k then top-p filtering; top_k 0 and top_p 0 turn them off, as in the official sampler) but draws
with torch's RNG, so its images are not bit-identical to the TypeScript engine's. `--more-smooth` is
the official sampler's Gumbel-softmax smoothing of the token embeddings (`smooth_embedding`).
"""
import argparse
import json
import os
import struct
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F

from .var_model import VAR
from .vqvae import VQVAE


def filter_logits(z, top_k, top_p):
    """z [B, l, V] guided logits -> logits with filtered entries at -inf."""
    V = z.shape[-1]
    if top_k and 0 < top_k < V:
        kth = z.topk(top_k, dim=-1).values[..., -1:]
        z = z.masked_fill(z < kth, -float('inf'))
    if top_p and 0 < top_p < 1:
        s, order = z.sort(dim=-1)  # ascending
        cum = s.softmax(-1).cumsum(-1)
        drop = cum <= (1 - top_p)
        drop[..., -1] = False  # always keep the largest
        mask = torch.zeros_like(drop).scatter(-1, order, drop)
        z = z.masked_fill(mask, -float('inf'))
    return z


def smooth_ratio(si, S):
    """more_smooth's progress ratio si/(S-1) (0 for a single scale)."""
    return si / (S - 1) if S > 1 else 0.0


def smooth_tau(ratio):
    """more_smooth's Gumbel-softmax temperature: 0.27 at the first scale down to 0.0135 at the last."""
    return max(0.27 * (1 - ratio * 0.95), 0.005)


def smooth_embedding(z, ratio, gumbels, codebook):
    """more_smooth: z [..., V] guided logits with filtered entries at -inf, gumbels [..., V] Gumbel
    noise -> [..., Cvae], the softmax of ((1 + ratio) z + g) / tau mixing the codebook rows."""
    w = ((z * (1 + ratio) + gumbels) / smooth_tau(ratio)).softmax(-1)
    return w @ codebook


def torch_gumbels(like, generator):
    """Gumbel noise as the official sampler draws it: -log of an Exp(1) draw of torch's RNG."""
    return -torch.empty_like(like).exponential_(generator=generator).log()


@torch.no_grad()
def generate(vae: VQVAE, var: VAR, labels, cfg=3.0, top_k=0, top_p=0.95, seed=0, more_smooth=False):
    """labels [B] -> images [B, C, H, W] in [0, 1]. With `more_smooth` the tokens of every scale
    enter f_hat as Gumbel-softmax mixtures of codebook rows (the ids are still drawn first)."""
    g = torch.Generator().manual_seed(seed)
    B = labels.shape[0]
    S = len(var.patch_nums)
    cond = torch.cat([labels, torch.full_like(labels, var.num_classes)])
    past_k, past_v = var.empty_cache(2 * B)
    hw = var.patch_nums[-1]
    f_hat = torch.zeros(B, var.Cvae, hw, hw)
    x = torch.zeros(2 * B, 1, var.Cvae)
    for si, pn in enumerate(var.patch_nums):
        b, l = var.begin[si], pn * pn
        logits, past_k, past_v = var.step(cond, x, torch.arange(b, b + l), torch.zeros(l, b + l), past_k, past_v)
        t = cfg * si / (S - 1)
        z = (1 + t) * logits[:B] - t * logits[B:]
        z = filter_logits(z, top_k, top_p)
        idx = torch.multinomial(z.softmax(-1).reshape(-1, var.V), 1, generator=g).view(B, l)
        if more_smooth:
            emb = smooth_embedding(z, smooth_ratio(si, S), torch_gumbels(z, g), vae.quantize.embedding.weight)
        else:
            emb = vae.quantize.embedding(idx)
        h = emb.transpose(1, 2).reshape(B, var.Cvae, pn, pn)
        f_hat = f_hat + vae.quantize.phi(si)(vae.quantize._upsample(h, si))
        if si + 1 < S:
            nxt = F.interpolate(f_hat, size=(var.patch_nums[si + 1],) * 2, mode='area')
            x = nxt.flatten(2).transpose(1, 2).repeat(2, 1, 1)
    return (vae.fhat_to_img(f_hat) + 1) / 2


def write_png(path, img_u8):
    """Minimal grayscale/RGB PNG writer (no imaging library needed). img_u8 [H, W] or [H, W, 3]."""
    img = np.ascontiguousarray(img_u8, dtype=np.uint8)
    h, w = img.shape[:2]
    color = 2 if img.ndim == 3 else 0
    raw = b''.join(b'\x00' + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff)

    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, color, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def grid(images, rows, cols, scale=2, pad=2):
    """images [rows*cols, 1, H, W] in [0,1] -> uint8 [H', W'] with white padding."""
    n, _c, H, W = images.shape
    out = np.full((rows * (H * scale + pad) + pad, cols * (W * scale + pad) + pad), 255, np.uint8)
    arr = (images[:, 0].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        tile = np.kron(arr[i], np.ones((scale, scale), np.uint8))
        y, x = pad + r * (H * scale + pad), pad + c * (W * scale + pad)
        out[y:y + H * scale, x:x + W * scale] = tile
    return out


def load_run(run):
    from .export import load_trained
    vae, var, _ck = load_trained(run)
    return vae, var


def class_accuracy(vae, var, classifier, per_class, cfg, top_k, top_p, seed, batch=50, more_smooth=False):
    correct = np.zeros(var.num_classes, int)
    for c in range(var.num_classes):
        done = 0
        while done < per_class:
            n = min(batch, per_class - done)
            imgs = generate(vae, var, torch.full((n,), c, dtype=torch.long), cfg, top_k, top_p, seed + c * 1000 + done,
                            more_smooth=more_smooth)
            logits, _feat = classifier(imgs)
            correct[c] += int((logits.argmax(-1) == c).sum())
            done += n
    return correct / per_class


def main(argv=None):
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    p = argparse.ArgumentParser(prog='var_tools.sample', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--run', required=True)
    common.add_argument('--cfg', type=float, default=3.0)
    common.add_argument('--top-k', type=int, default=0)
    common.add_argument('--top-p', type=float, default=0.95)
    common.add_argument('--seed', type=int, default=0)
    common.add_argument('--more-smooth', action='store_true',
                        help="the official sampler's Gumbel-softmax smoothing of the token embeddings")
    a = sub.add_parser('grid', parents=[common])
    a.add_argument('--out', required=True)
    a.add_argument('--per-class', type=int, default=10)
    a = sub.add_parser('eval', parents=[common])
    a.add_argument('--classifier', required=True)
    a.add_argument('--per-class', type=int, default=100)
    a.add_argument('--cfgs', type=float, nargs='*')
    a.add_argument('--json')
    args = p.parse_args(argv)
    vae, var = load_run(args.run)
    if args.cmd == 'grid':
        n = args.per_class
        labels = torch.arange(var.num_classes).repeat_interleave(n)
        imgs = generate(vae, var, labels, args.cfg, args.top_k, args.top_p, args.seed, more_smooth=args.more_smooth)
        write_png(args.out, grid(imgs, var.num_classes, n))
        print(f'wrote {args.out}: {var.num_classes} rows (classes) x {n} samples, cfg {args.cfg}')
        return 0
    from .classifier import load_classifier
    clf = load_classifier(args.classifier).eval()
    results = {}
    for cfg in (args.cfgs or [args.cfg]):
        t0 = time.time()
        with torch.no_grad():
            acc = class_accuracy(vae, var, clf, args.per_class, cfg, args.top_k, args.top_p, args.seed,
                                 more_smooth=args.more_smooth)
        results[str(cfg)] = {'mean': float(acc.mean()), 'per_class': acc.round(3).tolist()}
        print(f'cfg {cfg}: class accuracy {acc.mean() * 100:.1f}% per class {np.round(acc * 100).astype(int).tolist()} '
              f'({time.time() - t0:.0f}s)', flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'per_class_samples': args.per_class, 'top_k': args.top_k, 'top_p': args.top_p,
                       'more_smooth': args.more_smooth, 'results': results}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
