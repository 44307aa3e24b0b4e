"""Multi-scale residual VQ-VAE of VAR.

Module and parameter names follow the official release so that `vae_ch160v4096z32.pth` loads with
strict=True at the official hyperparameters (see `official_vae_config`). Sizes are configurable so
that the same code trains the small embedded model.
"""
import math
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def official_vae_config():
    return dict(vocab_size=4096, z_channels=32, ch=160, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                in_channels=3, norm_groups=32, using_sa=True, using_mid_sa=True,
                quant_resi=0.5, share_quant_resi=4, patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16))


def _norm(channels, groups):
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class Upsample2x(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class Downsample2x(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x):
        # asymmetric padding: right and bottom only
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class ResnetBlock(nn.Module):
    def __init__(self, c_in, c_out, groups, dropout=0.0):
        super().__init__()
        self.norm1 = _norm(c_in, groups)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm2 = _norm(c_out, groups)
        self.dropout = nn.Dropout(dropout) if dropout > 1e-6 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with a fused 1x1 qkv projection."""

    def __init__(self, channels, groups):
        super().__init__()
        self.C = channels
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) * (C ** -0.5), dim=2)  # B, HWq, HWk
        h = torch.bmm(v, w.transpose(1, 2)).reshape(B, C, H, W)
        return x + self.proj_out(h)


def _attn_or_identity(channels, groups, enabled):
    return AttnBlock(channels, groups) if enabled else nn.Identity()


class Encoder(nn.Module):
    def __init__(self, *, ch, ch_mult, num_res_blocks, in_channels, z_channels, norm_groups,
                 using_sa=True, using_mid_sa=True, dropout=0.0):
        super().__init__()
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        in_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        c = ch
        for lvl in range(self.num_resolutions):
            level = nn.Module()
            level.block = nn.ModuleList()
            level.attn = nn.ModuleList()
            c = ch * in_mult[lvl]
            c_out = ch * ch_mult[lvl]
            for _ in range(num_res_blocks):
                level.block.append(ResnetBlock(c, c_out, norm_groups, dropout))
                c = c_out
                if lvl == self.num_resolutions - 1 and using_sa:
                    level.attn.append(AttnBlock(c, norm_groups))
            if lvl != self.num_resolutions - 1:
                level.downsample = Downsample2x(c)
            self.down.append(level)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(c, c, norm_groups, dropout)
        self.mid.attn_1 = _attn_or_identity(c, norm_groups, using_mid_sa)
        self.mid.block_2 = ResnetBlock(c, c, norm_groups, dropout)
        self.norm_out = _norm(c, norm_groups)
        self.conv_out = nn.Conv2d(c, z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for lvl, level in enumerate(self.down):
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[i](h)
            if lvl != self.num_resolutions - 1:
                h = level.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, *, ch, ch_mult, num_res_blocks, in_channels, z_channels, norm_groups,
                 using_sa=True, using_mid_sa=True, dropout=0.0):
        super().__init__()
        self.num_resolutions = len(ch_mult)
        c = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(c, c, norm_groups, dropout)
        self.mid.attn_1 = _attn_or_identity(c, norm_groups, using_mid_sa)
        self.mid.block_2 = ResnetBlock(c, c, norm_groups, dropout)
        levels = []
        for lvl in reversed(range(self.num_resolutions)):
            level = nn.Module()
            level.block = nn.ModuleList()
            level.attn = nn.ModuleList()
            c_out = ch * ch_mult[lvl]
            for _ in range(num_res_blocks + 1):
                level.block.append(ResnetBlock(c, c_out, norm_groups, dropout))
                c = c_out
                if lvl == self.num_resolutions - 1 and using_sa:
                    level.attn.append(AttnBlock(c, norm_groups))
            if lvl != 0:
                level.upsample = Upsample2x(c)
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(c, norm_groups)
        self.conv_out = nn.Conv2d(c, in_channels, 3, 1, 1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for lvl in reversed(range(self.num_resolutions)):
            level = self.up[lvl]
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn) > 0:
                    h = level.attn[i](h)
            if lvl != 0:
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Phi(nn.Conv2d):
    """phi(h) = (1 - r) * h + r * conv3x3(h)."""

    def __init__(self, channels, resi_ratio):
        super().__init__(channels, channels, 3, 1, 1)
        self.resi_ratio = abs(resi_ratio)

    def forward(self, h):
        return h * (1.0 - self.resi_ratio) + super().forward(h) * self.resi_ratio


def phi_ticks(count):
    return np.linspace(1 / 3 / count, 1 - 1 / 3 / count, count) if count == 4 else \
        np.linspace(1 / 2 / count, 1 - 1 / 2 / count, count)


def phi_index_table(num_scales, count):
    """Which of the `count` shared phi convs each scale uses: nearest tick to si/(S-1).

    Written out once as a table (and shipped in the manifest) because the nearest-tick rule has exact
    ties at some scales that must be broken exactly like numpy's argmin on these float64 values.
    """
    ticks = phi_ticks(count)
    return [int(np.argmin(np.abs(ticks - si / (num_scales - 1)))) for si in range(num_scales)]


class PhiPartiallyShared(nn.Module):
    def __init__(self, convs: nn.ModuleList):
        super().__init__()
        self.qresi_ls = convs


class VectorQuantizer2(nn.Module):
    def __init__(self, vocab_size, Cvae, patch_nums, quant_resi=0.5, share_quant_resi=4, beta=0.25):
        super().__init__()
        if share_quant_resi < 2:
            raise ValueError('only partially shared phi (share_quant_resi >= 2) is implemented')
        self.vocab_size, self.Cvae, self.beta = vocab_size, Cvae, beta
        self.patch_nums = tuple(patch_nums)
        self.quant_resi_ratio = quant_resi
        self.quant_resi = PhiPartiallyShared(nn.ModuleList([Phi(Cvae, quant_resi) for _ in range(share_quant_resi)]))
        self.register_buffer('ema_vocab_hit_SV', torch.zeros(len(self.patch_nums), vocab_size))
        self.embedding = nn.Embedding(vocab_size, Cvae)
        self.phi_index = phi_index_table(len(self.patch_nums), share_quant_resi)

    def phi(self, si) -> Phi:
        return self.quant_resi.qresi_ls[self.phi_index[si]]

    def nearest(self, z_NC):
        w = self.embedding.weight
        d = z_NC.square().sum(1, keepdim=True) + w.square().sum(1) - 2.0 * z_NC @ w.t()
        return d.argmin(1)

    def _upsample(self, h_BChw, si):
        hw = self.patch_nums[-1]
        if si == len(self.patch_nums) - 1:
            return h_BChw
        return F.interpolate(h_BChw, size=(hw, hw), mode='bicubic')

    def _walk(self, f_BChw, use_idx: Optional[List[torch.Tensor]] = None):
        """Residual quantisation from coarse to fine. Yields (si, idx_Bl, h_BChw_after_phi, f_hat)."""
        B, C, H, W = f_BChw.shape
        f_rest = f_BChw.detach().clone()
        f_hat = torch.zeros_like(f_rest)
        S = len(self.patch_nums)
        for si, pn in enumerate(self.patch_nums):
            if use_idx is None:
                z = F.interpolate(f_rest, size=(pn, pn), mode='area') if si != S - 1 else f_rest
                idx = self.nearest(z.permute(0, 2, 3, 1).reshape(-1, C)).view(B, pn * pn)
            else:
                idx = use_idx[si]
            h = self.embedding(idx).transpose(1, 2).reshape(B, C, pn, pn)
            h = self.phi(si)(self._upsample(h, si))
            f_hat = f_hat + h
            f_rest = f_rest - h
            yield si, idx, h, f_hat

    def forward(self, f_BChw):
        """Training pass: straight-through f_hat, commitment + codebook loss, per-scale ids."""
        f_no_grad = f_BChw.detach()
        loss = 0.0
        ids = []
        f_hat = None
        for si, idx, _h, f_hat in self._walk(f_no_grad):
            ids.append(idx)
            loss = loss + F.mse_loss(f_hat.detach(), f_BChw) * self.beta + F.mse_loss(f_hat, f_no_grad)
        loss = loss / len(self.patch_nums)
        f_hat_st = (f_hat.detach() - f_no_grad) + f_BChw
        return f_hat_st, ids, loss

    @torch.no_grad()
    def f_to_idx(self, f_BChw) -> List[torch.Tensor]:
        return [idx for _si, idx, _h, _f in self._walk(f_BChw)]

    @torch.no_grad()
    def idx_to_fhats(self, ids: List[torch.Tensor]) -> List[torch.Tensor]:
        B = ids[0].shape[0]
        hw = self.patch_nums[-1]
        dummy = torch.zeros(B, self.Cvae, hw, hw, device=ids[0].device)
        return [f.clone() for _si, _idx, _h, f in self._walk(dummy, use_idx=ids)]

    # names used by the official code, for side-by-side comparisons
    def f_to_idxBl_or_fhat(self, f_BChw, to_fhat: bool) -> List[torch.Tensor]:
        ids = self.f_to_idx(f_BChw)
        return self.idx_to_fhats(ids) if to_fhat else ids

    def idxBl_to_var_input(self, gt_ms_idx_Bl: List[torch.Tensor]) -> torch.Tensor:
        return self.idx_to_var_input(gt_ms_idx_Bl)

    @torch.no_grad()
    def idx_to_var_input(self, ids: List[torch.Tensor]) -> torch.Tensor:
        """Teacher-forcing input: area-downsampled f_hat after each scale but the last, [B, L-first_l, Cvae]."""
        fhats = self.idx_to_fhats(ids)
        out = []
        for si in range(len(self.patch_nums) - 1):
            pn = self.patch_nums[si + 1]
            nxt = F.interpolate(fhats[si], size=(pn, pn), mode='area')
            out.append(nxt.flatten(2).transpose(1, 2))
        return torch.cat(out, 1)


class VQVAE(nn.Module):
    def __init__(self, vocab_size=512, z_channels=16, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1,
                 in_channels=1, norm_groups=8, using_sa=True, using_mid_sa=True, quant_resi=0.5,
                 share_quant_resi=4, patch_nums=(1, 2, 3, 4, 5, 7), dropout=0.0, beta=0.25):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, z_channels=z_channels, ch=ch, ch_mult=tuple(ch_mult),
                           num_res_blocks=num_res_blocks, in_channels=in_channels, norm_groups=norm_groups,
                           using_sa=using_sa, using_mid_sa=using_mid_sa, quant_resi=quant_resi,
                           share_quant_resi=share_quant_resi, patch_nums=tuple(patch_nums))
        self.V, self.Cvae = vocab_size, z_channels
        self.vocab_size = vocab_size
        self.in_channels = in_channels
        self.downsample = 2 ** (len(ch_mult) - 1)
        dd = dict(ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks, in_channels=in_channels,
                  z_channels=z_channels, norm_groups=norm_groups, using_sa=using_sa,
                  using_mid_sa=using_mid_sa, dropout=dropout)
        self.encoder = Encoder(**dd)
        self.decoder = Decoder(**dd)
        self.quantize = VectorQuantizer2(vocab_size, z_channels, patch_nums, quant_resi, share_quant_resi, beta)
        self.quant_conv = nn.Conv2d(z_channels, z_channels, 3, 1, 1)
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, 3, 1, 1)

    @property
    def patch_nums(self):
        return self.quantize.patch_nums

    def encode(self, x):
        return self.quant_conv(self.encoder(x))

    def forward(self, x):
        f_hat, ids, vq_loss = self.quantize(self.encode(x))
        return self.decoder(self.post_quant_conv(f_hat)), ids, vq_loss

    def fhat_to_img(self, f_hat):
        """Decoded image in [-1, 1]."""
        return self.decoder(self.post_quant_conv(f_hat)).clamp(-1, 1)

    @torch.no_grad()
    def img_to_idx(self, x) -> List[torch.Tensor]:
        return self.quantize.f_to_idx(self.encode(x))

    @torch.no_grad()
    def idx_to_img(self, ids) -> torch.Tensor:
        return self.fhat_to_img(self.quantize.idx_to_fhats(ids)[-1])

    # names used by the official code, for side-by-side comparisons
    def img_to_idxBl(self, inp_img_no_grad) -> List[torch.Tensor]:
        return self.img_to_idx(inp_img_no_grad)

    @torch.no_grad()
    def idxBl_to_img(self, ms_idx_Bl, same_shape=True, last_one=False):
        if not same_shape:
            raise ValueError('only same_shape=True (every scale upsampled to the latent size) is implemented')
        fhats = self.quantize.idx_to_fhats(ms_idx_Bl)
        return self.fhat_to_img(fhats[-1]) if last_one else [self.fhat_to_img(f) for f in fhats]

    def load_state_dict(self, state_dict, strict=True):
        sd = dict(state_dict)
        hits = sd.get('quantize.ema_vocab_hit_SV')
        if hits is not None and hits.shape != self.quantize.ema_vocab_hit_SV.shape:
            # usage statistics recorded for another schedule carry no weights: keep ours
            sd['quantize.ema_vocab_hit_SV'] = self.quantize.ema_vocab_hit_SV
        return super().load_state_dict(sd, strict=strict)


def resample_matrices(patch_nums: Sequence[int]):
    """Constant matrices for the exporter: up[si] [HW, pn] (bicubic) and down[si] [pn_next, HW] (area).

    Built by pushing identity bases through torch's own F.interpolate, so M @ X @ M.T equals what
    torch computes for a [pn, pn] map X (both modes are separable per axis).
    """
    hw = patch_nums[-1]
    S = len(patch_nums)
    ups, downs = [], []
    for si, pn in enumerate(patch_nums):
        if si == S - 1:
            ups.append(torch.eye(hw))
            downs.append(torch.eye(hw))
            continue
        # map j is the basis e_j along rows, constant along columns: row profile = column j of up
        basis = torch.eye(pn).reshape(pn, 1, pn, 1).repeat(1, 1, 1, pn)  # each map constant along width
        up_cols = F.interpolate(basis, size=(hw, hw), mode='bicubic')[:, 0, :, 0]  # [pn, hw]
        ups.append(up_cols.t().contiguous())
        pn_next = patch_nums[si + 1]
        basis_hw = torch.eye(hw).reshape(hw, 1, hw, 1).repeat(1, 1, 1, hw)
        down_cols = F.interpolate(basis_hw, size=(pn_next, pn_next), mode='area')[:, 0, :, 0]  # [hw, pn_next]
        downs.append(down_cols.t().contiguous())
    return ups, downs
