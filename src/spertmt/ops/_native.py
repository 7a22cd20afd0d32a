"""Loading of the compiled kernels and their Python-side registrations.

The C++ library declares every schema (csrc/spertmt.cpp) and adds CPU and CUDA kernels. Here we
give each op a fake implementation (shapes only, for torch.compile and meta tensors) and autograd
formulas whose backward calls another registered op, so a compiled graph sees the whole thing.

The loading chain, first step that applies (`load_source()` says which gave the kernels, `load_error()`
why none did; `spertmt info` prints both):
1. SPERTMT_DISABLE_NATIVE=1: the pure-PyTorch fallbacks, as asked.
2. SPERTMT_LIBRARY=path: that library (a CMake build, say).
3. The prebuilt library `spertmt._C` (in the wheel, or built by `pip install` from source). It is
   on the LibTorch stable ABI of torch 2.10, so it loads into any torch from 2.10 on.
4. With SPERTMT_JIT=1, a just-in-time build of the sources shipped in the package
   (torch.utils.cpp_extension.load: a C++ compiler; about 15 s once on 2 cores, cached per torch version).
5. The fallbacks, with one warning that says why (never silently).
SPERTMT_REQUIRE_NATIVE=1 turns step 5 (and a failure in 2-4) into an ImportError.
"""

from __future__ import annotations

import importlib
import os
import shutil
import warnings
from pathlib import Path

import torch

_loaded = False
_load_error: str | None = None
_source: str | None = None  # where the loaded library came from, in words
_library: str | None = None  # its file, where known (not for a just-in-time build)

# The oldest torch whose stable ABI csrc/common.h targets.
MIN_TORCH = (2, 10)
# Where a build that holds no kernels says why (setup.py writes it; pip hides the build's own words).
NO_KERNELS = "_no_kernels.txt"


class FallbackWarning(UserWarning):
    """The native kernels could not be loaded: spertmt runs on its pure-PyTorch fallbacks (same
    numbers, slower). Filter it with warnings.filterwarnings("ignore", category=FallbackWarning),
    or say SPERTMT_DISABLE_NATIVE=1 to choose the fallbacks."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").lower() in ("1", "true", "yes", "on")


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def sources_dir() -> Path | None:
    """The C++/CUDA sources: shipped inside the package (`spertmt/_csrc`, see setup.py), or the
    repository's `csrc/` in a source checkout (src/spertmt/../../csrc). None when neither is there."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_csrc", package.parents[1] / "csrc"):
        if (candidate / "spertmt.cpp").is_file():
            return candidate
    return None


def _jit_build() -> None:
    """Builds the sources with torch.utils.cpp_extension.load and loads the library."""
    from torch.utils.cpp_extension import CUDA_HOME, load

    root = sources_dir()
    if root is None:
        raise ImportError("the package holds no C++ sources to build")
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise ImportError(f"no C++ compiler ({compiler}) on PATH to build the kernels with")
    sources = [str(root / "spertmt.cpp"), *sorted(str(p) for p in (root / "cpu").glob("*.cpp"))]
    with_cuda = torch.cuda.is_available() and torch.version.cuda is not None and CUDA_HOME is not None
    if with_cuda:
        sources += sorted(str(p) for p in (root / "cuda").glob("*.cu"))
    major, minor = _torch_version()
    load(name=f"spertmt_jit_torch{major}_{minor}{'_cuda' if with_cuda else ''}", sources=sources,
         extra_cflags=["-O3", "-fno-math-errno"] + (["-DWITH_CUDA"] if with_cuda else []),
         extra_cuda_cflags=["-O3", "--expt-relaxed-constexpr", "-DWITH_CUDA"],
         is_python_module=False, verbose=_flag("SPERTMT_VERBOSE_LOAD"))


def _load() -> None:
    """Walks the loading chain of the module docstring once."""
    global _loaded, _load_error, _source, _library
    if _flag("SPERTMT_DISABLE_NATIVE"):
        _load_error = "disabled by SPERTMT_DISABLE_NATIVE=1"
        return
    reasons = []
    if _torch_version() < MIN_TORCH:
        reasons.append(f"torch {torch.__version__} is older than {MIN_TORCH[0]}.{MIN_TORCH[1]}, the oldest whose "
                       "stable ABI the kernels use (pip install 'torch>=2.10')")
    elif os.environ.get("SPERTMT_LIBRARY"):
        path = os.environ["SPERTMT_LIBRARY"]
        try:
            torch.ops.load_library(path)
            _source, _library = f"SPERTMT_LIBRARY={path}", path
        except (ImportError, OSError, RuntimeError) as error:
            reasons.append(f"SPERTMT_LIBRARY={path} did not load ({type(error).__name__}: {error})")
    else:
        try:
            module = importlib.import_module("spertmt._C")
            _source, _library = f"prebuilt ({module.__file__})", module.__file__
        except (ImportError, OSError) as error:
            package = Path(__file__).resolve().parents[1]
            if isinstance(error, ModuleNotFoundError) and error.name == "spertmt._C":
                if not (package / "_csrc").exists() and (package.parents[1] / "csrc").exists():
                    reasons.append(f"this is the source checkout ({package}), imported without being built: "
                                   "`pip install --no-build-isolation -e .` builds it in place, or install the "
                                   "wheel and leave src/ off PYTHONPATH")
                elif (package / NO_KERNELS).is_file():
                    reasons.append(f"the package holds no kernels: {(package / NO_KERNELS).read_text().strip()}")
                else:
                    reasons.append("the package has no compiled kernels (installed without a C++ compiler, or "
                                   "with SPERTMT_SKIP_NATIVE=1)")
            else:
                reasons.append(f"the prebuilt library did not load ({type(error).__name__}: {error})")
        if _source is None:
            if _flag("SPERTMT_JIT"):
                try:
                    _jit_build()
                    _source = "built just in time (SPERTMT_JIT=1)"
                except Exception as error:  # a compiler error, a missing toolchain: fall back
                    reasons.append(f"the just-in-time build failed ({type(error).__name__}: {error})")
            else:
                reasons.append("SPERTMT_JIT=1 would build them now (needs a C++ compiler)")
    if _source is None:
        _load_error = "; ".join(reasons)
        if _flag("SPERTMT_REQUIRE_NATIVE"):
            raise ImportError(f"spertmt: native kernels required (SPERTMT_REQUIRE_NATIVE=1) but not loaded: "
                              f"{_load_error}")
        warnings.warn(f"spertmt: native kernels not loaded, using the pure-PyTorch fallbacks (same results, "
                      f"slower): {_load_error}", FallbackWarning, stacklevel=2)
        return
    _register_python_parts()
    _loaded = True


def load_error() -> str | None:
    """Why the native kernels are not in use (None when they are loaded)."""
    return _load_error


def library_path() -> str | None:
    """The loaded library's file (None for the fallbacks and a just-in-time build)."""
    return _library


def load_source() -> str | None:
    """Where the loaded kernels came from ("prebuilt (path)", "SPERTMT_LIBRARY=...", "built just in
    time ..."), or None when the fallbacks run."""
    return _source


# Every op of csrc/spertmt.cpp, and the op that each forward op's backward calls.
OPS = ("span_max_pool", "pair_context_max_pool", "enumerate_span_max_pool", "max_pool_backward", "span_en_iou",
       "iou_scaled_bce", "iou_scaled_bce_backward", "ranking_loss", "ranking_loss_backward",
       "adamw_no_bias_correction_")
BACKWARD = {"span_max_pool": "max_pool_backward", "pair_context_max_pool": "max_pool_backward",
            "enumerate_span_max_pool": "max_pool_backward", "iou_scaled_bce": "iou_scaled_bce_backward",
            "ranking_loss": "ranking_loss_backward"}


def has_kernel(op: str, device_type: str) -> bool:
    """True when the library is loaded and has a kernel of `op` for `device_type` ("cpu", "cuda")."""
    if not _loaded:
        return False
    key = {"cpu": "CPU", "cuda": "CUDA"}.get(device_type)
    return key is not None and torch._C._dispatch_has_kernel_for_dispatch_key(f"spertmt::{op}", key)


# --------------------------------------------------------------------------------------------
# Fake implementations: output shapes, dtypes and devices, no data access. They check what can be
# checked without data (dimensions, sizes, dtypes, devices; csrc/common.h checks the same and the
# ranges), so that torch.compile and meta tensors refuse a bad call as the kernels would.

_FLOATING = (torch.float32, torch.float64, torch.bfloat16)
_INDEX = (torch.int64, torch.int32)


def _check(condition, op: str, message: str) -> None:
    torch._check(condition, lambda: f"spertmt.{op}: {message}")


def _check_tensor(t, op: str, name: str, dim: int, shape: str, dtypes=None, like=None) -> None:
    _check(t.dim() == dim, op, f"`{name}` has {t.dim()} dimensions, expected {dim} ({shape})")
    if dtypes is not None:
        _check(t.dtype in dtypes, op, f"`{name}` has dtype {t.dtype}, expected one of {list(dtypes)}")
    if like is not None:
        _check(t.device == like.device, op, f"`{name}` is on {t.device} but the other inputs on {like.device}")


def _check_same_shape(a, b, op: str, name_a: str, name_b: str) -> None:
    _check(a.shape == b.shape, op, f"`{name_b}` has shape {list(b.shape)} but `{name_a}` has {list(a.shape)}")


def _check_batched(hidden, t, op: str, name: str, dim: int, shape: str) -> None:
    _check_tensor(t, op, name, dim, shape, _INDEX, hidden)
    _check(t.shape[0] == hidden.shape[0], op, f"`{name}` has size {t.shape[0]} in dimension 0, "
                                              f"expected {hidden.shape[0]} (the batch size of `hidden`)")


def _pool_fake(hidden, ranges_b_s, with_argmax):
    B, _, H = hidden.shape
    S = ranges_b_s.shape[1]
    argmax_shape = (B, S, H) if with_argmax else (0,)
    return hidden.new_empty(B, S, H), hidden.new_empty(argmax_shape, dtype=torch.long)


def _num_enumerated_spans(num_words: int, max_width: int) -> int:
    return sum(num_words - w + 1 for w in range(1, min(max_width, num_words) + 1))


def _alert_not_deterministic(what: str) -> None:
    """What at::globalContext().alertNotDeterministic does, which the stable ABI lacks: refuse
    (or warn, with warn_only=True) under torch.use_deterministic_algorithms(True)."""
    if not torch.are_deterministic_algorithms_enabled():
        return
    message = (f"{what} does not have a deterministic implementation, but you set "
               "'torch.use_deterministic_algorithms(True)'")
    if torch.is_deterministic_algorithms_warn_only_enabled():
        warnings.warn(message, stacklevel=2)
    else:
        raise RuntimeError(message)


def _register_python_parts() -> None:
    """What the C++ library leaves to Python: the ops' fake (meta) functions, which check their
    input as the kernels do, and their autograd."""
    lib = "spertmt::"
    _register_pooling_fakes(lib)
    _register_loss_fakes(lib)
    _register_autograd(lib)


def _register_pooling_fakes(lib: str) -> None:
    @torch.library.register_fake(lib + "span_max_pool")
    def _(hidden, starts, ends, with_argmax):
        op = "span_max_pool"
        _check_tensor(hidden, op, "hidden", 3, "[B, T, H]", _FLOATING)
        _check_batched(hidden, starts, op, "starts", 2, "[B, S]")
        _check_batched(hidden, ends, op, "ends", 2, "[B, S]")
        _check_same_shape(starts, ends, op, "starts", "ends")
        return _pool_fake(hidden, starts, with_argmax)

    @torch.library.register_fake(lib + "pair_context_max_pool")
    def _(hidden, head_ranges, tail_ranges, with_argmax):
        op = "pair_context_max_pool"
        _check_tensor(hidden, op, "hidden", 3, "[B, T, H]", _FLOATING)
        _check_batched(hidden, head_ranges, op, "head_ranges", 3, "[B, P, 2]")
        _check_batched(hidden, tail_ranges, op, "tail_ranges", 3, "[B, P, 2]")
        _check(head_ranges.shape[2] == 2, op, "`head_ranges` must end in (start, end)")
        _check_same_shape(head_ranges, tail_ranges, op, "head_ranges", "tail_ranges")
        return _pool_fake(hidden, head_ranges, with_argmax)

    @torch.library.register_fake(lib + "enumerate_span_max_pool")
    def _(hidden, word_starts, word_ends, num_words, max_width, with_argmax):
        op = "enumerate_span_max_pool"
        _check_tensor(hidden, op, "hidden", 3, "[B, T, H]", _FLOATING)
        _check_batched(hidden, word_starts, op, "word_starts", 2, "[B, W]")
        _check_batched(hidden, word_ends, op, "word_ends", 2, "[B, W]")
        _check_batched(hidden, num_words, op, "num_words", 1, "[B]")
        _check_same_shape(word_starts, word_ends, op, "word_starts", "word_ends")
        _check(max_width >= 1, op, f"max_width must be at least 1, not {max_width}")
        B, _, H = hidden.shape
        S = _num_enumerated_spans(word_starts.shape[1], max_width)
        argmax_shape = (B, S, H) if with_argmax else (0,)
        return (
            hidden.new_empty(B, S, H),
            hidden.new_empty(argmax_shape, dtype=torch.long),
            hidden.new_empty(S, 2, dtype=torch.long),
            hidden.new_empty(B, S, dtype=torch.bool),
        )

    @torch.library.register_fake(lib + "max_pool_backward")
    def _(grad_out, argmax, num_pieces):
        op = "max_pool_backward"
        _check_tensor(grad_out, op, "grad_out", 3, "[B, S, H]", _FLOATING)
        _check_tensor(argmax, op, "argmax", 3, "[B, S, H]", (torch.int64,), grad_out)
        _check_same_shape(grad_out, argmax, op, "grad_out", "argmax")
        B, _, H = grad_out.shape
        return grad_out.new_empty(B, num_pieces, H)


def _register_loss_fakes(lib: str) -> None:
    @torch.library.register_fake(lib + "span_en_iou")
    def _(candidate_spans, gold_spans, gold_mask):
        op = "span_en_iou"
        _check_tensor(candidate_spans, op, "candidate_spans", 3, "[B, S, 2]", _INDEX)
        _check_tensor(gold_spans, op, "gold_spans", 3, "[B, G, 2]", _INDEX, candidate_spans)
        _check_tensor(gold_mask, op, "gold_mask", 2, "[B, G]", (torch.bool,), candidate_spans)
        _check(gold_spans.shape[0] == candidate_spans.shape[0], op,
               "`gold_spans` and `candidate_spans` have different batch sizes")
        _check(gold_mask.shape == gold_spans.shape[:2], op, "`gold_mask` must have the shape [B, G] of `gold_spans`")
        return candidate_spans.new_empty(candidate_spans.shape[:2], dtype=torch.float32)

    def _bce_check(op, logits, targets, en_iou):
        _check(logits.dtype in _FLOATING, op, f"`logits` has dtype {logits.dtype}, expected one of {list(_FLOATING)}")
        for name, t in (("targets", targets), ("en_iou", en_iou)):
            _check_same_shape(logits, t, op, "logits", name)
            _check(t.device == logits.device, op, f"`{name}` is on {t.device} but `logits` on {logits.device}")

    @torch.library.register_fake(lib + "iou_scaled_bce")
    def _(logits, targets, en_iou, delta):
        _bce_check("iou_scaled_bce", logits, targets, en_iou)
        return torch.empty_like(logits)

    @torch.library.register_fake(lib + "iou_scaled_bce_backward")
    def _(grad, logits, targets, en_iou, delta):
        _bce_check("iou_scaled_bce_backward", logits, targets, en_iou)
        return torch.empty_like(logits)

    def _ranking_check(op, scores, gold):
        _check_tensor(scores, op, "scores", 2, "[N, C]", _FLOATING)
        _check_tensor(gold, op, "gold", 2, "[N, C]", (torch.bool,), scores)
        _check_same_shape(scores, gold, op, "scores", "gold")

    @torch.library.register_fake(lib + "ranking_loss")
    def _(scores, gold, m_pos, m_neg, gamma):
        _ranking_check("ranking_loss", scores, gold)
        return scores.new_empty(scores.shape[0])

    @torch.library.register_fake(lib + "ranking_loss_backward")
    def _(grad, scores, gold, m_pos, m_neg, gamma):
        _ranking_check("ranking_loss_backward", scores, gold)
        return torch.empty_like(scores)

    @torch.library.register_fake(lib + "adamw_no_bias_correction_")
    def _(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay):
        return None


def _register_autograd(lib: str) -> None:
    """Pooled outputs send their gradient to the arg-max piece; losses go through their fused
    backward ops. Index, target and IoU inputs get no gradient."""
    def _pool_setup(ctx, inputs, output):
        ctx.num_pieces = inputs[0].shape[1]
        ctx.save_for_backward(output[1])

    def _pool_backward(ctx, grad_out, *unused):
        (argmax,) = ctx.saved_tensors
        if argmax.numel() == 0 and grad_out.numel() != 0:
            raise RuntimeError("spertmt: backward through a pooling op run with with_argmax=False")
        if grad_out.is_cuda:
            _alert_not_deterministic("spertmt::max_pool_backward (CUDA atomics)")
        grad = torch.ops.spertmt.max_pool_backward(grad_out, argmax, ctx.num_pieces)
        return (grad,) + (None,) * (ctx.num_inputs - 1)

    for name, num_inputs in (
        ("span_max_pool", 4),
        ("pair_context_max_pool", 4),
        ("enumerate_span_max_pool", 6),
    ):

        def setup(ctx, inputs, output, num_inputs=num_inputs):
            ctx.num_inputs = num_inputs
            _pool_setup(ctx, inputs, output)

        torch.library.register_autograd(lib + name, _pool_backward, setup_context=setup)

    def _bce_setup(ctx, inputs, output):
        logits, targets, en_iou, delta = inputs
        ctx.delta = delta
        ctx.save_for_backward(logits, targets, en_iou)

    def _bce_backward(ctx, grad):
        logits, targets, en_iou = ctx.saved_tensors
        return (torch.ops.spertmt.iou_scaled_bce_backward(grad, logits, targets, en_iou, ctx.delta),
                None, None, None)

    torch.library.register_autograd(lib + "iou_scaled_bce", _bce_backward, setup_context=_bce_setup)

    def _rank_setup(ctx, inputs, output):
        scores, gold, m_pos, m_neg, gamma = inputs
        ctx.margins = (m_pos, m_neg, gamma)
        ctx.save_for_backward(scores, gold)

    def _rank_backward(ctx, grad):
        scores, gold = ctx.saved_tensors
        return (torch.ops.spertmt.ranking_loss_backward(grad, scores, gold, *ctx.margins),
                None, None, None, None)

    torch.library.register_autograd(lib + "ranking_loss", _rank_backward, setup_context=_rank_setup)

_load()
