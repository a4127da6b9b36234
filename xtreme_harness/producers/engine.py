"""The one batched-inference loop every task family shares.

Families turn examples into un-padded token lists and say what to compute
(``forward``); the engine owns everything about running it well: device and
dtype choice, length-sorted dynamic batching (little padding), out-of-memory
back-off, non-finite checks, progress, and putting results back in the
caller's order. Keeping this in one place means a speed or safety fix helps
every task at once.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from ..families import MODEL_INPUTS
from ..families.tokens import Columns, Rows, gather_index
from ..io import progress
from ..io.errors import UserError

log = logging.getLogger(__name__)

#: Feature keys that are padded, batched and handed to ``forward``; any other
#: key is per-feature metadata, copied untouched into that feature's result.
INPUT_KEYS = MODEL_INPUTS + ("position_ids",)

#: ``batch_size='auto'`` per device: (sequences per batch, padded tokens per batch).
#: The token budget is what memory and time scale with, so long inputs get
#: fewer sequences per batch (CUDA: 256 at 128 tokens, 64 at 512). On CPU
#: throughput is flat from about 1k tokens per batch up, so a smaller budget
#: costs nothing and keeps padding low on small inputs.
AUTO_BATCH = {"cuda": (256, 256 * 128), "mps": (64, 64 * 128), "cpu": (128, 32 * 128)}

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


# --- device and dtype ----------------------------------------------------------------

def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' -> a device that exists here.

    Asking for an accelerator that is absent is a user error, not a silent
    fall back to CPU: a run that was meant for a GPU should not quietly take
    a hundred times longer.
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = str(device).strip().lower()
    if name in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
        if name == "cuda":
            return torch.device("cuda")
        index = name[5:]
        if not (index.isascii() and index.isdigit()):
            raise UserError(f"--device {name}: expected cuda:N with N a GPU index")
        count = torch.cuda.device_count()
        if int(index) >= count:
            raise UserError(f"--device {name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
        return torch.device("cuda", int(index))
    if name == "mps":
        if not _mps_available():
            raise UserError("--device mps: the Apple MPS backend is not available on this machine (use --device cpu or auto)")
        return torch.device("mps")
    raise UserError(f"--device {device!r}: expected auto, cpu, cuda, cuda:N or mps")


def resolve_dtype(dtype: str | torch.dtype = "auto", device: str | torch.device = "auto") -> torch.dtype:
    """'auto' | 'float32' | 'bfloat16' | 'float16' -> the dtype the model runs in.

    'auto' is bfloat16 on CUDA where supported (same range as fp32, so no
    overflow), else float16 on CUDA, and float32 elsewhere. float16 on CPU is
    slow and poorly supported, so it falls back to float32 with a warning.
    """
    dev = resolve_device(device)
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        name = str(dtype).strip().lower().replace("torch.", "")
        if name in ("", "auto"):
            if dev.type == "cuda":
                return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.float32
        if name not in _DTYPES:
            raise UserError(f"--dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
        resolved = _DTYPES[name]
    if resolved not in (torch.float32, torch.bfloat16, torch.float16):
        raise UserError(f"--dtype {dtype}: expected a floating dtype (float32, bfloat16 or float16)")
    if resolved == torch.float16 and dev.type == "cpu":
        warnings.warn("float16 is not supported well on CPU; running in float32 instead", stacklevel=2)
        return torch.float32
    return resolved


def _dtype_key() -> str:
    """transformers >= 4.56 calls the ``from_pretrained`` argument ``dtype`` (``torch_dtype`` before)."""
    from .transformers_import import transformers_module

    try:
        major, minor = (int(p) for p in transformers_module().__version__.split(".")[:2])
    except ValueError:  # pragma: no cover - odd dev version strings
        return "dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_kwargs(device: str | torch.device = "auto", dtype: str | torch.dtype = "auto") -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained`` that load straight into the run's dtype with SDPA.

    Loading in the target dtype halves peak memory for half precision. An
    architecture without SDPA makes ``from_pretrained`` raise; retry without
    ``attn_implementation`` (``prepare_model`` still upgrades where it can).
    """
    return {_dtype_key(): resolve_dtype(dtype, device), "attn_implementation": "sdpa"}


def _use_sdpa(model: torch.nn.Module) -> None:
    """Switch an eager-attention model to SDPA, which is faster and leaner with padding masks."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if config is None or current not in (None, "eager") or not getattr(model, "_supports_sdpa", False):
        return  # already sdpa / flash / flex, or not a transformers model that can
    try:
        if hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation("sdpa")
        else:  # transformers 4.x without the setter: attention reads the config at forward time
            config._attn_implementation = "sdpa"
    except (ValueError, ImportError, AttributeError, TypeError) as exc:
        log.info("keeping %s attention: %s", current or "default", exc)


def prepare_model(model: torch.nn.Module, device: str | torch.device = "auto",
                  dtype: str | torch.dtype = "auto") -> torch.nn.Module:
    """Move, cast and set eval mode (dropout off is what makes runs reproducible); prefer SDPA."""
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    _use_sdpa(model)
    model.to(device=dev, dtype=dt)
    model.eval()
    return model


# --- pooling -------------------------------------------------------------------------

def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over every non-pad token (special tokens included), in float32.

    Float32 accumulation keeps bf16/fp16 sentence embeddings stable; an
    all-pad row gives zeros rather than NaN.
    """
    mask = attention_mask.to(device=hidden.device, dtype=torch.float32).unsqueeze(-1)
    summed = (hidden.float() * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1.0)


def cls_pool(hidden: torch.Tensor) -> torch.Tensor:
    """The first position (<s> / [CLS]) of each sequence, in float32."""
    return hidden[:, 0].float()


def logits_forward(model, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The common ``forward``: a head model's logits."""
    return {"logits": model(**batch).logits}


# --- the engine ----------------------------------------------------------------------

@dataclass
class EngineStats:
    """Counters for the last ``run``: what benchmarks and progress reports need."""

    examples: int = 0
    tokens: int = 0            # real (non-pad) tokens
    padded_tokens: int = 0     # positions computed, pads included (sum of batch * max length)
    seconds: float = 0.0
    batches: int = 0
    oom_backoffs: int = 0
    token_budget: int | None = None  # batch * max length limit in force at the end

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(examples_per_second=self.examples_per_second, tokens_per_second=self.tokens_per_second,
                   padding_fraction=self.padding_fraction)
        return out


def is_oom(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or a RuntimeError that says so (older torch, MPS, some kernels)."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class InferenceEngine:
    """Batched, length-sorted, OOM-safe forward passes; results in the caller's order.

    ``batch_size`` caps sequences per batch; ``max_tokens_per_batch`` caps
    ``batch * max length`` (padded positions), which is what memory actually
    scales with. 'auto' takes both from ``AUTO_BATCH[device]``. On
    out-of-memory a batch is halved and retried, and the smaller budget is
    kept for the rest of this engine's life, so later runs do not hit it again.
    """

    def __init__(self, device: str | torch.device = "auto", dtype: str | torch.dtype = "auto",
                 batch_size: int | str = "auto", max_tokens_per_batch: int | None = None,
                 progress: bool = True, pad_token_id: int | None = None):
        self.device = resolve_device(device)
        self.pad_token_id = pad_token_id  # default for run(); else the model config's
        self.dtype = resolve_dtype(dtype, self.device)
        self.auto = isinstance(batch_size, str) and batch_size.strip().lower() == "auto"
        auto_seqs, auto_tokens = AUTO_BATCH.get(self.device.type, AUTO_BATCH["cpu"])
        if self.auto:
            self.batch_size = auto_seqs
        else:
            try:
                self.batch_size = int(batch_size)
            except (TypeError, ValueError):
                raise UserError(f"--batch-size {batch_size!r}: expected a positive integer or auto") from None
            if self.batch_size < 1 or str(batch_size).strip() != str(self.batch_size):
                raise UserError(f"--batch-size {batch_size!r}: expected a positive integer or auto")
        if max_tokens_per_batch is not None and int(max_tokens_per_batch) < 1:
            raise UserError(f"max_tokens_per_batch must be positive, got {max_tokens_per_batch}")
        if max_tokens_per_batch is not None:
            self.token_budget: int | None = int(max_tokens_per_batch)
        elif self.auto:
            self.token_budget = auto_tokens
        else:
            self.token_budget = None
        self.progress = progress
        self.stats = EngineStats(token_budget=self.token_budget)

    # -- helpers ----------------------------------------------------------------------

    def _autocast(self):
        """Autocast only for half precision on accelerators, where it also covers fp32-kept modules."""
        if self.dtype != torch.float32 and self.device.type in ("cuda", "mps"):
            try:
                return torch.autocast(device_type=self.device.type, dtype=self.dtype)
            except (RuntimeError, ValueError):  # pragma: no cover - backend without autocast
                return contextlib.nullcontext()
        return contextlib.nullcontext()

    def _next_batch(self, order: Sequence[int], start: int, lengths: Sequence[int]) -> list[int]:
        """The next run of ``order`` within the sequence cap and token budget (at least one).

        Once a batch holds a quarter of the budget it also ends where the next
        sequence is under 3/4 of the longest: past that size a bigger batch
        buys little, while the padding would be pure waste (small inputs).
        """
        maxlen = lengths[order[start]]  # order is length-descending: the first is the longest
        cap = self.batch_size
        if self.token_budget is not None:
            cap = min(cap, max(1, self.token_budget // max(maxlen, 1)))
        end = min(len(order), start + cap)
        if self.token_budget is not None:
            enough = max(1, self.token_budget // (4 * maxlen))
            for j in range(start + enough, end):
                if 4 * lengths[order[j]] < 3 * maxlen:
                    end = j
                    break
        return list(order[start:end])

    def _pad(self, features: Sequence[Mapping[str, Any]], idx: Sequence[int], lengths: Sequence[int],
             keys: Sequence[str], pad_token_id: int, width: int | None = None) -> tuple[dict[str, torch.Tensor], int]:
        """One batch of list-of-dicts features, padded, on the host."""
        maxlen = max(max(lengths[i] for i in idx), width or 0)
        batch: dict[str, torch.Tensor] = {}
        for key in keys:
            fill = pad_token_id if key == "input_ids" else 0
            arr = np.full((len(idx), maxlen), fill, dtype=np.int64)
            for row, i in enumerate(idx):
                arr[row, :lengths[i]] = features[i][key]
            batch[key] = torch.from_numpy(arr)
        if "attention_mask" not in batch:
            arr = np.zeros((len(idx), maxlen), dtype=np.int64)
            for row, i in enumerate(idx):
                arr[row, :lengths[i]] = 1
            batch["attention_mask"] = torch.from_numpy(arr)
        return batch, maxlen

    @staticmethod
    def _pad_rows(rows: Rows, idx: Sequence[int], lengths: np.ndarray, pad_token_id: int,
                  width: int | None = None) -> tuple[dict[str, torch.Tensor], int]:
        """One batch of :class:`Rows`, padded with array indexing (no loop over rows), on the host."""
        sel = np.asarray(idx, dtype=np.int64)
        lens = lengths[sel]
        maxlen = max(int(lens.max()), width or 0)
        src = gather_index(rows.starts[sel], lens)
        r = np.repeat(np.arange(len(sel)), lens)
        c = src - np.repeat(rows.starts[sel], lens)
        ids = np.full((len(sel), maxlen), pad_token_id, dtype=np.int64)
        ids[r, c] = rows.ids[src]
        mask = np.zeros((len(sel), maxlen), dtype=np.int64)
        mask[r, c] = 1
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if rows.types is not None:
            types = np.zeros((len(sel), maxlen), dtype=np.int64)
            types[r, c] = rows.types[src]
            batch["token_type_ids"] = torch.from_numpy(types)
        return batch, maxlen

    def _to_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Host batch to the device: from pinned memory without blocking on CUDA (the copy is queued on the
        stream the forward then runs on, so it is ordered before it)."""
        if self.device.type == "cpu":
            return dict(batch)
        non_blocking = self.device.type == "cuda"
        return {k: v.to(self.device, non_blocking=non_blocking) for k, v in batch.items()}

    @staticmethod
    def _validate(features: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[str]]:
        first_keys = [k for k in INPUT_KEYS if k in features[0]]
        if "input_ids" not in first_keys:
            raise UserError("feature 0 has no input_ids")
        lengths = []
        for i, feat in enumerate(features):
            keys = [k for k in INPUT_KEYS if k in feat]
            if keys != first_keys:
                raise UserError(f"feature {i} has inputs {keys}, feature 0 has {first_keys}; all must match")
            n = len(feat["input_ids"])
            if n == 0:
                raise UserError(f"feature {i} has no tokens (empty input_ids)")
            for k in keys[1:]:
                if len(feat[k]) != n:
                    raise UserError(f"feature {i}: {k} has {len(feat[k])} entries but input_ids has {n}")
            lengths.append(n)
        return lengths, first_keys

    @staticmethod
    def _validate_rows(rows: Rows) -> tuple[np.ndarray, list[str]]:
        lengths = rows.lengths
        empty = np.flatnonzero(lengths == 0)
        if len(empty):
            raise UserError(f"feature {int(empty[0])} has no tokens (empty input_ids)")
        return lengths, list(rows.input_keys)

    @staticmethod
    def _check_outputs(outputs: Any, n_rows: int) -> None:
        if not isinstance(outputs, Mapping):
            raise TypeError(f"forward must return a dict of tensors, got {type(outputs).__name__}")
        for key, value in outputs.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"forward output {key!r} is a {type(value).__name__}, expected a tensor")
            if value.dim() == 0 or value.shape[0] != n_rows:
                raise TypeError(f"forward output {key!r} has shape {tuple(value.shape)}; expected batch-first "
                                f"with {n_rows} rows")

    @staticmethod
    def _to_host(outputs: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """CPU numpy; floating outputs as float32 whatever the run's dtype, so decoders see one type."""
        host = {}
        for key, value in outputs.items():
            value = value.detach()
            if value.is_floating_point():
                value = value.float()
            host[key] = value.cpu().numpy()
        return host

    def _check_finite(self, host: Mapping[str, np.ndarray], idx: Sequence[int], lengths: Sequence[int],
                      per_token: Mapping[str, bool]) -> None:
        """Fail on the first non-finite value at a real (non-pad) position, naming the feature."""
        for key, arr in host.items():
            if not np.issubdtype(arr.dtype, np.floating):
                continue
            finite = np.isfinite(arr)
            if finite.all():
                continue
            for row, i in enumerate(idx):
                cell = finite[row, :lengths[i]] if per_token[key] else finite[row]
                if not cell.all():
                    raise UserError(
                        f"non-finite values (NaN/inf) in output {key!r} for feature {i} (length {lengths[i]}) "
                        f"running in {str(self.dtype).replace('torch.', '')}; try --dtype float32 or check the "
                        f"checkpoint's weights")

    # -- the loop ---------------------------------------------------------------------

    #: Batches padded ahead of the forward by a feeder thread (0: pad in the loop itself).
    prefetch: int = 2
    #: Copy outputs back, check and place them in a finisher thread while the next batch runs.
    overlap: bool = True

    def run(self, model, features: Sequence[Mapping[str, Any]] | Rows,
            forward: Callable[[Any, dict[str, torch.Tensor]], Mapping[str, torch.Tensor]] = logits_forward,
            desc: str = "", pad_token_id: int | None = None,
            token_keys: Iterable[str] | None = None, pad_to: int | None = None) -> list[dict[str, Any]] | Columns:
        """Run ``forward`` over ``features``; one dict of numpy arrays per feature, in input order.

        Outputs shaped ``[batch, seq_len, ...]`` with ``seq_len`` the batch's
        padded length are trimmed to each feature's own length; others are
        per example (an output whose class axis merely equals the padded
        length is told apart by one probe forward, see ``_token_axes``; naming
        the per-token outputs in ``token_keys`` skips the probe).
        ``pad_token_id`` defaults to ``model.config.pad_token_id`` (else 0).
        ``pad_to`` pads every feature to that length and keeps the padded
        positions' outputs, as scripts that pad to ``max_seq_length`` see them
        (XTREME's QA n-best reads logits at padding positions too).

        ``features`` may also be :class:`~xtreme_harness.families.tokens.Rows`
        (token rows as arrays): batches are then padded without a Python loop
        over features, and the outputs come back as
        :class:`~xtreme_harness.families.tokens.Columns` (per-row outputs
        ``[n, ...]``, per-token ones flat) instead of one dict per feature.
        Either way the batches, and so the outputs, are the same.

        The loop never waits on the host where it need not: a feeder thread pads
        the next batches (into pinned memory on CUDA) while the model runs, the
        copy to the device does not block, and a finisher thread copies each
        batch's outputs back, checks them and puts them in place while the
        next batch runs.
        """
        t0 = time.perf_counter()
        self.stats = EngineStats(token_budget=self.token_budget)
        columnar = isinstance(features, Rows)
        n = len(features)
        if n == 0:
            return Columns(0, {}, (), np.zeros(1, dtype=np.int64)) if columnar else []
        if columnar:
            lengths, keys = self._validate_rows(features)
        else:
            lengths, keys = self._validate(features)
        lengths = np.asarray(lengths, dtype=np.int64)
        progress.status(f"running the model over {n:,} sequences")
        # what each feature is padded (and its per-token outputs kept) to
        width = lengths if pad_to is None else np.maximum(lengths, int(pad_to))
        declared = set(token_keys) if token_keys is not None else None
        if pad_token_id is None:
            pad_token_id = self.pad_token_id
        if pad_token_id is None:
            pad_token_id = getattr(getattr(model, "config", None), "pad_token_id", None)
            pad_token_id = 0 if pad_token_id is None else int(pad_token_id)
        if isinstance(model, torch.nn.Module):
            prepare_model(model, self.device, self.dtype)

        # Length-descending, ties by position: fixed by the inputs alone, so reruns batch identically.
        order = np.argsort(-width, kind="stable").tolist()
        widths = width.tolist()
        if columnar:
            def pad(idx):
                return self._pad_rows(features, idx, lengths, pad_token_id, pad_to)
            sink: _Sink = _ColumnSink(n, width)
        else:
            lens = lengths.tolist()

            def pad(idx):
                return self._pad(features, idx, lens, keys, pad_token_id, pad_to)
            sink = _ListSink()
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=desc or None, unit="ex", dynamic_ncols=True, leave=False,
                   disable=not self.progress or not _stderr_is_tty())
        per_token: dict[str, bool] | None = None  # output key -> has a per-token axis to trim
        finisher = _Finisher(self, lengths, sink, threaded=self.overlap)
        try:
            with torch.inference_mode(), self._autocast():
                start = 0
                while start < n:
                    feeder = _Feeder(self._batches(order, widths, start, pad), self.prefetch)
                    try:
                        for idx, host_batch, maxlen in feeder:
                            batch = self._to_device(host_batch)
                            oom = False
                            try:
                                outputs = forward(model, batch)
                            except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                                if not is_oom(exc):
                                    raise
                                oom = True
                            if oom:
                                # Outside the except block so the traceback's tensors can be freed.
                                del batch, host_batch
                                self._back_off(len(idx), maxlen)
                                break  # a new feeder goes on from ``start`` within the smaller budget
                            self._check_outputs(outputs, len(idx))
                            if per_token is None:
                                first = features.feature(idx[0]) if columnar else features[idx[0]]
                                per_token = self._token_axes(model, forward, first, keys, outputs, maxlen, declared)
                                finisher.per_token = per_token
                            finisher.put(idx, maxlen, self._start_to_host(outputs))
                            self.stats.batches += 1
                            self.stats.padded_tokens += len(idx) * maxlen
                            start += len(idx)
                            bar.update(len(idx))
                    finally:
                        feeder.close()
                finisher.join()
        finally:
            finisher.close()
            bar.close()
        progress.status("decoding")

        if columnar:
            results: Any = sink.columns(per_token)
        else:
            results = self._scatter(features, sink.done, widths, per_token, keys)
        self.stats.examples = n
        self.stats.tokens = int(lengths.sum())
        self.stats.token_budget = self.token_budget
        self.stats.seconds = time.perf_counter() - t0
        return results

    def _batches(self, order: list[int], widths: list[int], start: int, pad):
        """Padded host batches from ``order[start:]`` within the current budget (pinned on CUDA)."""
        pin = self.device.type == "cuda"
        n = len(order)
        while start < n:
            idx = self._next_batch(order, start, widths)
            batch, maxlen = pad(idx)
            if pin:
                batch = {k: v.pin_memory() for k, v in batch.items()}
            yield idx, batch, maxlen
            start += len(idx)

    def _start_to_host(self, outputs: Mapping[str, torch.Tensor]):
        """Queue the copy of a batch's outputs to the host: floating outputs as float32; on CUDA into pinned
        buffers without blocking, with an event the finisher waits on."""
        host = {}
        event = None
        for key, value in outputs.items():
            value = value.detach()
            if value.is_floating_point():
                value = value.float()
            if value.device.type == "cuda":
                buf = torch.empty(value.shape, dtype=value.dtype, pin_memory=True)
                buf.copy_(value, non_blocking=True)
                host[key] = buf
            else:
                host[key] = value.cpu()
        if any(v.device.type == "cuda" for v in outputs.values()):
            event = torch.cuda.Event()
            event.record()
        return host, event

    def _back_off(self, size: int, maxlen: int) -> None:
        if size <= 1:
            raise UserError(f"out of memory on {self.device} with a single sequence of {maxlen} tokens; "
                            f"use a shorter max length, --dtype bfloat16, or a larger device")
        half = size // 2
        self.token_budget = half * maxlen if self.token_budget is None else min(self.token_budget, half * maxlen)
        self.stats.oom_backoffs += 1
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        message = (f"out of memory with {size} x {maxlen} tokens on {self.device}; "
                   f"retrying with at most {self.token_budget} tokens per batch")
        if self.auto:
            log.info(message)
        else:
            warnings.warn(message + " (--batch-size is a cap, not a guarantee)", stacklevel=3)

    def _token_axes(self, model, forward, feature, keys, outputs, maxlen, declared) -> dict[str, bool]:
        """Which outputs have a per-token axis, decided once from the first batch.

        Shape alone is ambiguous when a class or hidden axis happens to equal
        the padded length, so when any output matches it the first feature is
        run once more, one token shorter: a per-token axis follows the length,
        a per-example one does not. One extra single-sequence forward per run
        buys never trimming logits that were not per token.
        """
        per_token = {k: v.dim() >= 2 and v.shape[1] == maxlen for k, v in outputs.items()}
        if declared is not None:
            for k in declared:
                if not per_token.get(k, False):
                    shape = tuple(outputs[k].shape) if k in outputs else None
                    raise TypeError(f"token_keys names {k!r}, but forward returned shape {shape} for a batch "
                                    f"padded to {maxlen}")
            return {k: k in declared for k in outputs}
        if not any(per_token.values()) or maxlen < 2:
            return per_token  # nothing to tell apart (at length 1, trimming is a no-op anyway)
        short = {k: torch.as_tensor(np.asarray(feature[k][:maxlen - 1], dtype=np.int64)).unsqueeze(0).to(self.device)
                 for k in keys}
        if "attention_mask" not in short:
            short["attention_mask"] = torch.ones_like(short["input_ids"])
        probe = forward(model, short)
        return {k: per_token[k] and probe[k].dim() >= 2 and probe[k].shape[1] == maxlen - 1 for k in outputs}

    def _finish(self, idx, maxlen, host, lengths, per_token):
        """A batch's outputs on the host, checked: the same keys every batch, per-token axes of the padded
        length, no non-finite value at a real position."""
        if set(host) != set(per_token):
            raise TypeError(f"forward returned keys {sorted(host)} for one batch and {sorted(per_token)} for another")
        for k, arr in host.items():
            if per_token[k] and arr.shape[1] != maxlen:
                raise TypeError(f"forward output {k!r} is per token but has {arr.shape[1]} positions for a batch "
                                f"padded to {maxlen}")
        self._check_finite(host, idx, lengths, per_token)
        return host

    @staticmethod
    def _scatter(features, done, lengths, per_token, input_keys) -> list[dict[str, Any]]:
        """Split batch outputs into per-feature results, trimming per-token outputs to each length."""
        results: list[dict[str, Any] | None] = [None] * len(features)
        for idx, _, host in done:
            for row, i in enumerate(idx):
                res = {k: (v[row, :lengths[i]] if per_token[k] else v[row, ...]) for k, v in host.items()}
                for k, v in features[i].items():
                    if k in input_keys:
                        continue
                    if k in res:
                        raise ValueError(f"feature metadata {k!r} collides with a forward output of that name")
                    res[k] = v
                results[i] = res
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # pragma: no cover - a bug guard: examples must never be dropped
            raise RuntimeError(f"engine lost {len(missing)} feature(s), first {missing[0]}")
        return results  # type: ignore[return-value]


# --- the threads around the forward ------------------------------------------------------

_DONE = object()


class _Feeder:
    """Iterates a generator of padded batches; with ``depth`` > 0 a thread runs it ahead of the consumer
    (at most ``depth`` batches waiting), so padding overlaps the forward. An error in the thread is raised in
    the consumer; ``close`` stops the thread and drops what it made (after an OOM, batches of the old size)."""

    def __init__(self, batches, depth: int = 2):
        self._batches = batches
        self._thread = None
        if depth > 0:
            self._queue: queue.Queue = queue.Queue(maxsize=depth)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._work, name="xtreme-engine-feeder", daemon=True)
            self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for item in self._batches:
                if not self._put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put((_DONE, exc))
            return
        self._put((_DONE, None))

    def __iter__(self):
        if self._thread is None:
            yield from self._batches
            return
        while True:
            item = self._queue.get()
            if isinstance(item, tuple) and item and item[0] is _DONE:
                if item[1] is not None:
                    raise item[1]
                return
            yield item

    def close(self) -> None:
        if self._thread is None:
            self._batches.close()
            return
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


class _Sink:
    def add(self, idx, maxlen, host) -> None:
        raise NotImplementedError


class _ListSink(_Sink):
    """Batches as they came, for ``_scatter`` into one dict per feature."""

    def __init__(self):
        self.done: list = []

    def add(self, idx, maxlen, host) -> None:
        self.done.append((idx, maxlen, host))


class _ColumnSink(_Sink):
    """Batch outputs put straight into place: per-row ones at their rows, per-token ones into one flat array
    (row ``i`` at its offset, ``width[i]`` positions)."""

    def __init__(self, n: int, width: np.ndarray):
        self.n, self.width = n, width
        self.starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(width, out=self.starts[1:])
        self.values: dict[str, np.ndarray] = {}
        self.per_token: dict[str, bool] = {}

    def add(self, idx, maxlen, host) -> None:
        sel = np.asarray(idx, dtype=np.int64)
        for key, arr in host.items():
            token = self.per_token[key]
            if key not in self.values:
                rows = int(self.starts[-1]) if token else self.n
                tail = arr.shape[2:] if token else arr.shape[1:]
                self.values[key] = np.empty((rows,) + tuple(tail), dtype=arr.dtype)
            if token:
                w = self.width[sel]
                dest = gather_index(self.starts[sel], w)
                r = np.repeat(np.arange(len(sel)), w)
                c = dest - np.repeat(self.starts[sel], w)
                self.values[key][dest] = arr[r, c]
            else:
                self.values[key][sel] = arr

    def columns(self, per_token) -> Columns:
        keys = [k for k, v in (per_token or {}).items() if v]
        return Columns(self.n, self.values, keys, self.starts)


class _Finisher:
    """Copies each batch's outputs to the host, checks them and hands them to the sink; in a thread with
    ``threaded`` (the next forward runs meanwhile). Errors are raised by ``put`` or ``join``."""

    def __init__(self, engine: InferenceEngine, lengths, sink: _Sink, threaded: bool = True):
        self.engine, self.lengths, self.sink = engine, lengths, sink
        self.per_token: dict[str, bool] | None = None
        self.error: BaseException | None = None
        self._thread = None
        if threaded:
            self._queue: queue.Queue = queue.Queue(maxsize=4)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._work, name="xtreme-engine-finisher", daemon=True)
            self._thread.start()

    def _one(self, idx, maxlen, pending) -> None:
        host, event = pending
        if event is not None:
            event.synchronize()
        arrays = {k: v.numpy() for k, v in host.items()}
        arrays = self.engine._finish(idx, maxlen, arrays, self.lengths, self.per_token)
        if isinstance(self.sink, _ColumnSink) and not self.sink.per_token:
            self.sink.per_token = dict(self.per_token)
        self.sink.add(idx, maxlen, arrays)

    # Both sides wait with timeouts, never on a bare ``get``/``put``: a signal's exception (Ctrl-C, SIGTERM) raised
    # in the main thread inside a queue operation can leave a stale waiter behind, after which a notify wakes
    # nobody; polling sees the item or the stop flag all the same.
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            if self.error is not None:
                continue
            try:
                self._one(*item)
            except BaseException as exc:  # noqa: BLE001 - raised in the engine's thread
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            exc, self.error = self.error, None
            raise exc

    def put(self, idx, maxlen, pending) -> None:
        if self._thread is None:
            self._one(idx, maxlen, pending)
            return
        self._raise()
        self._offer((idx, maxlen, pending))

    def _offer(self, item) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise()
                    raise RuntimeError("the engine's finisher thread stopped")

    def join(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._offer(_DONE)
            self._thread.join()
        self._raise()

    def close(self) -> None:
        if self._thread is None:
            return
        if self._thread.is_alive():
            self.error = self.error or _Stopped()
        self._stop.set()
        self._thread.join()


class _Stopped(Exception):
    """The engine stopped before the finisher was done (an error elsewhere): its remaining work is dropped."""
