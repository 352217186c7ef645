#!/usr/bin/env python3
"""Independent reference for the labelled tasks of
../shared/data/classification-splits.md (lmfuse: src/data/labelled.c).

    dev/labelled_reference.py spam  SPAM_PACKAGE_DIR  OUT_DIR
    dev/labelled_reference.py brown BROWN_PACKAGE_DIR OUT_DIR

Writes TASK.{train,valid,test}.txt as lmfuse documents them (fastText lines,
line breaks and control bytes escaped) and prints each file's md5."""
import hashlib, os, re, sys

SPLITS = ("train", "valid", "test")


def escape(text):
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\\":
            out.append("\\\\")
        elif (o < 0x20 and ch != "\t") or o == 0x7F:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def line(label, doc):
    return "__label__%s%s\n" % (label, " " + escape(doc) if doc else "")


def write(out_dir, task, lines):
    for i, name in enumerate(SPLITS):
        path = os.path.join(out_dir, "%s.%s.txt" % (task, name))
        data = "".join(lines[i]).encode("utf-8")
        with open(path, "wb") as f:
            f.write(data)
        print("%s %s %d" % (hashlib.md5(data).hexdigest(), path, len(lines[i])))


def spam(pkg, out_dir):
    full, body = ([], [], []), ([], [], [])
    data = os.path.join(pkg, "data")
    for folder in sorted(os.listdir(data)):
        sub = os.path.join(data, folder)
        if not os.path.isdir(sub):
            continue
        label = "ham" if "ham" in folder else "spam"
        for name in sorted(n for n in os.listdir(sub) if n.endswith(".txt")):
            digit = name.split(".")[1][-1].lower()
            split = 0 if digit in "0123456789" else 1 if digit in "ab" else 2
            text = open(os.path.join(sub, name), "rb").read().decode("latin-1").replace("\r\n", "\n")
            k = text.find("\n\n")
            full[split].append(line(label, text))
            body[split].append(line(label, text[k + 2:] if k >= 0 else ""))
    write(out_dir, "spam-full", full)
    write(out_dir, "spam-body", body)


def brown(pkg, out_dir):
    docs = ([], [], [])
    for name in sorted(n for n in os.listdir(pkg) if re.fullmatch(r"c[a-r][0-9][0-9]", n)):
        n = int(name[2:])
        split = 2 if n % 5 == 0 else 1 if n % 5 == 1 else 0
        toks = [t.rsplit(b"/", 1)[0] for t in open(os.path.join(pkg, name), "rb").read().split()]
        for c in range(len(toks) // 200):
            docs[split].append(line(name[1], b" ".join(toks[200 * c:200 * c + 200]).decode("latin-1")))
    write(out_dir, "brown-genre", docs)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("spam", "brown"):
        sys.exit(__doc__)
    os.makedirs(sys.argv[3], exist_ok=True)
    (spam if sys.argv[1] == "spam" else brown)(sys.argv[2], sys.argv[3])
