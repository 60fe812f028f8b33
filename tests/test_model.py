"""The BERT model: HF transformers as the oracle (import of all-MiniLM-L6-v2, export of
our checkpoints), a float64 gradient check, the fused-attention and unpadded paths
against the SDPA one, and bad checkpoints and configs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lexforge as lf  # noqa: E402
from lexforge import datasets  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertModel,
    sinusoidal_positions,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXTS = [
    "The capital of France is Paris.",
    "Word vectors come from a pretrained encoder, not from one-hot codes.",
    "中文的字也是一个一个切开的。",
    "short",
]


@pytest.fixture(scope="module")
def minilm() -> Path:
    return Path(datasets.files("all-MiniLM-L6-v2")["model_dir"])


@pytest.fixture(scope="module")
def tok(minilm: Path) -> Any:
    return lf.Tokenizer.from_file(minilm / "tokenizer.json")


@pytest.fixture(scope="module")
def batch(tok: Any) -> dict[str, Any]:
    return dict(tok.encode_batch(TEXTS, pairs=None, padding=True, return_tensors="pt"))


def _hf_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def test_minilm_import_matches_transformers(minilm: Path, batch: dict[str, Any]) -> None:
    ours = BertModel.from_pretrained(minilm).eval()
    theirs = transformers.AutoModel.from_pretrained(str(minilm)).eval()
    with torch.no_grad():
        hidden, pooled = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        want = theirs(**_hf_inputs(batch))
    real = batch["attention_mask"].bool()
    assert (hidden[real] - want.last_hidden_state[real]).abs().max() <= 1e-5
    assert (pooled - want.pooler_output).abs().max() <= 1e-5
    assert (hidden[~real] == 0).all()


def test_every_layers_states_match_transformers_and_embed_pools_them(
    minilm: Path, batch: dict[str, Any]
) -> None:
    """``output_hidden_states=True``: the embeddings' output and each layer's, as
    transformers' ``hidden_states`` on real tokens, 0 at padding, the last one the hidden
    states returned, the same on the unpadded path; ``embed`` and ``embed_words`` with
    ``layers`` average the states named; bad ``layers`` are refused."""
    ours = BertModel.from_pretrained(minilm).eval()
    theirs = transformers.AutoModel.from_pretrained(str(minilm)).eval()
    inputs = (batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    with torch.no_grad():
        hidden, _, states = ours(*inputs, output_hidden_states=True)
        want = theirs(**_hf_inputs(batch), output_hidden_states=True).hidden_states
        ours.unpad = True
        unpadded = ours(*inputs, output_hidden_states=True)[2]
        ours.unpad = None
    real = batch["attention_mask"].bool()
    assert len(states) == len(want) == 7 and states[-1] is hidden
    for got, expected, other in zip(states, want, unpadded, strict=True):
        assert (got[real] - expected[real]).abs().max() <= 1e-5
        assert (got[~real] == 0).all() and (other - got).abs().max() <= 1e-5
    # embed: the mean over real tokens of the mean of the layers named
    mask = real[..., None].float()
    for layers in ([-4, -3, -2, -1], 0, [1]):
        chosen = [layers] if isinstance(layers, int) else layers
        mixed = torch.stack([want[i] for i in chosen]).mean(0)
        expected = ((mixed * mask).sum(1) / mask.sum(1)).numpy()
        got = ours.embed(TEXTS, layers=layers, batch_size=2, normalize=False)
        assert abs(got - expected).max() <= 1e-5
    words = ours.embed_words(TEXTS[:1], layers=[-2, -1], pooling="first")[0]
    ids = transformers.AutoTokenizer.from_pretrained(str(minilm))(TEXTS[0]).word_ids()
    first = [j for j, w in enumerate(ids) if w is not None and (j == 0 or ids[j - 1] != w)]
    expected = ((want[-2] + want[-1]) / 2)[0, first].numpy()
    assert len(words.words) == len(first) and abs(words.vectors - expected).max() <= 1e-5
    pre = BertModel(_tiny(pre_layernorm=True)).eval()  # the last state has the final norm
    ids = torch.randint(5, 120, (2, 9))
    with torch.no_grad():
        out, _, pre_states = pre(ids, output_hidden_states=True)
        assert pre_states[-1] is out and len(pre_states) == 3
        assert (pre.final_norm(pre.layers[1](pre_states[1], lambda q, k, v, p: (
            torch.nn.functional.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
        ))) - out).abs().max() < 1e-5  # fmt: skip
    for bad, said in ((7, "layer 7 is not one of this model's 7 states"), (-8, "layer -8"),
                      ([], "layers must be"), ([1, -6], "name a layer twice"),
                      (True, "layers must be"), ("last", "layers must be")):  # fmt: skip
        with pytest.raises(ConfigError, match=said):
            ours.embed(TEXTS, layers=bad)


def test_minilm_has_no_mlm_head(minilm: Path, batch: dict[str, Any]) -> None:
    with pytest.warns(UserWarning, match="no weights for mlm"):
        model = BertForMaskedLM.from_pretrained(minilm)
    out = model(batch["input_ids"], batch["attention_mask"])
    assert out.logits.shape == (*batch["input_ids"].shape, model.config.vocab_size)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
@pytest.mark.parametrize(
    "ours_cls,hf_name", [(BertForPreTraining, "BertForPreTraining"), (BertForMaskedLM, None)]
)
def test_export_loads_in_transformers_with_the_same_logits(
    tmp_path: Path, tok: Any, batch: dict[str, Any], positions: str, ours_cls: Any, hf_name: Any
) -> None:
    torch.manual_seed(0)
    config = BertConfig.preset("tiny", vocab_size=tok.vocab_size, position_embedding=positions)
    model = ours_cls(config).eval()
    with torch.no_grad():  # non-trivial biases and norms, so a swapped name would show
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    model.save_pretrained(tmp_path, tokenizer=tok)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "config.json", "model.safetensors", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    ]  # fmt: skip
    hf_cls = getattr(transformers, hf_name) if hf_name else transformers.AutoModelForMaskedLM
    theirs = hf_cls.from_pretrained(str(tmp_path)).eval()
    with torch.no_grad():
        ours = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        want = theirs(**_hf_inputs(batch))
    real = batch["attention_mask"].bool()
    logits = want.prediction_logits if hf_name else want.logits
    assert (ours.logits[real] - logits[real]).abs().max() <= 1e-5
    if hf_name:
        assert (ours.nsp_logits - want.seq_relationship_logits).abs().max() <= 1e-5
    if positions == "sinusoidal":
        table = theirs.bert.embeddings.position_embeddings.weight
        assert torch.equal(table, sinusoidal_positions(*table.shape))
    again = ours_cls.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(again(batch["input_ids"], batch["attention_mask"]).logits,
                           model(batch["input_ids"], batch["attention_mask"]).logits)  # fmt: skip
    if ours_cls is BertForMaskedLM:
        fill = transformers.pipeline("fill-mask", model=str(tmp_path))
        top = fill("The capital of France is [MASK].", top_k=3)
        assert len(top) == 3 and all(tok.token_to_id(t["token_str"]) is not None for t in top)
        # HF's classic folder: vocab.txt (and tokenizer_config.json) without tokenizer.json
        (tmp_path / "tokenizer.json").unlink()
        classic = ours_cls.from_pretrained(tmp_path)
        text = "The Capital of FRANCE, naïvely."
        plain = {"padding": False, "truncation": False}  # the fixture's file pads to 128
        assert classic.tokenizer.encode_batch([text], **plain) == tok.encode_batch([text], **plain)


@pytest.mark.parametrize(
    "options",
    [
        {"lowercase": True, "strip_accents": False},
        {"lowercase": False, "strip_accents": True},
        {"handle_chinese_chars": False},
        {"clean_text": False},
    ],
)
def test_exported_wordpiece_options_reach_transformers(tmp_path: Path, options: Any) -> None:
    """transformers' BertTokenizer rebuilds its normalizer from tokenizer_config.json: the
    export says every option (or names the generic fast class when BertTokenizer cannot
    express one), so AutoTokenizer and the slow tokenizer give our ids."""
    texts = ["Café résumé naïve élan", "中文字 mixed text", "plain words a\x07b"] * 50
    tok = lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=200, **options)
    model = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=tok.vocab_size))
    model.save_pretrained(tmp_path, tokenizer=tok)
    probes = ["Café résumé", "café RÉSUMÉ", "中文字", "a\x07b naïve"]
    auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert [auto(t)["input_ids"] for t in probes] == [tok.encode(t) for t in probes]
    if "clean_text" not in options:  # the slow class always cleans: it is not named then
        slow = transformers.BertTokenizer.from_pretrained(str(tmp_path))
        assert [slow(t)["input_ids"] for t in probes] == [tok.encode(t) for t in probes]


@pytest.fixture(scope="module")
def bpe(wiki_text: str) -> Any:
    leads = wiki_text.split("\n")[:2000]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return lf.Tokenizer.train_bpe(texts=leads, vocab_size=1200, special_tokens=specials)


def test_bpe_export_loads_in_transformers_with_the_same_logits(tmp_path: Path, bpe: Any) -> None:
    """A BERT whose tokenizer is a byte-level BPE (a RoBERTa-style vocabulary) exports a
    tokenizer.json that frames texts with [CLS]/[SEP] and whose [MASK] takes the space
    before it: transformers' AutoTokenizer gives our ids and words, its model our logits,
    and pipeline("fill-mask") our predictions."""
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=bpe.vocab_size)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    model.save_pretrained(tmp_path, tokenizer=bpe)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "config.json", "model.safetensors", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json",
    ]  # fmt: skip
    ours = BertForMaskedLM.from_pretrained(tmp_path)
    assert ours.tokenizer.template == (["[CLS]"], ["[SEP]"])
    texts = [*TEXTS, "The capital of France is [MASK].", "  spaced   out  [MASK]  "]
    theirs_tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    want = theirs_tok(texts, return_offsets_mapping=True)
    for i, text in enumerate(texts):
        assert ours.tokenizer.encode(text, allowed_special="all") == want["input_ids"][i]
        words = ours.embed_words([text])[0].words
        spans: dict[int, list[int]] = {}
        for w, (a, b) in zip(want.word_ids(i), want["offset_mapping"][i], strict=True):
            if w is not None:
                span = spans.setdefault(w, [a, b])
                span[0], span[1] = min(span[0], a), max(span[1], b)
        # HF's words, less the whitespace-only pieces (the second of two spaces)
        assert words == [text[a:b] for a, b in spans.values() if text[a:b].strip()], text
    theirs = transformers.AutoModelForMaskedLM.from_pretrained(str(tmp_path)).eval()
    batch = theirs_tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        got = ours(batch["input_ids"], batch["attention_mask"]).logits
        expected = theirs(**batch).logits
    real = batch["attention_mask"].bool()
    assert (got[real] - expected[real]).abs().max() <= 1e-5
    fill = transformers.pipeline("fill-mask", model=str(tmp_path))
    top = fill("The capital of France is [MASK].", top_k=5)
    mine = ours.fill_mask("The capital of France is [MASK].", top_k=5)[0]
    assert [t["token_str"] for t in top] == [s for s, _ in mine]  # " Paris": with its space
    assert max(abs(t["score"] - p) for t, (_, p) in zip(top, mine, strict=True)) <= 1e-5
    assert all(t["sequence"].startswith("The capital of France is") for t in top)


def test_bpe_export_needs_a_frame(tmp_path: Path, wiki_text: str) -> None:
    tok = lf.Tokenizer.train_bpe(texts=wiki_text.split("\n")[:200], vocab_size=400)
    model = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=tok.vocab_size))
    with pytest.raises(ConfigError, match=r"no \[CLS\] or \[SEP\] token.*with_template"):
        model.save_pretrained(tmp_path / "out", tokenizer=tok)
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_mlm_loss_gathers_labelled_positions(tok: Any, batch: dict[str, Any]) -> None:
    """While training (or with ``all_logits=False``) the head scores the labelled positions
    alone; in evaluation mode every position, as transformers; the loss is the same."""
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=tok.vocab_size)).eval()
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 1:3] = batch["input_ids"][:, 1:3]
    out = model(batch["input_ids"], batch["attention_mask"], labels=labels, all_logits=False)
    full = model(batch["input_ids"], batch["attention_mask"])
    picked = labels != -100
    want = torch.nn.functional.cross_entropy(full.logits[picked], labels[picked])
    assert out.logits.shape == (int(picked.sum()), tok.vocab_size)
    assert torch.allclose(out.loss, want, atol=1e-6)
    assert int(out.count) == int(picked.sum())
    every = model(batch["input_ids"], batch["attention_mask"], labels=labels)
    assert every.logits.shape == full.logits.shape
    assert torch.allclose(every.loss, want, atol=1e-6)
    model.train()  # (dropout 0.1 by default: its own draws, the shape alone compared)
    trained = model(batch["input_ids"], batch["attention_mask"], labels=labels)
    assert trained.logits.shape == (int(picked.sum()), tok.vocab_size)


def test_gradients_match_finite_differences() -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
        max_position_embeddings=16, hidden_dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip
    model = BertForPreTraining(config).double()
    ids = torch.randint(1, 50, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    labels = torch.where((torch.rand(2, 7) < 0.5) & mask, ids, -100)  # -100 at padding
    names = ["bert.layers.0.attention.qkv.weight", "bert.layers.1.ffn.up.bias", "mlm.dense.weight"]
    params = dict(model.named_parameters())

    def loss(*tensors: Any) -> Any:
        swapped = {**params, **dict(zip(names, tensors, strict=True))}
        out = torch.func.functional_call(
            model, swapped, (ids, mask), {"labels": labels, "next_sentence_label": ids[:, 0] % 2}
        )
        return out.loss

    inputs = tuple(params[n].detach().clone().requires_grad_() for n in names)
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-5)


def test_torch_func_grad_equals_autograd() -> None:
    """``torch.func.grad`` (functorch's transforms: the way to per-example gradients and
    meta-learning) refused the CPU model: its fixed-order LayerNorm, softmax and
    attention are custom autograd Functions, which functorch refuses without a
    ``setup_context``. Under a transform they are torch's own ops."""
    torch.manual_seed(0)
    model = BertForPreTraining(_tiny(50))
    ids = torch.randint(1, 50, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    labels = torch.where(mask, ids, -100)
    params = {n: p.detach() for n, p in model.named_parameters()}

    def loss(p: dict[str, Any]) -> Any:
        return torch.func.functional_call(model, p, (ids, mask), {"labels": labels}).loss

    grads = torch.func.grad(loss)(params)
    model(ids, mask, labels=labels).loss.backward()
    for name, p in model.named_parameters():  # (the pooler, unused by MLM alone: None)
        want = torch.zeros_like(p) if p.grad is None else p.grad
        torch.testing.assert_close(grads[name], want, msg=name)


def _tiny(tok_size: int = 120, **kw: Any) -> BertConfig:
    return BertConfig(
        vocab_size=tok_size, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128,
        max_position_embeddings=64, hidden_dropout=0.0, attention_dropout=0.0, **kw,
    )  # fmt: skip


def test_fused_and_unpadded_paths_equal_sdpa() -> None:
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
        pytest.skip("the Triton path needs CUDA or TRITON_INTERPRET=1")
    torch.manual_seed(0)
    model = BertForPreTraining(_tiny())
    ids = torch.randint(5, 120, (3, 21))
    mask = torch.ones(3, 21, dtype=torch.bool)
    mask[0, 13:] = False
    mask[2, 4:] = False
    labels = torch.where((torch.rand(3, 21) < 0.3) & mask, ids, -100)  # -100 at padding
    results = []
    for backend, unpad in (("sdpa", False), ("triton", False), ("triton", True), ("sdpa", True)):
        model.bert.attention_backend, model.bert.unpad = backend, unpad
        model.zero_grad()
        out = model(ids, mask, labels=labels)
        out.loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((out.hidden_states, grads))
    base_hidden, base_grads = results[0]
    for hidden, grads in results[1:]:
        assert (hidden - base_hidden).abs().max() < 1e-5
        for a, b in zip(grads, base_grads, strict=True):
            assert (a - b).abs().max() < 1e-5


def test_padding_reaches_neither_real_rows_nor_gradients() -> None:
    """A padded batch (the encoder's SDPA path, which leaves its padding rows as computed
    rather than zeroing them in every layer) gives each sequence's hidden states and
    parameter gradients as that sequence alone, unpadded, does; its padding rows come out
    0. And ``encoder_attention`` is ``attention`` on real rows, values and gradients."""
    from lexforge.ops import attention
    from lexforge.ops.attention import encoder_attention

    torch.manual_seed(0)
    model = BertForMaskedLM(_tiny())
    model.bert.attention_backend = "sdpa"
    lengths = [21, 13, 1, 4]
    ids = torch.randint(5, 120, (len(lengths), 21))
    mask = torch.arange(21)[None, :] < torch.tensor(lengths)[:, None]
    weights = torch.randn(21, model.config.hidden_size)  # an objective over real rows

    def objective(hidden: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return (hidden * weights[: hidden.shape[1]] * m[..., None]).sum()

    model.zero_grad()
    hidden = model.bert(ids, mask)[0]
    objective(hidden, mask).backward()
    batched = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert hidden[~mask].abs().max() == 0
    model.zero_grad()
    for row, n in enumerate(lengths):
        alone = model.bert(ids[row : row + 1, :n], mask[row : row + 1, :n])[0]
        assert (alone[0] - hidden[row, :n]).abs().max() < 1e-5
        objective(alone, mask[row : row + 1, :n]).backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert (p.grad - batched[name]).abs().max() < 1e-4, name

    q, k, v = (torch.randn(3, 9, 2, 16, requires_grad=True) for _ in range(3))
    keep = torch.arange(9)[None, :] < torch.tensor([9, 5, 0])[:, None]
    real = keep[..., None, None]
    outs = [f(q, k, v, keep) for f in (
        lambda q, k, v, m: attention(q, k, v, key_padding_mask=m, backend="sdpa"),
        lambda q, k, v, m: encoder_attention(q, k, v, m, 0.0, "sdpa"),
    )]  # fmt: skip
    grads = [torch.autograd.grad((o * real).sum(), (q, k, v)) for o in outs]
    assert ((outs[0] - outs[1]) * real).abs().max() < 1e-6
    for a, b in zip(*grads, strict=True):
        assert (a - b).abs().max() < 1e-6


def test_batch_layout_gives_the_same_results() -> None:
    """The host-side layout (real-token count, longest row, label positions), which spares
    the device synchronisations, changes nothing: same losses and gradients."""
    import numpy as np

    from lexforge.model import BatchLayout

    if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
        pytest.skip("the unpadded path needs CUDA or TRITON_INTERPRET=1")
    torch.manual_seed(0)
    model = BertForPreTraining(_tiny())
    model.bert.attention_backend, model.bert.unpad = "triton", True
    ids = torch.randint(5, 120, (3, 17))
    mask = torch.ones(3, 17, dtype=torch.long)
    mask[1, 9:] = 0
    mask[2, 3:] = 0
    labels = torch.where((torch.rand(3, 17) < 0.3) & mask.bool(), ids, -100)
    nsp = torch.tensor([0, 1, 1])
    lengths = mask.sum(1)
    positions = torch.from_numpy(np.flatnonzero(labels.reshape(-1).numpy() != -100))
    layout = BatchLayout(int(lengths.sum()), int(lengths.max()), positions)
    results = []
    for hint in (None, layout):
        model.zero_grad()
        out = model(ids, mask, labels=labels, next_sentence_label=nsp, layout=hint)
        out.loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((out.loss, out.correct, out.count, out.hidden_states, grads))
    (loss_a, ok_a, n_a, h_a, g_a), (loss_b, ok_b, n_b, h_b, g_b) = results
    assert torch.equal(loss_a, loss_b) and torch.equal(ok_a, ok_b) and int(n_a) == int(n_b)
    assert torch.equal(h_a, h_b)
    for a, b in zip(g_a, g_b, strict=True):
        assert torch.equal(a, b)


def test_padded_label_positions_score_nothing() -> None:
    """Label positions padded to a fixed count with B·N (static shapes, for CUDA graphs)
    give the loss, accuracy and gradients of the exact positions; the last position of
    the batch is labelled, so a padding entry that scored it would show."""
    import numpy as np

    from lexforge.model import BatchLayout

    torch.manual_seed(0)
    model = BertForMaskedLM(_tiny())
    ids = torch.randint(5, 120, (3, 17))
    mask = torch.ones(3, 17, dtype=torch.long)
    mask[1, 9:] = 0
    labels = torch.where((torch.rand(3, 17) < 0.3) & mask.bool(), ids, -100)
    labels[2, 16] = ids[2, 16]
    found = np.flatnonzero(labels.reshape(-1).numpy() != -100)
    padded = np.full(len(found) + 7, labels.numel(), dtype=np.int64)
    padded[: len(found)] = found
    model.eval()  # no dropout: both passes see the same network
    results = []
    for hint in (None, BatchLayout(0, 0, torch.from_numpy(padded), padded_labels=True)):
        model.zero_grad()
        out = model(ids, mask, labels=labels, layout=hint)
        out.loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((out.loss, out.correct, out.count, grads))
    (loss_a, ok_a, n_a, g_a), (loss_b, ok_b, n_b, g_b) = results
    assert int(n_a) == int(n_b) == len(found) and int(ok_a) == int(ok_b)
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-6, atol=1e-6)
    for a, b in zip(g_a, g_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_unpadded_kernel_path_matches_sdpa_in_bf16() -> None:
    """On CUDA under bf16 autocast, the default path (unpadded, fused kernels) is as close to
    an fp32 reference as the padded SDPA path in bf16 is (hidden states and gradients)."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=1000, hidden_size=256, num_layers=2, num_heads=4, intermediate_size=512,
        max_position_embeddings=512, hidden_dropout=0.0, attention_dropout=0.0,
    )  # fmt: skip
    model = BertForPreTraining(config).cuda()
    lengths = torch.randint(1, 300, (8,))
    lengths[0] = 300
    ids = torch.randint(5, 1000, (8, 300), device="cuda")
    mask = (torch.arange(300)[None, :] < lengths[:, None]).cuda()
    labels = torch.where((torch.rand(8, 300, device="cuda") < 0.15) & mask, ids, -100)
    runs = {}
    for name, backend, unpad, bf16 in (
        ("reference", "sdpa", False, False), ("sdpa", "sdpa", False, True),
        ("ours", "triton", True, True), ("ours-padded", "triton", False, True),
    ):  # fmt: skip
        model.bert.attention_backend, model.bert.unpad = backend, unpad
        model.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            out = model(ids, mask, labels=labels)
        out.loss.backward()
        grad = torch.cat(
            [p.grad.flatten().float() for p in model.parameters() if p.grad is not None]
        )
        runs[name] = (out.hidden_states.float()[mask], grad)
    ref_h, ref_g = runs["reference"]

    def rel(x: Any, y: Any) -> float:
        return float((x - y).norm() / y.norm())

    budget_h = 2 * rel(runs["sdpa"][0], ref_h) + 1e-3
    budget_g = 2 * rel(runs["sdpa"][1], ref_g) + 1e-3
    for name in ("ours", "ours-padded"):
        assert rel(runs[name][0], ref_h) <= budget_h, name
        assert rel(runs[name][1], ref_g) <= budget_g, name


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_both_position_kinds_learn(positions: str) -> None:
    torch.manual_seed(0)
    model = BertForMaskedLM(_tiny(position_embedding=positions))
    ids = torch.randint(5, 120, (8, 16))
    labels = torch.where(torch.rand(8, 16) < 0.3, ids, -100)
    inputs = torch.where(labels != -100, 4, ids)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = model(inputs, labels=labels).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_config_presets_and_bad_configs() -> None:
    base = BertConfig.preset("base", vocab_size=30522)
    assert (base.num_layers, base.hidden_size, base.num_heads, base.intermediate_size) == (
        12, 768, 12, 3072,
    )  # fmt: skip
    assert BertConfig.preset("mini", vocab_size=100).num_heads == 4
    with pytest.raises(ConfigError, match="not divisible by num_heads"):
        BertConfig(vocab_size=10, hidden_size=100, num_heads=3)
    with pytest.raises(ConfigError, match="unknown preset"):
        BertConfig.preset("huge", vocab_size=10)
    with pytest.raises(ConfigError, match="position_embedding"):
        BertConfig(vocab_size=10, hidden_size=64, num_heads=1, position_embedding="rotary")
    with pytest.raises(ConfigError, match="max_position_embeddings"):
        BertModel(_tiny())(torch.zeros(1, 65, dtype=torch.long))


def test_bad_checkpoints(tmp_path: Path, tok: Any) -> None:
    model = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=tok.vocab_size))
    good = tmp_path / "good"
    model.save_pretrained(good)
    with pytest.raises(ConfigError, match="tokenizer has"):
        BertForMaskedLM(_tiny()).save_pretrained(tmp_path / "mismatch", tokenizer=tok)
    assert not (tmp_path / "mismatch").exists()  # checked before anything is written
    bad_json = tmp_path / "bad-json"
    bad_json.mkdir()
    (bad_json / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    for text in ('["a list"]', '{"model_type": "bert", "lexforge": "x"}',
                 '{"model_type": "bert", "vocab_size": "many", "hidden_size": 64}'):  # fmt: skip
        (bad_json / "config.json").write_text(text)
        with pytest.raises(CheckpointError):
            BertForMaskedLM.from_pretrained(bad_json)

    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "config.json").write_bytes((good / "config.json").read_bytes())
    data = (good / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        BertForMaskedLM.from_pretrained(truncated)

    other = tmp_path / "roberta"
    other.mkdir()
    (other / "model.safetensors").write_bytes(data)
    config = json.loads((good / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(CheckpointError, match="not a BERT checkpoint"):
        BertForMaskedLM.from_pretrained(other)

    bigger = tmp_path / "bigger"
    bigger.mkdir()
    (bigger / "model.safetensors").write_bytes(data)
    (bigger / "config.json").write_text(json.dumps({**config, "hidden_size": 256}))
    with pytest.raises(CheckpointError, match="does not match the weights"):
        BertForMaskedLM.from_pretrained(bigger)

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_bytes((good / "config.json").read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(CheckpointError, match="never loads"):
        BertForMaskedLM.from_pretrained(pickled)
    with pytest.raises(CheckpointError, match=r"nowhere does not exist"):
        BertForMaskedLM.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        BertForMaskedLM.from_pretrained(tmp_path / "empty")


def test_pre_layernorm_round_trips_and_transformers_refuses_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BertForMaskedLM(_tiny(pre_layernorm=True)).eval()
    model.save_pretrained(tmp_path / "preln")
    config = json.loads((tmp_path / "preln" / "config.json").read_text())
    assert config["model_type"] == "lexforge_bert"
    again = BertForMaskedLM.from_pretrained(tmp_path / "preln").eval()
    assert again.config.pre_layernorm
    ids = torch.randint(5, 120, (2, 9))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)
    with pytest.raises(ValueError):  # not silently read as a post-LN BERT
        transformers.AutoModelForMaskedLM.from_pretrained(str(tmp_path / "preln"))


def test_untied_decoder_loads_from_transformers(tmp_path: Path) -> None:
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=37,
                                  tie_word_embeddings=False)  # fmt: skip
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(cfg).eval()
    with torch.no_grad():
        hf.cls.predictions.decoder.weight.normal_()
        # the forward adds the decoder's bias, which untied is a parameter of its own
        hf.cls.predictions.decoder.bias.normal_()
        hf.cls.predictions.bias.normal_()
    hf.save_pretrained(tmp_path / "untied")
    ours = BertForMaskedLM.from_pretrained(tmp_path / "untied").eval()
    assert not ours.config.tie_word_embeddings
    ids = torch.randint(5, 100, (2, 8))
    with torch.no_grad():
        diff = (ours(ids).logits - hf(input_ids=ids).logits).abs().max()
    assert diff <= 1e-5
    ours.save_pretrained(tmp_path / "again")  # and back: transformers reads the decoder
    back = transformers.AutoModelForMaskedLM.from_pretrained(str(tmp_path / "again")).eval()
    with torch.no_grad():
        assert (back(input_ids=ids).logits - hf(input_ids=ids).logits).abs().max() <= 1e-5


def test_old_checkpoint_spellings_and_decoder_configs(tmp_path: Path) -> None:
    """LayerNorm gamma/beta (older checkpoints, bert-base-uncased's) load as transformers
    loads them; a config that makes BERT a decoder (causal attention) is refused."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=37)  # fmt: skip
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(cfg).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(tmp_path / "old")
    weights = tmp_path / "old" / "model.safetensors"
    state = load_file(weights)
    renamed = {re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", re.sub(r"LayerNorm\.bias$",
               "LayerNorm.beta", k)): v for k, v in state.items()}  # fmt: skip
    assert any(k.endswith(".gamma") for k in renamed)
    save_file(renamed, weights, metadata={"format": "pt"})
    ours = BertForMaskedLM.from_pretrained(tmp_path / "old").eval()
    ids = torch.randint(5, 100, (2, 8))
    with torch.no_grad():
        assert (ours(ids).logits - hf(input_ids=ids).logits).abs().max() <= 1e-5
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    (tmp_path / "old" / "config.json").write_text(json.dumps({**config, "is_decoder": True}))
    with pytest.raises(CheckpointError, match="is_decoder: true"):
        BertForMaskedLM.from_pretrained(tmp_path / "old")
    (tmp_path / "old" / "config.json").write_text(json.dumps({**config, "layer_norm_eps": "1e-5"}))
    with pytest.raises(CheckpointError, match="layer_norm_eps must be a positive number"):
        BertForMaskedLM.from_pretrained(tmp_path / "old")


def test_sharded_checkpoints_load(tmp_path: Path) -> None:
    cfg = transformers.BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=37)  # fmt: skip
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(cfg).eval()
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    shards = sorted(p.name for p in (tmp_path / "sharded").glob("model-*.safetensors"))
    assert len(shards) > 1 and not (tmp_path / "sharded" / "model.safetensors").exists()
    ours = BertForMaskedLM.from_pretrained(tmp_path / "sharded").eval()
    ids = torch.randint(5, 300, (2, 8))
    with torch.no_grad():
        assert (ours(ids).logits - hf(input_ids=ids).logits).abs().max() <= 1e-5
    # a shard gone, or an index naming files elsewhere: CheckpointErrors naming them
    index = tmp_path / "sharded" / "model.safetensors.index.json"
    # an index placing a tensor in a shard that lacks it (and nowhere else)
    data = json.loads(index.read_text())
    gone = next(iter(data["weight_map"]))
    data["weight_map"][gone + ".extra"] = data["weight_map"][gone]
    index.write_text(json.dumps(data))
    with pytest.raises(
        CheckpointError,
        match=rf"places {re.escape(gone)}\.extra in a shard "
        "that lacks it: the index and the shards do not match",
    ):
        BertForMaskedLM.from_pretrained(tmp_path / "sharded")
    del data["weight_map"][gone + ".extra"]
    index.write_text(json.dumps(data))
    (tmp_path / "sharded" / shards[-1]).unlink()
    with pytest.raises(CheckpointError, match=f"lists {shards[-1]}, which is missing"):
        BertForMaskedLM.from_pretrained(tmp_path / "sharded")
    data = json.loads(index.read_text())
    data["weight_map"] = dict.fromkeys(data["weight_map"], "../elsewhere.safetensors")
    index.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="not a safetensors index"):
        BertForMaskedLM.from_pretrained(tmp_path / "sharded")
    # pickles are refused, with the way to convert them
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tmp_path / "sharded" / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*save_pretrained"):
        BertForMaskedLM.from_pretrained(pickled)


def test_importing_the_models_warns_of_nothing() -> None:
    """torch 2.4's ``torch.export.register_dataclass`` (the output classes' registration)
    warned of its own deprecated ``_register_pytree_node``: every ``lexforge`` command
    began with that "lexforge: warning:" line."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import lexforge.model, lexforge.train"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
