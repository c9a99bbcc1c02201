"""Reference ids for the tokenizer parity tests.

Trains a LLaMA-3-style byte-level BPE tokenizer (tokenizer.json) and a CLIP-style BPE tokenizer
(vocab.json + merges.txt) with Hugging Face `tokenizers`, generates a corpus of awkward strings,
and writes every string with the ids that transformers' tokenizers give for it -- the trained ones
and the tiny model's own -- to one JSON file that the C++ test compares in bulk.

    text_tokenizers.py OUT_DIR TINY_MODEL_DIR [--count N] [--seed S]
"""
import argparse
import json
import os
import random
import shutil
import tempfile

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, CLIPTokenizer, PreTrainedTokenizerFast

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                  "<|reserved_special_token_0|>"]
CLIP_SPLIT = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"

WORDS = ("a cat walks on the grass realistic red panda climbs snowy tree at dawn cinematic lighting film waves crash "
         "against black volcanic rocks under stormy sky timelapse city night neon signs rain streets astronaut rides "
         "horse across surface moon highly detailed close up coffee poured white cup slow motion steam rising camera "
         "drone mountains autumn colours moving forward The QUICK Brown FOX Jumps lazy dog Über straße").split()
FRAGMENTS = {
    "cjk": ["一只猫在草地上行走", "电影感", "東京の夜景", "서울의 거리", "漢字かなカナ", "中文，標點。", "ｆｕｌｌｗｉｄｔｈ"],
    "emoji": ["🐱", "🚀", "🌊", "👩‍👩‍👧‍👦", "👍🏽", "🇯🇵", "❤️", "🏳️‍🌈", "😀😃😄", "🧑🏿‍🚀"],
    "combining": ["e\u0301", "a\u0308", "n\u0303o", "\u0915\u093f", "Z\u0351\u0315a\u0338l\u0334", "o\u0302\u0323",
                  "Å", "A\u030a", "ﬁ", "ǅ"],
    "digits": ["0", "7", "42", "123", "2024", "1234567890", "3.14159", "1,000,000", "٣٤٥", "१२३", "⅔", "²"],
    "space": [" ", "  ", "    ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2028", "\u2003",
              "\u200b", "\u0085", "\u180e", "\u2029", "\u202f", "\ufeff", " " * 17, "\t\t \n\n\n"],
    "special": LLAMA3_SPECIAL[:5] + ["<|startoftext|>", "<|endoftext|>", "<|eot_id|", "<|EOT_ID|>",
                                     "<|STARTOFTEXT|>", "<|begin_of_text|><|begin_of_text|>"],
    "scripts": ["Привет мир", "Γειά σου κόσμε ΣΟΦΟΣ", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
                "İstanbul ıI", "Ǆungla", "ẞ groß", "Ωμέγα", "ǅ ǈ ﬃ", "\u212a\u212b"],
    "apostrophe": ["'s", "'S", "'ll", "'VE", "'d", "’s", "don't", "it's", "O'Neil's", "''", "'", "rock'n'roll", "'ſ", "'\u212a", "'İ", "'ß"],
    "punct": [".", ",", "!?", "...", "--", "(", ")", "[x]", "{}", "#tag", "@user", "a/b", "$5", "%", "&&", "\"q\"",
              "<>", "|", "~", "_", "«»", "—", "…"],
    "control": ["\x01", "\x7f", "\x1b[0m", "\x0b", "\x0c"],
}


def make_corpus(count, seed):
    rng = random.Random(seed)
    corpus = ["", " ", "a", "\n", "A cat walks on the grass, realistic."]
    for cat, frags in FRAGMENTS.items():
        corpus.extend(frags)
    kinds = list(FRAGMENTS) + ["word"] * 6
    while len(corpus) < count:
        parts = []
        for _ in range(rng.randint(1, 14)):
            kind = rng.choice(kinds)
            frag = rng.choice(WORDS) if kind == "word" else rng.choice(FRAGMENTS[kind])
            if kind == "digits" and rng.random() < 0.3:
                frag = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 40)))
            if kind == "space" and rng.random() < 0.2:
                frag = rng.choice([" ", "\t", "\n"]) * rng.randint(5, 200)
            parts.append(frag)
            if rng.random() < 0.6:
                parts.append(rng.choice([" ", " ", " ", "", "\n", ", "]))
        corpus.append("".join(parts))
    return corpus[:count]


def train_llama(out_dir, train_text):
    tok = Tokenizer(models.BPE(byte_fallback=False, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=LLAMA3_SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(train_text, trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
        special_tokens=[("<|begin_of_text|>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                   pad_token="<|end_of_text|>", model_max_length=1 << 20, padding_side="right")
    fast.save_pretrained(out_dir)
    # Merges in the older "a b" string form, to check both forms are read.
    doc = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))
    doc["model"]["merges"] = [" ".join(m) for m in doc["model"]["merges"]]
    string_dir = out_dir + "_string_merges"
    shutil.copytree(out_dir, string_dir)
    with open(os.path.join(string_dir, "tokenizer.json"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False)


def train_clip(out_dir, train_text):
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_SPLIT), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  end_of_word_suffix="</w>", show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([t.lower() for t in train_text], trainer)
    with tempfile.TemporaryDirectory() as tmp:
        tok.model.save(tmp)
        vocab = json.load(open(os.path.join(tmp, "vocab.json"), encoding="utf-8"))
        merges = open(os.path.join(tmp, "merges.txt"), encoding="utf-8").read().splitlines()
    for symbol in pre_tokenizers.ByteLevel.alphabet():
        for s in (symbol, symbol + "</w>"):
            if s not in vocab:
                vocab[s] = len(vocab)
    merges = [m for m in merges if m and not m.startswith("#")]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as fh:
        json.dump(vocab, fh, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as fh:
        fh.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def ids(tok, corpus, **kw):
    enc = tok(corpus, **kw)
    return enc["input_ids"], enc["attention_mask"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("tiny_model")
    ap.add_argument("--count", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    corpus = make_corpus(args.count, args.seed)
    train_text = make_corpus(600, args.seed + 1) * 3
    llama_dir = os.path.join(args.out, "llama")
    clip_dir = os.path.join(args.out, "clip")
    train_llama(llama_dir, train_text)
    train_clip(clip_dir, train_text)

    result = {"strings": corpus, "tokenizers": {}}
    llama_like = {"llama": AutoTokenizer.from_pretrained(llama_dir),
                  "tiny_llama": AutoTokenizer.from_pretrained(os.path.join(args.tiny_model, "tokenizer"))}
    # The same CLIP files with another pad token in tokenizer_config.json (as some checkpoints have).
    clip_pad_dir = os.path.join(args.out, "clip_pad")
    CLIPTokenizer.from_pretrained(clip_dir, pad_token="!").save_pretrained(clip_pad_dir)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(clip_dir, name), os.path.join(clip_pad_dir, name))
    clip_like = {"clip": CLIPTokenizer.from_pretrained(clip_dir),
                 "clip_pad": CLIPTokenizer.from_pretrained(clip_pad_dir),
                 "tiny_clip": CLIPTokenizer.from_pretrained(os.path.join(args.tiny_model, "tokenizer_2"))}
    for name, tok in llama_like.items():
        plain, _ = ids(tok, corpus)
        padded, mask = ids(tok, corpus, max_length=40, padding="max_length", truncation=True)
        result["tokenizers"][name] = {"ids": plain, "padded_ids": padded, "padded_mask": mask, "max_length": 40,
                                      "decoded": [tok.decode(i, skip_special_tokens=True) for i in plain[:200]]}
    for name, tok in clip_like.items():
        plain, _ = ids(tok, corpus)
        padded, mask = ids(tok, corpus, max_length=77, padding="max_length", truncation=True)
        result["tokenizers"][name] = {"ids": plain, "padded_ids": padded, "padded_mask": mask, "max_length": 77}
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False)


if __name__ == "__main__":
    main()
