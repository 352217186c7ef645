#!/usr/bin/env python3
"""Writes the seeds of the neural fuzz targets: tiny models and training
checkpoints that load (each well under the 8192 bytes CI gives an input).

    dev/gen_fuzz_seeds.py BUILD/lmfuse

trains, with the lmfuse binary given, tiny models of each architecture
(vocabulary of 5: <unk>, </s>, a, b, c; hidden size 4) on TEXT below
(fuzz/fuzz_ckpt.c has the same text), stops each after 3 steps with a
checkpoint at step 2, and writes
    fuzz/corpus/nn/<name>.safetensors    the model (fuzz_nn)
    fuzz/corpus/ckpt/<name>.ckpt         the checkpoint (fuzz_ckpt), with the
                                         training folder in its file names
                                         replaced by "@D", which fuzz_ckpt
                                         maps to its own folder
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

TEXT = "a b c a\nb a c\nc c a b a\na b\nb c b a c\n"

MODELS = {  # name: extra training options
    "rnn": ["--arch", "rnn", "--layers", "2"],
    "lstm": ["--arch", "lstm", "--layers", "1"],
    "gru": ["--arch", "gru", "--layers", "1", "--dropout", "0.1"],
    "transformer": ["--arch", "transformer", "--layers", "1", "--heads", "2", "--ff", "8", "--ctx", "6"],
    "lstm_classes": ["--arch", "lstm", "--layers", "1", "--classes", "2"],
    "rnn_tied_char": ["--arch", "rnn", "--layers", "1", "--tied", "--vocab", "@CHARS"],
}


def relocate(path, folder):
    """The safetensors file at path with folder replaced by "@D" in its header."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = raw[8 : 8 + n].decode().replace(folder, "@D").encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + raw[8 + n :]


def main():
    lmfuse = os.path.abspath(sys.argv[1])
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    nn_dir, ck_dir = os.path.join(root, "fuzz/corpus/nn"), os.path.join(root, "fuzz/corpus/ckpt")
    os.makedirs(nn_dir, exist_ok=True)
    os.makedirs(ck_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        for name in ("train.txt", "valid.txt"):
            with open(os.path.join(d, name), "w") as f:
                f.write(TEXT)
        chars = os.path.join(d, "chars.vocab")
        subprocess.run([lmfuse, "vocab", "build", "--mode", "char", os.path.join(d, "train.txt"), "-o", chars],
                       check=True, stderr=subprocess.DEVNULL)
        for name, extra in MODELS.items():
            extra = [chars if a == "@CHARS" else a for a in extra]
            out = os.path.join(d, "out.safetensors")
            subprocess.run([lmfuse, "train", "-q", "--train", os.path.join(d, "train.txt"), "--valid",
                            os.path.join(d, "valid.txt"), "-o", out, "--hidden", "4", "--emb", "4", "--batch", "2",
                            "--bptt", "4", "--epochs", "2", "--max-steps", "3", "--checkpoint-every", "2",
                            "--loss-log", os.path.join(d, "loss.tsv")] + extra, check=True)
            seeds = [(os.path.join(nn_dir, name + ".safetensors"), open(out, "rb").read()),
                     (os.path.join(ck_dir, name + ".ckpt"), relocate(out + ".ckpt", d))]
            for path, data in seeds:
                assert len(data) < 8192, (path, len(data))
                with open(path, "wb") as f:
                    f.write(data)
                print(path, len(data))


if __name__ == "__main__":
    main()
