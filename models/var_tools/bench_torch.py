"""Times the PyTorch sampler (sample.generate: KV-cached steps, guidance, top-k/top-p, decode) and prints JSON.

    TORCH_THREADS=2 /usr/bin/python3 -m var_tools.bench_torch --manifest fashion-mnist-var/manifest.json \
        --batch 16 --cfg 3 --top-p 0.95 --reps 3 [--run runs/fashion]

With --run pointing at a training run that has its checkpoints, the trained weights are used. Otherwise
(a fresh clone has no checkpoints) the VAR is built from the manifest's hyperparameters and the VQ-VAE
with the training defaults, both with random weights: the work per image, and so the timing, does not
depend on the weight values. The JSON says which one ran.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

from .sample import generate
from .var_model import VAR
from .vqvae import VQVAE


def build(manifest, run):
    if run and os.path.exists(os.path.join(run, 'var', 'var.pt')) and \
            os.path.exists(os.path.join(run, 'vqvae', 'vqvae.pt')):
        from .export import load_trained
        vae, var, _ck = load_trained(run)
        return vae.eval(), var.eval(), f'trained ({run})'
    torch.manual_seed(0)
    pn = tuple(manifest['patch_nums'])
    var = VAR(Cvae=manifest['Cvae'], vocab_size=manifest['vocab_size'], num_classes=manifest['num_classes'],
              depth=manifest['depth'], embed_dim=manifest['embed_dim'], num_heads=manifest['num_heads'],
              patch_nums=pn)
    var.init_weights()
    vae = VQVAE(vocab_size=manifest['vocab_size'], z_channels=manifest['Cvae'],
                in_channels=manifest['image_channels'], quant_resi=manifest['quant_resi'],
                share_quant_resi=manifest['phi_count'], patch_nums=pn)
    return vae.eval(), var.eval(), 'random weights, same architecture as the manifest (no checkpoints here)'


def main(argv=None):
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    p = argparse.ArgumentParser(prog='var_tools.bench_torch', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--manifest', required=True)
    p.add_argument('--run')
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--cfg', type=float, default=3.0)
    p.add_argument('--top-k', type=int, default=0)
    p.add_argument('--top-p', type=float, default=0.95)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    args = p.parse_args(argv)
    with open(args.manifest) as f:
        manifest = json.load(f)
    vae, var, weights = build(manifest, args.run)
    labels = torch.arange(args.batch) % var.num_classes
    runs = []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        generate(vae, var, labels, args.cfg, args.top_k, args.top_p, seed=i)
        ms = (time.perf_counter() - t0) * 1000
        if i >= args.warmup:
            runs.append(ms)
    median = statistics.median(runs)
    print(json.dumps({
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'weights': weights,
        'batch': args.batch,
        'cfg': args.cfg,
        'top_k': args.top_k,
        'top_p': args.top_p,
        'runs_ms': [round(r, 3) for r in runs],
        'median_ms': round(median, 3),
        'images_per_s': args.batch / (median / 1000),
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main())
