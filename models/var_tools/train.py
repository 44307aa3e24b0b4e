"""Trainer for the embedded model: the VQ-VAE first, then the VAR transformer on cached token ids.

    /usr/bin/python3 -m var_tools.train pipeline --out runs/fashion      # everything, resumable
    /usr/bin/python3 -m var_tools.train vqvae --out runs/fashion/vqvae --steps 1600
    /usr/bin/python3 -m var_tools.train tokens --run runs/fashion
    /usr/bin/python3 -m var_tools.train var --run runs/fashion --steps 2400

Every stage writes `log.txt`, a checkpoint every --ckpt-every steps (atomically), and resumes from
its last checkpoint when started again with the same --out/--run.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from . import data as fdata
from .var_model import VAR
from .vqvae import VQVAE

EMBEDDED_VAE = dict(vocab_size=512, z_channels=16, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, in_channels=1,
                    norm_groups=8, using_sa=True, using_mid_sa=True, quant_resi=0.5, share_quant_resi=4,
                    patch_nums=(1, 2, 3, 4, 5, 7))
EMBEDDED_VAR = dict(depth=4, embed_dim=256, num_heads=4, mlp_ratio=4.0, num_classes=10, attn_l2_norm=True,
                    norm_eps=1e-6, cond_drop_rate=0.1)


class TrainError(RuntimeError):
    pass


def check_patch_nums(patch_nums, latent_hw):
    pn = list(patch_nums)
    if not pn or any((not isinstance(p, int)) or p < 1 for p in pn):
        raise TrainError(f'patch_nums {pn}: every entry must be a positive integer')
    if any(b <= a for a, b in zip(pn, pn[1:])):
        raise TrainError(f'patch_nums {pn}: must be strictly increasing (coarse to fine)')
    if pn[-1] != latent_hw:
        raise TrainError(f'patch_nums {pn}: the last scale must equal the latent side {latent_hw} '
                         f'(image size / VQ-VAE downsample)')
    if len(pn) < 2:
        raise TrainError(f'patch_nums {pn}: need at least two scales')
    return pn


class Logger:
    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        self.f = open(os.path.join(folder, 'log.txt'), 'a')

    def __call__(self, msg):
        line = f'[{time.strftime("%H:%M:%S")}] {msg}'
        print(line, flush=True)
        self.f.write(line + '\n')
        self.f.flush()


def save_atomic(obj, path):
    tmp = path + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, path)


def lr_at(step, total, base, warmup):
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def load_split(root, split):
    try:
        return fdata.load(split, root)
    except fdata.DatasetError as e:
        raise TrainError(str(e)) from None


# ---------------------------------------------------------------------------------------------- VQ-VAE
def train_vqvae(args):
    log = Logger(args.out)
    cfg = dict(EMBEDDED_VAE)
    if args.patch_nums:
        cfg['patch_nums'] = tuple(args.patch_nums)
    if getattr(args, 'vocab_size', None):
        if not 2 <= args.vocab_size <= 32767:
            raise TrainError(f'--vocab-size {args.vocab_size}: must be between 2 and 32767 (token ids are cached as int16)')
        cfg['vocab_size'] = args.vocab_size
    latent = 28 // 2 ** (len(cfg['ch_mult']) - 1)
    check_patch_nums(cfg['patch_nums'], latent)
    images, _labels = load_split(args.data, 'train')
    x_all = fdata.to_tensor(images)
    torch.manual_seed(args.seed)
    vae = VQVAE(**cfg)
    opt = torch.optim.Adam(vae.parameters(), lr=args.lr, betas=(0.9, 0.99))
    ckpt_path = os.path.join(args.out, 'vqvae.pt')
    step = 0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        if ck['config'] != {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}:
            raise TrainError(f'{ckpt_path} was trained with another configuration: {ck["config"]}')
        vae.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        step = ck['step']
        log(f'resumed VQ-VAE from step {step}')
    if step == 0:
        # codebook initialised from encoder outputs of a first batch (avoids dead codes from the start)
        with torch.no_grad():
            f = vae.encode(x_all[torch.randperm(len(x_all))[:256]])
            flat = f.permute(0, 2, 3, 1).reshape(-1, vae.Cvae)
            vae.quantize.embedding.weight.data.copy_(flat[torch.randint(len(flat), (vae.V,))] * 0.5)
    hits = torch.zeros(vae.V)
    g = torch.Generator().manual_seed(args.seed + step)
    vae.train()
    t0 = time.time()
    while step < args.steps:
        for group in opt.param_groups:
            group['lr'] = lr_at(step, args.steps, args.lr, 100)
        idx = torch.randint(len(x_all), (args.bs,), generator=g)
        x = x_all[idx]
        f = vae.encode(x)
        f_hat, ids, vq_loss = vae.quantize(f)
        rec = vae.decoder(vae.post_quant_conv(f_hat))
        rec_loss = F.mse_loss(rec, x) + 0.5 * (rec - x).abs().mean()
        loss = rec_loss + vq_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for i in ids:
            hits += torch.bincount(i.flatten(), minlength=vae.V).float()
        step += 1
        if step % 100 == 0 and step < args.steps * 0.8:
            dead = (hits == 0).nonzero().flatten()
            if len(dead):
                with torch.no_grad():
                    flat = f.detach().permute(0, 2, 3, 1).reshape(-1, vae.Cvae)
                    pick = flat[torch.randint(len(flat), (len(dead),), generator=g)]
                    vae.quantize.embedding.weight.data[dead] = pick * torch.rand(len(dead), 1, generator=g)
            usage = (hits > 0).float().mean().item() * 100
            hits.zero_()
            log(f'vqvae step {step}/{args.steps} rec {rec_loss.item():.4f} vq {vq_loss.item():.4f} '
                f'usage {usage:.0f}% restarted {len(dead)} lr {opt.param_groups[0]["lr"]:.2e} '
                f'{(time.time() - t0) / 100:.2f}s/step')
            t0 = time.time()
        if step % args.ckpt_every == 0 or step == args.steps:
            save_atomic({'model': vae.state_dict(), 'opt': opt.state_dict(), 'step': step,
                         'config': {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}},
                        ckpt_path)
    vae.eval()
    test_images, _ = load_split(args.data, 'test')
    xt = fdata.to_tensor(test_images[:2000])
    with torch.no_grad():
        rec = torch.cat([vae.idx_to_img(vae.img_to_idx(xt[i:i + 500])) for i in range(0, len(xt), 500)])
    mse01 = F.mse_loss((rec + 1) / 2, (xt + 1) / 2).item()
    metrics = {'test_mse_01': mse01, 'test_psnr_db': 10 * math.log10(1 / mse01), 'steps': step}
    with open(os.path.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(metrics, f, indent=1)
    log(f'vqvae done: test reconstruction MSE (pixels in [0,1]) {mse01:.5f}, PSNR {metrics["test_psnr_db"]:.2f} dB')


def load_vqvae(path):
    if not os.path.exists(path):
        raise TrainError(f'VQ-VAE checkpoint {path} not found: train it first (var_tools.train vqvae)')
    ck = torch.load(path)
    vae = VQVAE(**ck['config'])
    vae.load_state_dict(ck['model'])
    vae.eval()
    return vae


# ---------------------------------------------------------------------------------------------- tokens
def cache_tokens(args):
    log = Logger(args.run)
    vae = load_vqvae(os.path.join(args.run, 'vqvae', 'vqvae.pt'))
    out = os.path.join(args.run, 'tokens.pt')
    if os.path.exists(out):
        log(f'{out} exists, keeping it')
        return
    images, labels = load_split(args.data, 'train')
    x = fdata.to_tensor(images)
    ids = []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            ids.append(torch.cat(vae.img_to_idx(x[i:i + 1000]), dim=1).to(torch.int16))
    ids = torch.cat(ids)
    save_atomic({'ids': ids, 'labels': torch.from_numpy(labels), 'patch_nums': list(vae.patch_nums)}, out)
    log(f'cached {tuple(ids.shape)} token ids in {time.time() - t0:.0f}s')


# ---------------------------------------------------------------------------------------------- VAR
def split_ids(ids, patch_nums):
    out, b = [], 0
    for pn in patch_nums:
        out.append(ids[:, b:b + pn * pn].long())
        b += pn * pn
    return out


def train_var(args):
    out = os.path.join(args.run, 'var')
    log = Logger(out)
    vae = load_vqvae(os.path.join(args.run, 'vqvae', 'vqvae.pt'))
    tok_path = os.path.join(args.run, 'tokens.pt')
    if not os.path.exists(tok_path):
        raise TrainError(f'{tok_path} not found: run the tokens stage first')
    toks = torch.load(tok_path)
    ids_all, labels_all = toks['ids'], toks['labels'].long()
    patch_nums = list(vae.patch_nums)
    cfg = dict(EMBEDDED_VAR, Cvae=vae.Cvae, vocab_size=vae.V, patch_nums=tuple(patch_nums))
    torch.manual_seed(args.seed)
    var = VAR(**cfg)
    var.init_weights()
    decay, no_decay = [], []
    for n, p in var.named_parameters():
        (no_decay if p.ndim < 2 or 'emb' in n or 'pos_' in n or 'scale_mul' in n else decay).append(p)
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    ckpt_path = os.path.join(out, 'var.pt')
    step = 0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        var.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        step = ck['step']
        log(f'resumed VAR from step {step}')
    keep_at = set(getattr(args, 'keep_at', None) or [])
    bad = sorted(k for k in keep_at if not 0 < k <= args.steps)
    if bad:
        raise TrainError(f'--keep-at {bad}: snapshot steps must lie in 1..{args.steps}')
    g = torch.Generator().manual_seed(args.seed + step)
    var.train()
    t0 = time.time()
    scale_of = var.lvl_1L[0]
    while step < args.steps:
        for group in opt.param_groups:
            group['lr'] = lr_at(step, args.steps, args.lr, 200)
        idx = torch.randint(len(ids_all), (args.bs,), generator=g)
        ids = split_ids(ids_all[idx], patch_nums)
        labels = labels_all[idx]
        x_in = vae.quantize.idx_to_var_input(ids)
        target = torch.cat(ids, dim=1)
        logits = var(labels, x_in)
        loss = F.cross_entropy(logits.reshape(-1, var.V), target.reshape(-1), label_smoothing=0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(var.parameters(), 2.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            with torch.no_grad():
                hit = (logits.argmax(-1) == target).float().mean(0)
                acc = [hit[scale_of == s].mean().item() * 100 for s in range(len(patch_nums))]
            log(f'var step {step}/{args.steps} loss {loss.item():.4f} acc/scale '
                + ' '.join(f'{a:.0f}' for a in acc)
                + f' lr {opt.param_groups[0]["lr"]:.2e} {(time.time() - t0) / 50:.2f}s/step')
            t0 = time.time()
        if step % args.ckpt_every == 0 or step == args.steps:
            save_atomic({'model': var.state_dict(), 'opt': opt.state_dict(), 'step': step,
                         'config': {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}},
                        ckpt_path)
        if step in keep_at:
            # a frozen copy of the weights at this step (no optimiser state), exportable with
            # `var_tools.export trained --checkpoint var-step{step}.pt`
            snap = os.path.join(out, f'var-step{step}.pt')
            save_atomic({'model': var.state_dict(), 'step': step,
                         'config': {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}}, snap)
            log(f'kept a snapshot at step {step}: {snap}')
    log('var done')


def main(argv=None):
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    p = argparse.ArgumentParser(prog='var_tools.train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--data', default=fdata.DEFAULT_DIR, help='folder with the Fashion-MNIST IDX files')
    common.add_argument('--seed', type=int, default=0)
    common.add_argument('--ckpt-every', type=int, default=200)
    a = sub.add_parser('vqvae', parents=[common])
    a.add_argument('--out', required=True)
    a.add_argument('--steps', type=int, default=1600)
    a.add_argument('--bs', type=int, default=64)
    a.add_argument('--lr', type=float, default=1e-3)
    a.add_argument('--patch-nums', type=int, nargs='+')
    a.add_argument('--vocab-size', type=int, help='codebook entries (embedded model: 512)')
    a = sub.add_parser('tokens', parents=[common])
    a.add_argument('--run', required=True)
    a = sub.add_parser('var', parents=[common])
    a.add_argument('--run', required=True)
    a.add_argument('--steps', type=int, default=2400)
    a.add_argument('--bs', type=int, default=64)
    a.add_argument('--lr', type=float, default=6e-4)
    a.add_argument('--keep-at', type=int, nargs='+', metavar='STEP', help='also keep the weights at these steps')
    a = sub.add_parser('pipeline', parents=[common])
    a.add_argument('--out', required=True)
    a.add_argument('--vq-steps', type=int, default=1600)
    a.add_argument('--var-steps', type=int, default=2400)
    a.add_argument('--bs', type=int, default=64)
    a.add_argument('--vocab-size', type=int, help='codebook entries (embedded model: 512)')
    a.add_argument('--keep-at', type=int, nargs='+', metavar='STEP', help='also keep the VAR weights at these steps')
    args = p.parse_args(argv)
    try:
        if args.cmd == 'vqvae':
            train_vqvae(args)
        elif args.cmd == 'tokens':
            cache_tokens(args)
        elif args.cmd == 'var':
            train_var(args)
        else:
            run = args.out
            train_vqvae(argparse.Namespace(**{**vars(args), 'out': os.path.join(run, 'vqvae'),
                                              'steps': args.vq_steps, 'lr': 1e-3, 'patch_nums': None}))
            cache_tokens(argparse.Namespace(**{**vars(args), 'run': run}))
            train_var(argparse.Namespace(**{**vars(args), 'run': run, 'steps': args.var_steps, 'lr': 6e-4}))
    except TrainError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
