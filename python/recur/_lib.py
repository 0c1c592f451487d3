"""recur._lib - finding librecur.so and declaring its functions for ctypes.

The library is looked for, first found wins:
  1. $RECUR_LIB: the path of librecur.so (or of a directory holding it);
  2. next to this package (recur/librecur.so*, where `pip install` puts the
     one it found when the package was built);
  3. the build directory of the source tree this package sits in
     (python/../build/librecur.so), so that PYTHONPATH=python works after
     `cmake -B build && cmake --build build`;
  4. the dynamic loader's search path (librecur.so.4 installed by
     `cmake --install` into /usr/local/lib, or found through LD_LIBRARY_PATH).
It is loaded on first use, not on import: recur.safetensors and the PyTorch
conversions work without it.
"""

import ctypes
import glob
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_longlong, c_size_t, c_uint32, c_uint64, c_void_p)
from typing import Optional

SONAME = "librecur.so.4"

# ---------------------------------------------------------------- structs (recur.h)


class Err(Structure):
    _fields_ = [("code", c_int), ("msg", c_char * 512)]


class ModelConfig(Structure):
    _fields_ = [("cell", c_int), ("relu", c_int), ("hidden", c_int), ("layers", c_int),
                ("embed", c_int), ("dropout", c_float), ("outputs", c_int), ("cond", c_int),
                ("bidirectional", c_int), ("dropout_in", c_float), ("dropout_out", c_float),
                ("variational", c_int), ("tie", c_int)]


class ModelInfo(Structure):
    _fields_ = [("cell", c_int), ("relu", c_int), ("hidden", c_int), ("layers", c_int),
                ("embed", c_int), ("vocab_size", c_int), ("dropout", c_float),
                ("params", c_size_t), ("steps", c_longlong), ("best_val", c_double),
                ("outputs", c_int), ("directions", c_int), ("cond", c_int),
                ("dropout_in", c_float), ("dropout_out", c_float), ("variational", c_int),
                ("tie", c_int)]


class EvalResult(Structure):
    _fields_ = [("chars", c_longlong), ("skipped", c_longlong), ("nats_per_char", c_double),
                ("bits_per_char", c_double)]


class SampleConfig(Structure):
    _fields_ = [("temperature", c_float), ("top_k", c_int), ("top_p", c_float),
                ("seed", c_uint64), ("threads", c_int), ("bf16", c_int), ("int8", c_int)]


class TrainConfig(Structure):
    _fields_ = [("seq", c_int), ("batch", c_int), ("optim", c_int), ("lr", c_float),
                ("lr_decay", c_float), ("lr_decay_every", c_int), ("momentum", c_float),
                ("clip", c_float), ("clip_mode", c_int), ("steps", c_longlong),
                ("epochs", c_double), ("val_frac", c_double), ("eval_every", c_int),
                ("sample_every", c_int), ("sample_len", c_int), ("save_every", c_longlong),
                ("seed", c_uint64), ("threads", c_int), ("val_max_chars", c_longlong),
                ("schedule", c_int), ("warmup", c_longlong), ("lr_min", c_float),
                ("patience", c_int), ("weight_decay", c_float), ("bf16", c_int),
                ("recompute", c_int)]


class TrainEvent(Structure):
    _fields_ = [("kind", c_int), ("step", c_longlong), ("total_steps", c_longlong),
                ("epoch", c_double), ("train_loss", c_double), ("val_loss", c_double),
                ("best_val", c_double), ("lr", c_double), ("grad_norm", c_double),
                ("chars_per_s", c_double), ("elapsed_s", c_double),
                ("train_chars", c_longlong), ("val_chars", c_longlong), ("text", c_char_p),
                ("val_metric", c_double), ("best_metric", c_double), ("metric", c_char_p),
                ("unit", c_char_p), ("task", c_char_p)]


class TraceConfig(Structure):
    _fields_ = [("skip_unknown", c_int), ("gates", c_int), ("threads", c_int),
                ("max_chars", c_longlong)]


class Text(Structure):
    _fields_ = [("data", c_void_p), ("len", c_size_t), ("impl_", c_void_p)]


class Seq2SeqConfig(Structure):
    _fields_ = [("cell", c_int), ("hidden", c_int), ("layers", c_int), ("embed", c_int),
                ("dropout", c_float), ("attention", c_int), ("dropout_in", c_float),
                ("dropout_out", c_float), ("variational", c_int)]


class Seq2SeqInfo(Structure):
    _fields_ = [("cfg", Seq2SeqConfig), ("src_vocab", c_int), ("tgt_vocab", c_int),
                ("params", c_size_t), ("steps", c_longlong), ("best_val", c_double),
                ("best_exact", c_double)]


class Seq2SeqDecode(Structure):
    _fields_ = [("beam", c_int), ("length_alpha", c_float), ("max_len", c_int)]


TRAIN_CALLBACK = CFUNCTYPE(c_int, POINTER(TrainEvent), c_void_p)

# ---------------------------------------------------------------- prototypes

P = c_void_p  # every opaque handle
E = POINTER(Err)
_PROTOS = {
    "recur_has_bf16": (c_int, []),
    "recur_strerror": (c_char_p, [c_int]),
    "recur_vocab_from_text": (c_int, [c_char_p, c_size_t, c_int, POINTER(P), E]),
    "recur_vocab_free": (None, [P]),
    "recur_vocab_size": (c_int, [P]),
    "recur_vocab_is_bytes": (c_int, [P]),
    "recur_vocab_id": (c_int, [P, c_uint32]),
    "recur_vocab_char": (c_uint32, [P, c_int]),
    "recur_text_open": (c_int, [c_char_p, POINTER(Text), E]),
    "recur_text_close": (None, [POINTER(Text)]),
    "recur_model_config_default": (None, [POINTER(ModelConfig)]),
    "recur_model_new": (c_int, [POINTER(ModelConfig), P, c_uint64, POINTER(P), E]),
    "recur_model_free": (None, [P]),
    "recur_trace_config_default": (None, [POINTER(TraceConfig)]),
    "recur_trace_text": (c_int, [P, c_char_p, c_size_t, POINTER(TraceConfig), POINTER(P), E]),
    "recur_trace_free": (None, [P]),
    "recur_trace_steps": (c_int, [P]),
    "recur_trace_layers": (c_int, [P]),
    "recur_trace_directions": (c_int, [P]),
    "recur_trace_hidden": (c_int, [P]),
    "recur_trace_outputs": (c_int, [P]),
    "recur_trace_skipped": (c_longlong, [P]),
    "recur_trace_char": (c_int, [P, c_int, POINTER(c_size_t), POINTER(c_int)]),
    "recur_trace_get": (POINTER(c_float), [P, c_int, c_int, c_int, c_int]),
    "recur_trace_probs": (POINTER(c_float), [P, c_int]),
    "recur_trace_value_name": (c_char_p, [c_int]),
    "recur_model_load": (c_int, [c_char_p, POINTER(P), E]),
    "recur_model_save": (c_int, [P, c_char_p, E]),
    "recur_model_get_info": (None, [P, POINTER(ModelInfo)]),
    "recur_model_vocab": (P, [P]),
    "recur_cell_name": (c_char_p, [c_int]),
    "recur_cell_parse": (c_int, [c_char_p]),
    "recur_eval_text": (c_int, [P, c_char_p, c_size_t, c_int, c_int, POINTER(EvalResult), E]),
    "recur_sample_config_default": (None, [POINTER(SampleConfig)]),
    "recur_sampler_new": (c_int, [P, POINTER(SampleConfig), POINTER(P), E]),
    "recur_sampler_free": (None, [P]),
    "recur_sampler_prime": (c_int, [P, c_char_p, c_size_t, E]),
    "recur_sampler_next": (c_int, [P, c_char * 4, POINTER(c_int), E]),
    "recur_sampler_set_class": (c_int, [P, c_int, E]),
    "recur_sampler_reset": (None, [P]),
    "recur_sampler_last_prob": (c_float, [P]),
    "recur_train_config_default": (None, [POINTER(TrainConfig)]),
    "recur_trainer_new": (c_int, [P, POINTER(TrainConfig), c_void_p, c_size_t, c_void_p, c_size_t,
                                  POINTER(P), E]),
    "recur_trainer_free": (None, [P]),
    "recur_trainer_set_outputs": (c_int, [P, c_char_p, c_char_p, E]),
    "recur_trainer_resume": (c_int, [P, c_char_p, E]),
    "recur_trainer_run": (c_int, [P, TRAIN_CALLBACK, c_void_p, E]),
    "recur_trainer_step": (c_longlong, [P]),
    "recur_trainer_total_steps": (c_longlong, [P]),
    "recur_model_task": (c_int, [P]),
    "recur_task_name": (c_char_p, [c_int]),
    "recur_model_label_count": (c_int, [P]),
    "recur_model_label": (c_char_p, [P, c_int]),
    "recur_classify": (c_int, [P, c_char_p, c_size_t, POINTER(c_float), E]),
    "recur_tag": (c_int, [P, POINTER(c_char_p), POINTER(c_size_t), c_int, POINTER(c_int), E]),
    "recur_seq2seq_load": (c_int, [c_char_p, POINTER(P), E]),
    "recur_seq2seq_free": (None, [P]),
    "recur_seq2seq_save": (c_int, [P, c_char_p, E]),
    "recur_seq2seq_get_info": (None, [P, POINTER(Seq2SeqInfo)]),
    "recur_seq2seq_decode_default": (None, [POINTER(Seq2SeqDecode)]),
    "recur_seq2seq_predict": (c_int, [P, c_char_p, c_size_t, POINTER(Seq2SeqDecode), c_char_p,
                                      c_size_t, POINTER(c_size_t), E]),
}

_lib: Optional[ctypes.CDLL] = None


def candidates() -> list:
    """The paths tried, in order (see the module docstring)."""
    out = []
    env = os.environ.get("RECUR_LIB")
    if env:
        out.append(os.path.join(env, "librecur.so") if os.path.isdir(env) else env)
    here = os.path.dirname(os.path.abspath(__file__))
    out += sorted(glob.glob(os.path.join(here, "librecur.so*")))
    out.append(os.path.join(here, "..", "..", "build", "librecur.so"))
    out.append(SONAME)
    return out


# The structs above against the library's own: a field added on one side
# only would make the library write past the end of a Python-made struct.
_LAYOUTS = {"recur_error": Err, "recur_model_config": ModelConfig, "recur_model_info": ModelInfo,
            "recur_eval_result": EvalResult, "recur_sample_config": SampleConfig,
            "recur_train_config": TrainConfig, "recur_train_event": TrainEvent, "recur_text": Text,
            "recur_seq2seq_config": Seq2SeqConfig, "recur_seq2seq_info": Seq2SeqInfo,
            "recur_seq2seq_decode": Seq2SeqDecode, "recur_trace_config": TraceConfig}


def check_layout(handle: ctypes.CDLL, path: str) -> None:
    """Raises recur.Error if a struct this module lays out has another size
    in the library at path (a library from another version of recur)."""
    sizeof = handle.recur_sizeof
    sizeof.restype, sizeof.argtypes = c_size_t, [c_char_p]
    for cname, py in _LAYOUTS.items():
        want = sizeof(cname.encode())
        if want != ctypes.sizeof(py):
            from ._core import Error
            raise Error("%s does not match this recur module: %s is %d bytes there, %d here"
                        % (path, cname, want, ctypes.sizeof(py)), -1)


def lib() -> ctypes.CDLL:
    """librecur, loaded and declared on first use."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    env = os.environ.get("RECUR_LIB")
    for path in candidates():
        if os.sep in path and not os.path.exists(path):
            if env and not tried:  # an explicit RECUR_LIB that is wrong is an error
                from ._core import Error
                raise Error("RECUR_LIB=%s: no such file" % env, -3)
            tried.append(path)
            continue
        try:
            handle = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        for name, (res, args) in _PROTOS.items():
            f = getattr(handle, name)
            f.restype = res
            f.argtypes = args
        check_layout(handle, path)
        _lib = handle
        return _lib
    from ._core import Error
    raise Error("cannot find librecur.so: tried " + ", ".join(tried) +
                " (set RECUR_LIB to its path; docs/python.md)", -3)


def path() -> str:
    """The file librecur was loaded from."""
    lib()
    return _lib._name  # type: ignore[union-attr]
