"""Reading lmfuse's neural model files (safetensors, float32 tensors, the
config and vocabulary in the metadata) into PyTorch, for the check scripts
in dev/ (import it from a script run as /usr/bin/python3 dev/NAME.py)."""
import json
import struct

import torch


def read(path):
    """The metadata (dict of strings) and the tensors (name -> float32)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        blob = f.read()
    meta = hdr.pop("__metadata__")
    tensors = {k: torch.frombuffer(bytearray(blob[v["data_offsets"][0]:v["data_offsets"][1]]),
                                   dtype=torch.float32).view(v["shape"])
               for k, v in hdr.items()}
    return meta, tensors


def recurrent(arch, tensors):
    """nn.RNN / nn.LSTM / nn.GRU with the file's rnn.* weights."""
    E, H = tensors["encoder.weight"].shape[1], tensors["rnn.weight_hh_l0"].shape[1]
    L = sum(1 for k in tensors if k.startswith("rnn.weight_ih_l"))
    net = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[arch](E, H, L)
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")})
    return net
