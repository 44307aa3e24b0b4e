"""The VAR transformer: next-scale prediction with AdaLN blocks and block-causal attention.

Parameter and buffer names follow the official release, so `var_dNN.pth` loads with strict=True at
the official hyperparameters (`official_var_config(depth)`). Besides the training forward pass this
module has `step()`, one pass over the tokens of one scale with an explicit KV cache: the function
exported as `var_step.onnx`.
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


def official_var_config(depth):
    return dict(depth=depth, embed_dim=depth * 64, num_heads=depth, mlp_ratio=4.0, num_classes=1000,
                attn_l2_norm=True, shared_aln=False, norm_eps=1e-6,
                patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16), Cvae=32, vocab_size=4096)


def layer_norm(x, C: int, eps: float):
    # explicit unit weight and zero bias: LayerNorm without affine does not export at opset 17 in torch 1.13
    return F.layer_norm(x, (C,), torch.ones(C, dtype=x.dtype), torch.zeros(C, dtype=x.dtype), eps)


class FFN(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate='tanh')
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SelfAttention(nn.Module):
    def __init__(self, dim, num_heads, attn_l2_norm=True):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.attn_l2_norm = attn_l2_norm
        if attn_l2_norm:
            self.scale = 1.0
            # per-head temperature, stored as a log and capped at log(100)
            self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), 4.0).log())
            self.max_scale_mul = math.log(100.0)
        else:
            self.scale = 0.25 / math.sqrt(self.head_dim)
        self.mat_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer('zero_k_bias', torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def qkv(self, x):
        """x [B, L, C] -> q, k, v [B, H, L, hd] (q, k normalised and q scaled when l2-norm is on)."""
        B, L, C = x.shape
        bias = torch.cat((self.q_bias, self.zero_k_bias, self.v_bias))
        qkv = F.linear(x, self.mat_qkv.weight, bias).view(B, L, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.attn_l2_norm:
            scale_mul = self.scale_mul_1H11.clamp(max=self.max_scale_mul).exp()
            q = F.normalize(q, dim=-1) * scale_mul
            k = F.normalize(k, dim=-1)
        return q, k, v

    def attend(self, q, k, v, attn_bias):
        B, H, L, hd = q.shape
        att = (q * self.scale) @ k.transpose(-2, -1)
        if attn_bias is not None:
            att = att + attn_bias
        out = att.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(B, L, H * hd))

    def forward(self, x, attn_bias):
        q, k, v = self.qkv(x)
        return self.attend(q, k, v, attn_bias)


class AdaLNSelfAttn(nn.Module):
    def __init__(self, dim, cond_dim, num_heads, mlp_ratio, norm_eps, attn_l2_norm):
        super().__init__()
        self.C, self.eps = dim, norm_eps
        self.attn = SelfAttention(dim, num_heads, attn_l2_norm)
        self.ffn = FFN(dim, round(dim * mlp_ratio))
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))

    def modulation(self, cond_BD, ada=None):
        """The six modulation vectors; `ada` is ada_lin(cond_BD) when it was looked up instead."""
        if ada is None:
            ada = self.ada_lin(cond_BD)
        # order of the six chunks: gamma1, gamma2, scale1, scale2, shift1, shift2
        return ada.view(-1, 1, 6, self.C).unbind(2)

    def forward(self, x, cond_BD, attn_bias):
        g1, g2, s1, s2, b1, b2 = self.modulation(cond_BD)
        x = x + self.attn(layer_norm(x, self.C, self.eps) * (s1 + 1) + b1, attn_bias) * g1
        x = x + self.ffn(layer_norm(x, self.C, self.eps) * (s2 + 1) + b2) * g2
        return x

    def forward_cached(self, x, cond_BD, attn_bias, past_k, past_v, ada=None):
        g1, g2, s1, s2, b1, b2 = self.modulation(cond_BD, ada)
        q, k, v = self.attn.qkv(layer_norm(x, self.C, self.eps) * (s1 + 1) + b1)
        k = torch.cat((past_k, k), dim=2)
        v = torch.cat((past_v, v), dim=2)
        x = x + self.attn.attend(q, k, v, attn_bias) * g1
        x = x + self.ffn(layer_norm(x, self.C, self.eps) * (s2 + 1) + b2) * g2
        return x, k, v


class AdaLNBeforeHead(nn.Module):
    def __init__(self, dim, cond_dim, norm_eps):
        super().__init__()
        self.C, self.eps = dim, norm_eps
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))

    def forward(self, x, cond_BD, ada=None):
        if ada is None:
            ada = self.ada_lin(cond_BD)
        scale, shift = ada.view(-1, 1, 2, self.C).unbind(2)
        return layer_norm(x, self.C, self.eps) * (scale + 1) + shift


class VAR(nn.Module):
    def __init__(self, Cvae=16, vocab_size=512, num_classes=10, depth=4, embed_dim=256, num_heads=4,
                 mlp_ratio=4.0, norm_eps=1e-6, attn_l2_norm=True, shared_aln=False,
                 cond_drop_rate=0.1, patch_nums: Sequence[int] = (1, 2, 3, 4, 5, 7)):
        super().__init__()
        if shared_aln:
            raise ValueError('shared_aln=True is not supported (no official checkpoint uses it)')
        if embed_dim % num_heads:
            raise ValueError(f'embed_dim {embed_dim} is not a multiple of num_heads {num_heads}')
        self.config = dict(Cvae=Cvae, vocab_size=vocab_size, num_classes=num_classes, depth=depth,
                           embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                           norm_eps=norm_eps, attn_l2_norm=attn_l2_norm, patch_nums=tuple(patch_nums))
        self.Cvae, self.V, self.C, self.D = Cvae, vocab_size, embed_dim, embed_dim
        self.depth, self.num_heads, self.head_dim = depth, num_heads, embed_dim // num_heads
        self.num_classes = num_classes
        self.cond_drop_rate = cond_drop_rate
        self.patch_nums = tuple(patch_nums)
        self.L = sum(pn * pn for pn in self.patch_nums)
        self.first_l = self.patch_nums[0] ** 2
        self.begin = [0]
        for pn in self.patch_nums[:-1]:
            self.begin.append(self.begin[-1] + pn * pn)

        init_std = math.sqrt(1 / self.C / 3)
        self.word_embed = nn.Linear(Cvae, self.C)
        self.class_emb = nn.Embedding(num_classes + 1, self.C)
        self.pos_start = nn.Parameter(torch.empty(1, self.first_l, self.C))
        self.pos_1LC = nn.Parameter(torch.empty(1, self.L, self.C))
        self.lvl_embed = nn.Embedding(len(self.patch_nums), self.C)
        for t in (self.class_emb.weight, self.pos_start, self.pos_1LC, self.lvl_embed.weight):
            nn.init.trunc_normal_(t.data, mean=0, std=init_std)
        self.shared_ada_lin = nn.Identity()

        self.blocks = nn.ModuleList([
            AdaLNSelfAttn(self.C, self.D, num_heads, mlp_ratio, norm_eps, attn_l2_norm) for _ in range(depth)])

        lvl = torch.cat([torch.full((pn * pn,), i) for i, pn in enumerate(self.patch_nums)]).view(1, self.L, 1)
        lvl_T = lvl.transpose(1, 2)
        self.register_buffer('lvl_1L', lvl_T[:, 0].contiguous())
        self.register_buffer('attn_bias_for_masking',
                             torch.where(lvl >= lvl_T, 0.0, -torch.inf).reshape(1, 1, self.L, self.L).contiguous())
        self.head_nm = AdaLNBeforeHead(self.C, self.D, norm_eps)
        self.head = nn.Linear(self.C, self.V)

    # ------------------------------------------------------------------ training
    def init_weights(self, init_std=0.02, init_head=0.02, init_adaln=0.5, init_adaln_gamma=1e-5):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight.data, std=init_std)
                if m.bias is not None:
                    m.bias.data.zero_()
        self.head.weight.data.mul_(init_head / init_std)
        self.head.bias.data.zero_()
        for i, b in enumerate(self.blocks):
            b.attn.proj.weight.data.div_(math.sqrt(2 * self.depth))
            b.ffn.fc2.weight.data.div_(math.sqrt(2 * self.depth))
            w = b.ada_lin[-1].weight.data
            bias = b.ada_lin[-1].bias.data
            w[2 * self.C:].mul_(init_adaln)
            w[:2 * self.C].mul_(init_adaln_gamma)
            bias.zero_()
        hw = self.head_nm.ada_lin[-1]
        hw.weight.data.mul_(init_adaln)
        hw.bias.data.zero_()

    def logits(self, h, cond_BD):
        return self.head(self.head_nm(h, cond_BD))

    def forward(self, label_B, x_BLCv_wo_first_l, drop_labels: Optional[bool] = None):
        """Teacher-forced pass over all L tokens. label_B [B]; x [B, L-first_l, Cvae] -> logits [B, L, V]."""
        B = label_B.shape[0]
        if drop_labels is None:
            drop_labels = self.training
        if drop_labels and self.cond_drop_rate > 0:
            drop = torch.rand(B, device=label_B.device) < self.cond_drop_rate
            label_B = torch.where(drop, torch.full_like(label_B, self.num_classes), label_B)
        cond_BD = self.class_emb(label_B)
        sos = cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, self.first_l, -1)
        x = torch.cat((sos, self.word_embed(x_BLCv_wo_first_l.float())), dim=1)
        x = x + self.lvl_embed(self.lvl_1L.expand(B, -1)) + self.pos_1LC
        attn_bias = self.attn_bias_for_masking
        for b in self.blocks:
            x = b(x, cond_BD, attn_bias)
        return self.logits(x, cond_BD)

    # ------------------------------------------------------------------ inference (var_step)
    def embed_step(self, cond_label, x_cvae, pos):
        """Input embedding of the tokens at absolute positions `pos` ([l]); see the var-onnx/1 contract."""
        cond_BD = self.class_emb(cond_label)
        N, l = x_cvae.shape[0], pos.shape[0]
        first = (pos < self.first_l).view(1, l, 1)
        sos = cond_BD.unsqueeze(1) + self.pos_start[0, pos.clamp(max=self.first_l - 1)].unsqueeze(0)
        word = self.word_embed(x_cvae)
        x = torch.where(first, sos.expand(N, l, self.C), word)
        x = x + (self.lvl_embed(self.lvl_1L[0, pos]) + self.pos_1LC[0, pos]).unsqueeze(0)
        return x, cond_BD

    def step(self, cond_label, x_cvae, pos, attn_bias, past_k, past_v, ada_tables=None):
        """One pass over the l new tokens of a scale with an explicit KV cache.

        past_k/past_v [depth, N, H, P, hd]; returns logits [N, l, V], present_k/v [depth, N, H, P+l, hd].
        `ada_tables` (see `ada_tables`) replaces every AdaLN linear layer by a lookup of the label's row.
        """
        x, cond_BD = self.embed_step(cond_label, x_cvae, pos)

        def ada(i):
            return None if ada_tables is None else F.embedding(cond_label, ada_tables[i]).float()

        ks, vs = [], []
        for i, b in enumerate(self.blocks):
            x, k, v = b.forward_cached(x, cond_BD, attn_bias, past_k[i], past_v[i], ada(i))
            ks.append(k)
            vs.append(v)
        logits = self.head(self.head_nm(x, cond_BD, ada(self.depth)))
        return logits, torch.stack(ks), torch.stack(vs)

    @torch.no_grad()
    def ada_tables(self):
        """AdaLN's modulation of every class and of the null class: its input is the class embedding
        alone, so ada_lin(class_emb(label)) is a table with one row per label. One [num_classes + 1, 6C]
        table per block, then [num_classes + 1, 2C] for the head, computed in float32."""
        cond = self.class_emb.weight.float()
        return [b.ada_lin(cond).contiguous() for b in self.blocks] + [self.head_nm.ada_lin(cond).contiguous()]

    def empty_cache(self, N, dtype=torch.float32):
        return (torch.zeros(self.depth, N, self.num_heads, 0, self.head_dim, dtype=dtype),
                torch.zeros(self.depth, N, self.num_heads, 0, self.head_dim, dtype=dtype))


class VarStep(nn.Module):
    """Wrapper whose forward is exactly var_step.onnx.

    Given `ada_tables` (`VAR.ada_tables`), the AdaLN linear layers are exported as lookup tables: a
    row gather per block instead of a [C, 6C] product at every scale, and (num_classes + 1) x 6C values
    instead of C x 6C per block. float16 tables are gathered, then cast, so they stay half size at run
    time.
    """

    def __init__(self, var: VAR, ada_tables=None):
        super().__init__()
        self.var = var
        self.tabled = ada_tables is not None
        if self.tabled:
            if len(ada_tables) != var.depth + 1:
                raise ValueError(f'{len(ada_tables)} AdaLN tables for {var.depth} blocks and the head')
            for i, t in enumerate(ada_tables):
                self.register_buffer(f'ada_{i}' if i < var.depth else 'ada_head', t)

    def forward(self, cond_label, x_cvae, pos, attn_bias, past_k, past_v):
        tables = None
        if self.tabled:
            tables = [getattr(self, f'ada_{i}') for i in range(self.var.depth)] + [self.ada_head]
        return self.var.step(cond_label, x_cvae, pos, attn_bias, past_k, past_v, tables)
