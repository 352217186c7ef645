#!/usr/bin/env python3
"""A PyTorch model as people save it, for `lmfuse convert --from pytorch`:
a tied 2-layer LSTM whose module is called `lstm` (not `rnn`), whose state
dict holds both encoder.weight and decoder.weight (tied), saved with no
lmfuse metadata, and whose vocabulary has <unk> and <eos> in the middle
(tests/data/pt_lstm.vocab.txt, one token per line in id order).
tests/data/pt_lstm.expected: PyTorch's ln p of every token of
tests/data/rnnlm.txt read as one stream starting after an end of line.

usage: /usr/bin/python3 dev/gen_convert_fixtures.py   (needs Debian's python3-torch)
"""
import json
import struct

import torch

torch.manual_seed(9)
words = [f"w{i}" for i in range(2, 23)]
vocab = words[:2] + ["<unk>"] + words[2:5] + ["<eos>"] + words[5:]
V, E, H = len(vocab), 8, 8
index = {w: i for i, w in enumerate(vocab)}
lines = [l.split() for l in open("tests/data/rnnlm.txt")]
ids = [index["<eos>"]] + [i for l in lines for i in [index[w] for w in l] + [index["<eos>"]]]


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H, 2)
        self.decoder = torch.nn.Linear(H, V)
        self.decoder.weight = self.encoder.weight
        for p in self.parameters():
            torch.nn.init.uniform_(p, -0.6, 0.6)

    def forward(self, x):
        out, _ = self.lstm(self.encoder(x).unsqueeze(1))
        return torch.log_softmax(self.decoder(out.squeeze(1)), -1)


net = Net().eval()
header, blob = {"__metadata__": {"format": "pt"}}, b""
for name, t in net.state_dict().items():
    raw = t.detach().contiguous().float().numpy().tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
js = json.dumps(header, separators=(",", ":")).encode()
js += b" " * (-len(js) % 8)
with open("tests/data/pt_lstm.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(js)) + js + blob)
with open("tests/data/pt_lstm.vocab.txt", "w") as f:
    f.write("\n".join(vocab) + "\n")
with torch.no_grad():
    lp = net(torch.tensor(ids[:-1]))
with open("tests/data/pt_lstm.expected", "w") as f:
    for t, y in enumerate(ids[1:]):
        f.write(f"{lp[t, y].item():.9g}\n")
print("state dict keys:", list(net.state_dict()))
