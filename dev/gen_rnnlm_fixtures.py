#!/usr/bin/env python3
"""PyTorch reference models for lmfuse's recurrent-model loader and scorer.

Builds small word models the way PyTorch's word_language_model does
(nn.Embedding -> nn.RNN/LSTM/GRU -> nn.Linear; tensor names from
state_dict()), saves each as tests/data/rnnlm_<arch>.safetensors with the
lmfuse metadata (arch, vocabulary), and writes the natural-log probability
PyTorch gives every token of tests/data/rnnlm.txt to
tests/data/rnnlm_<arch>.expected.  The stream fed to PyTorch starts with an
end-of-line token and has one after every line (the lmfuse convention).
The lstm model has tied embeddings (decoder.weight left out of the file).
A Transformer (dev/torch_tf.py, context 6, tied) is scored the way lmfuse
reads a stream through its window (sliding, stride 3).

usage: /usr/bin/python3 dev/gen_rnnlm_fixtures.py   (needs Debian's python3-torch)
"""
import json
import random
import struct

import torch

from torch_tf import TinyGPT, sliding_logprobs

torch.manual_seed(7)
random.seed(7)
V, E, H, L = 23, 8, 8, 2
vocab = ["<unk>", "</s>"] + [f"w{i}" for i in range(2, V)]
lines = [" ".join(random.choice(vocab[2:] + ["<unk>"]) for _ in range(random.randint(0, 9))) for _ in range(8)]
with open("tests/data/rnnlm.txt", "w") as f:
    f.write("\n".join(lines) + "\n")
ids = [1]
for line in lines:
    ids += [vocab.index(w) for w in line.split()] + [1]


class Net(torch.nn.Module):
    def __init__(self, arch, tied):
        super().__init__()
        self.encoder = torch.nn.Embedding(V, E)
        self.rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[arch](E, H, L)
        self.decoder = torch.nn.Linear(H, V)
        if tied:
            self.decoder.weight = self.encoder.weight
        for p in self.parameters():
            torch.nn.init.uniform_(p, -0.6, 0.6)

    def forward(self, x):
        out, _ = self.rnn(self.encoder(x).unsqueeze(1))
        return torch.log_softmax(self.decoder(out.squeeze(1)), dim=-1)


def save(path, tensors, meta):
    header, data = {"__metadata__": meta}, b""
    for name, t in tensors.items():
        t = t.detach().contiguous().float()
        raw = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + data)


for arch in ("rnn", "lstm", "gru"):
    tied = arch == "lstm"
    net = Net(arch, tied).eval()
    sd = dict(net.state_dict())
    if tied:
        del sd["decoder.weight"]
    save(f"tests/data/rnnlm_{arch}.safetensors", sd,
         {"lmfuse.arch": arch, "lmfuse.vocab": json.dumps(vocab), "generator": "dev/gen_rnnlm_fixtures.py"})
    with torch.no_grad():
        logp = net(torch.tensor(ids[:-1]))
    with open(f"tests/data/rnnlm_{arch}.expected", "w") as f:
        for t, y in enumerate(ids[1:]):
            f.write(f"{logp[t, y].item():.9g}\n")
    print(arch, "done")

torch.manual_seed(8)
ctx = 6
gpt = TinyGPT(V, 8, 2, 12, ctx, 2, tied=True).eval()
for p in gpt.parameters():
    torch.nn.init.uniform_(p, -0.5, 0.5)
sd = dict(gpt.state_dict())
del sd["head.weight"]
save("tests/data/rnnlm_transformer.safetensors", sd,
     {"lmfuse.arch": "transformer", "lmfuse.heads": "2", "lmfuse.vocab": json.dumps(vocab),
      "generator": "dev/gen_rnnlm_fixtures.py"})
with open("tests/data/rnnlm_transformer.expected", "w") as f:
    for lp in sliding_logprobs(gpt, ids, ctx):
        f.write(f"{lp:.9g}\n")
print("transformer done")
