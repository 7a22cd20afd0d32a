// The one place where every spertmt operator's schema is declared. Backends only add kernels
// (csrc/cpu/*.cpp: STABLE_TORCH_LIBRARY_IMPL(spertmt, CPU, ...), csrc/cuda/*.cu: ... CUDA ...);
// fake (meta) implementations and autograd are registered from Python (spertmt/ops/_native.py).
// Everything is on the LibTorch stable ABI (csrc/common.h): the library loads into any torch from
// 2.10 on, whichever torch it was built against.
//
// Conventions shared by every op:
// - Ranges are [start, end) with end exclusive, as int64 (int32 accepted).
// - Max-pooling keeps the first maximum (lowest piece index) on ties, and the first NaN when
//   there is one (as torch.max propagates NaN). `argmax` holds that piece index, or -1 for an
//   empty range, whose output is 0. The pure-PyTorch fallbacks follow the same rule.
// - `with_argmax = false` skips the arg-max tensor (an empty tensor is returned): inference.

#include "common.h"  // first: it fixes the stable ABI version

#ifdef WITH_PYTHON
#include <Python.h>
// An importable module with no Python API: importing spertmt._C loads the library and runs the
// static registrations below.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
#endif

STABLE_TORCH_LIBRARY(spertmt, m) {
  m.def("span_max_pool(Tensor hidden, Tensor starts, Tensor ends, bool with_argmax) -> (Tensor, Tensor)");
  m.def(
      "enumerate_span_max_pool(Tensor hidden, Tensor word_starts, Tensor word_ends, "
      "Tensor num_words, int max_width, bool with_argmax) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "pair_context_max_pool(Tensor hidden, Tensor head_ranges, Tensor tail_ranges, "
      "bool with_argmax) -> (Tensor, Tensor)");
  m.def("max_pool_backward(Tensor grad_out, Tensor argmax, int num_pieces) -> Tensor");
  m.def("span_en_iou(Tensor candidate_spans, Tensor gold_spans, Tensor gold_mask) -> Tensor");
  m.def("iou_scaled_bce(Tensor logits, Tensor targets, Tensor en_iou, float delta) -> Tensor");
  m.def(
      "iou_scaled_bce_backward(Tensor grad, Tensor logits, Tensor targets, Tensor en_iou, "
      "float delta) -> Tensor");
  m.def("ranking_loss(Tensor scores, Tensor gold, float m_pos, float m_neg, float gamma) -> Tensor");
  m.def(
      "ranking_loss_backward(Tensor grad, Tensor scores, Tensor gold, float m_pos, float m_neg, "
      "float gamma) -> Tensor");
  // SpERT's optimizer step, in place (CPU kernel; see csrc/cpu/optim_cpu.cpp).
  m.def(
      "adamw_no_bias_correction_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] exp_avgs, "
      "Tensor(c!)[] exp_avg_sqs, float lr, float beta1, float beta2, float eps, float weight_decay) -> ()");
}
