#!/usr/bin/env python3
"""PyTorch reference for Meridian's GPT-2 model: one forward and backward in float64, for golden tests.

Usage:  gpt2_torch.py DIR          reads DIR/config.json, DIR/params.bin, DIR/tokens.bin, writes DIR/out.bin
        gpt2_torch.py --self-test  checks this script itself (finite differences, a naive forward); exit 0 = ok

Inputs (little-endian):
  config.json  {"vocab": V, "padded_vocab": Vp, "max_seq": maxT, "layers": L, "d_model": C, "heads": NH,
                "batch": B, "seq": T}
  params.bin   float32, every parameter in PARAMETER ORDER below; matrices are (in, out) row-major,
               y = x @ W + b (the transpose of torch.nn.Linear.weight). qkv columns are [q | k | v], each C
               wide; head h owns columns h*hs .. (h+1)*hs-1 of each (hs = C/NH).
  tokens.bin   int32 inputs (B, T), then int32 targets (B, T); every token < V.
Output out.bin, float64: loss (1), logits (B, T, V), then d loss / d parameter for every parameter in
PARAMETER ORDER and shape (wte for all Vp rows; rows >= V are never used, so their gradient is 0).

Model: x = wte[in] + wpe[:T]; per layer x += attn(ln1(x)); x += mlp(ln2(x)); logits = lnf(x) @ wte[:V]^T
(LM head tied to the embedding, padded rows excluded); loss = mean cross-entropy over B*T. Causal softmax
attention scaled by 1/sqrt(hs); MLP gelu (tanh form) with a 4C hidden layer; LayerNorm eps 1e-5.
Exits 77 (skip) when torch is missing, 2 on bad input.
"""

import ctypes
import json
import math
import os
import random
import sys
import tempfile

try:
    import torch
except ImportError:
    print("SKIP: python3-torch is not installed (apt-get install python3-torch)")
    sys.exit(77)

LN_EPS = 1e-5
USAGE = "usage: gpt2_torch.py DIR | gpt2_torch.py --self-test"


def parameter_shapes(cfg):
    """[(name, shape)] in PARAMETER ORDER, the layout of params.bin and of the gradients in out.bin."""
    C, Vp, maxT = cfg["d_model"], cfg["padded_vocab"], cfg["max_seq"]
    shapes = [("wte", (Vp, C)), ("wpe", (maxT, C))]
    for l in range(cfg["layers"]):
        shapes += [(f"h{l}.{name}", shape) for name, shape in [
            ("ln1.weight", (C,)), ("ln1.bias", (C,)),
            ("qkv.weight", (C, 3 * C)), ("qkv.bias", (3 * C,)),
            ("attn_proj.weight", (C, C)), ("attn_proj.bias", (C,)),
            ("ln2.weight", (C,)), ("ln2.bias", (C,)),
            ("fc.weight", (C, 4 * C)), ("fc.bias", (4 * C,)),
            ("fc_proj.weight", (4 * C, C)), ("fc_proj.bias", (C,)),
        ]]
    shapes += [("lnf.weight", (C,)), ("lnf.bias", (C,))]
    return shapes


def fail(message):
    print(f"gpt2_torch: {message}", file=sys.stderr)
    sys.exit(2)


def check_config(cfg):
    keys = ["vocab", "padded_vocab", "max_seq", "layers", "d_model", "heads", "batch", "seq"]
    missing = [k for k in keys if not isinstance(cfg.get(k), int) or cfg[k] < 1]
    if missing:
        fail(f"config.json needs positive integers for {', '.join(missing)}")
    if cfg["padded_vocab"] < cfg["vocab"]:
        fail(f"padded_vocab {cfg['padded_vocab']} is below vocab {cfg['vocab']}")
    if cfg["seq"] > cfg["max_seq"]:
        fail(f"seq {cfg['seq']} exceeds max_seq {cfg['max_seq']}")
    if cfg["d_model"] % cfg["heads"]:
        fail(f"d_model {cfg['d_model']} is not a multiple of heads {cfg['heads']}")


def read_tensor(path, dtype, count):
    """`count` values of `dtype` from a file of exactly that size (host order = little-endian)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    itemsize = torch.tensor([], dtype=dtype).element_size()
    if len(data) != count * itemsize:
        fail(f"{path} has {len(data)} bytes, expected {count * itemsize} ({count} values)")
    return torch.frombuffer(data, dtype=dtype)


def raw_bytes(t):
    """The bytes of a tensor in host order (no numpy needed)."""
    t = t.detach().contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())


def write_doubles(f, t):
    f.write(raw_bytes(t.to(torch.float64)))


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased variance, as torch.nn.LayerNorm
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(cfg, P, inputs, targets):
    """Loss and logits (B, T, V). P: name -> float64 tensor; inputs, targets: (B, T) int64."""
    B, T = inputs.shape
    C, NH, V = cfg["d_model"], cfg["heads"], cfg["vocab"]
    hs = C // NH
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    x = P["wte"][inputs] + P["wpe"][:T]  # (B, T, C)
    for l in range(cfg["layers"]):
        p = {name[len(f"h{l}."):]: t for name, t in P.items() if name.startswith(f"h{l}.")}
        qkv = layer_norm(x, p["ln1.weight"], p["ln1.bias"]) @ p["qkv.weight"] + p["qkv.bias"]  # (B, T, 3C)
        q, k, v = (part.reshape(B, T, NH, hs).transpose(1, 2) for part in qkv.split(C, dim=-1))  # (B, NH, T, hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, NH, T, T)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p["attn_proj.weight"] + p["attn_proj.bias"]
        h = gelu_tanh(layer_norm(x, p["ln2.weight"], p["ln2.bias"]) @ p["fc.weight"] + p["fc.bias"])  # (B, T, 4C)
        x = x + h @ p["fc_proj.weight"] + p["fc_proj.bias"]
    x = layer_norm(x, P["lnf.weight"], P["lnf.bias"])
    logits = x @ P["wte"][:V].T  # (B, T, V): the padded rows V..Vp-1 take no part
    loss = torch.nn.functional.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
    return loss, logits


def load(directory):
    for name in ("config.json", "params.bin", "tokens.bin"):
        if not os.path.isfile(os.path.join(directory, name)):
            fail(f"{os.path.join(directory, name)} does not exist (usage: gpt2_torch.py DIR)")
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    check_config(cfg)
    shapes = parameter_shapes(cfg)
    total = sum(math.prod(s) for _, s in shapes)
    flat = read_tensor(os.path.join(directory, "params.bin"), torch.float32, total).to(torch.float64)
    P, at = {}, 0
    for name, shape in shapes:
        n = math.prod(shape)
        P[name] = flat[at:at + n].reshape(shape).clone().requires_grad_(True)
        at += n
    B, T = cfg["batch"], cfg["seq"]
    tokens = read_tensor(os.path.join(directory, "tokens.bin"), torch.int32, 2 * B * T).to(torch.int64)
    inputs, targets = tokens[:B * T].reshape(B, T), tokens[B * T:].reshape(B, T)
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= cfg["vocab"]):
        fail(f"tokens.bin holds tokens outside [0, {cfg['vocab']})")
    return cfg, P, inputs, targets


def run(directory):
    cfg, P, inputs, targets = load(directory)
    loss, logits = forward(cfg, P, inputs, targets)
    loss.backward()
    out_path = os.path.join(directory, "out.bin")
    with open(out_path, "wb") as f:
        write_doubles(f, loss.reshape(1))
        write_doubles(f, logits)
        for name, _ in parameter_shapes(cfg):
            write_doubles(f, P[name].grad)
    count = sum(t.numel() for t in P.values())
    print(f"gpt2_torch: loss {loss.item():.6f} | {count} parameters | B {cfg['batch']} T {cfg['seq']} "
          f"V {cfg['vocab']} | {out_path}")
    return cfg, P, loss, logits


# --- self-test: the reference checked against finite differences and a naive forward -----------------

def naive_logits(cfg, P, tokens):
    """Logits (T, V) of one sequence, one position and one head at a time, with no masks or reshapes."""
    C, NH, V = cfg["d_model"], cfg["heads"], cfg["vocab"]
    hs = C // NH
    xs = [P["wte"][tok] + P["wpe"][t] for t, tok in enumerate(tokens.tolist())]
    for l in range(cfg["layers"]):
        def p(name, l=l):
            return P[f"h{l}.{name}"]

        qkv = [layer_norm(x, p("ln1.weight"), p("ln1.bias")) @ p("qkv.weight") + p("qkv.bias") for x in xs]
        new = []
        for t, x in enumerate(xs):
            heads = []
            for h in range(NH):
                q = qkv[t][h * hs:(h + 1) * hs]
                keys = [qkv[s][C + h * hs:C + (h + 1) * hs] for s in range(t + 1)]
                vals = [qkv[s][2 * C + h * hs:2 * C + (h + 1) * hs] for s in range(t + 1)]
                scores = torch.stack([q.dot(k) / math.sqrt(hs) for k in keys])
                weights = torch.exp(scores - scores.max())
                weights = weights / weights.sum()
                heads.append(sum(w * v for w, v in zip(weights, vals)))
            x = x + torch.cat(heads) @ p("attn_proj.weight") + p("attn_proj.bias")
            hidden = gelu_tanh(layer_norm(x, p("ln2.weight"), p("ln2.bias")) @ p("fc.weight") + p("fc.bias"))
            new.append(x + hidden @ p("fc_proj.weight") + p("fc_proj.bias"))
        xs = new
    return torch.stack([layer_norm(x, P["lnf.weight"], P["lnf.bias"]) @ P["wte"][:V].T for x in xs])


def self_test():
    torch.manual_seed(1234)
    rng = random.Random(1234)
    cfg = {"vocab": 257, "padded_vocab": 264, "max_seq": 8, "layers": 2, "d_model": 16, "heads": 4,
           "batch": 2, "seq": 5}
    B, T, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    shapes = parameter_shapes(cfg)
    with tempfile.TemporaryDirectory(prefix="gpt2_torch_") as d:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        with open(os.path.join(d, "params.bin"), "wb") as f:
            for name, shape in shapes:
                t = torch.randn(shape) * 0.3
                if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "lnf.weight":
                    t += 1.0
                f.write(raw_bytes(t))
        tokens = [rng.randrange(V) for _ in range(2 * B * T)]
        tokens[0] = V - 1  # the last real row is used; the padded rows never are
        tokens_t = torch.tensor(tokens, dtype=torch.int32)
        with open(os.path.join(d, "tokens.bin"), "wb") as f:
            f.write(raw_bytes(tokens_t))

        _, P, loss, logits = run(d)
        failures = []

        count = sum(math.prod(s) for _, s in shapes)
        expected_bytes = 8 * (1 + B * T * V + count)
        size = os.path.getsize(os.path.join(d, "out.bin"))
        if size != expected_bytes:
            failures.append(f"out.bin has {size} bytes, expected {expected_bytes}")
        out = read_tensor(os.path.join(d, "out.bin"), torch.float64, expected_bytes // 8)
        if out[0].item() != loss.item() or not torch.equal(out[1:1 + B * T * V], logits.detach().reshape(-1)):
            failures.append("out.bin does not hold the loss and logits computed")
        wte_grad = out[1 + B * T * V:1 + B * T * V + math.prod(shapes[0][1])].reshape(shapes[0][1])
        if not torch.equal(wte_grad, P["wte"].grad) or wte_grad[V:].abs().max().item() != 0.0:
            failures.append("the wte gradient in out.bin is wrong, or nonzero in the padded rows")

        _, _, inputs, targets = load(d)
        with torch.no_grad():
            for b in range(B):
                diff = (naive_logits(cfg, P, inputs[b]) - logits[b]).abs().max().item()
                if diff > 1e-12:
                    failures.append(f"naive forward differs from the batched one by {diff:.3g} (sequence {b})")

        # Central differences on a few entries of every kind of parameter; in float64 with step 1e-6 the
        # truncation and rounding errors are both ~1e-10 against gradients of ~1e-3..1.
        def loss_at():
            with torch.no_grad():
                return forward(cfg, P, inputs, targets)[0].item()

        step = 1e-6
        for name, shape in shapes:
            n = math.prod(shape)
            entries = {rng.randrange(n) for _ in range(3)}
            if name == "wte":
                C = cfg["d_model"]  # a used input row, a target row, the last real row, a padded row
                entries |= {int(inputs[0, 1]) * C + 3, int(targets[1, 2]) * C, (V - 1) * C + 5, V * C + 1}
            for i in sorted(entries):
                flat = P[name].data.view(-1)
                saved = flat[i].item()
                flat[i] = saved + step
                up = loss_at()
                flat[i] = saved - step
                down = loss_at()
                flat[i] = saved
                numeric = (up - down) / (2 * step)
                analytic = P[name].grad.view(-1)[i].item()
                if abs(numeric - analytic) > 1e-7 + 1e-6 * abs(analytic):
                    failures.append(f"{name}[{i}]: autograd {analytic:.10g}, finite difference {numeric:.10g}")

    for message in failures:
        print(f"gpt2_torch self-test: FAIL {message}")
    print(f"gpt2_torch self-test: {'FAILED' if failures else 'ok'} (loss {loss.item():.6f}, {count} parameters)")
    return 1 if failures else 0


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 0 if len(argv) == 2 else 2
    if sys.byteorder != "little":
        fail("the binary files are little-endian and this host is not; run on a little-endian machine")
    if argv[1] == "--self-test":
        return self_test()
    run(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
