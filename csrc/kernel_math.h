// Scalar formulas of SpERT.MT's losses (SPEC.md) and the max rule, shared by the CPU and CUDA kernels so that the
// two backends compute the very same expressions.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define SPERTMT_HOST_DEVICE __host__ __device__
#else
#define SPERTMT_HOST_DEVICE
#endif

namespace spertmt {

// log(1 + exp(x)) without overflow.
template <typename T>
SPERTMT_HOST_DEVICE inline T softplus(T x) {
  return (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x)));
}

template <typename T>
SPERTMT_HOST_DEVICE inline T sigmoid(T x) {
  return x >= T(0) ? T(1) / (T(1) + exp(-x)) : exp(x) / (T(1) + exp(x));
}

// IoU-scaled BCE on a logit x with target q and ENIoU u:
//   -q (1 - delta) log sigmoid(x) - delta (1 - q) (1 + u) log(1 - sigmoid(x))
// using -log sigmoid(x) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x).
template <typename T>
SPERTMT_HOST_DEVICE inline T iou_bce_loss(T x, T q, T u, T delta) {
  return q * (T(1) - delta) * softplus(-x) + delta * (T(1) - q) * (T(1) + u) * softplus(x);
}

template <typename T>
SPERTMT_HOST_DEVICE inline T iou_bce_grad(T x, T q, T u, T delta) {
  return -q * (T(1) - delta) * sigmoid(-x) + delta * (T(1) - q) * (T(1) + u) * sigmoid(x);
}

// Pairwise ranking (Santos et al. 2015): L+ = softplus(gamma (m+ - s)) per gold class,
// L- = softplus(gamma (m- + s)) for the highest-scoring class that is not gold.
template <typename T>
SPERTMT_HOST_DEVICE inline T rank_pos_loss(T s, T m_pos, T gamma) {
  return softplus(gamma * (m_pos - s));
}
template <typename T>
SPERTMT_HOST_DEVICE inline T rank_pos_grad(T s, T m_pos, T gamma) {
  return -gamma * sigmoid(gamma * (m_pos - s));
}
template <typename T>
SPERTMT_HOST_DEVICE inline T rank_neg_loss(T s, T m_neg, T gamma) {
  return softplus(gamma * (m_neg + s));
}
template <typename T>
SPERTMT_HOST_DEVICE inline T rank_neg_grad(T s, T m_neg, T gamma) {
  return gamma * sigmoid(gamma * (m_neg + s));
}

// The pieces strictly between a head range [hs, he) and a tail range [ts, te) (a relation's
// context): [min(he, te), max(hs, ts)), empty (start == end) when the two touch or overlap.
SPERTMT_HOST_DEVICE inline void context_range(int64_t hs, int64_t he, int64_t ts, int64_t te, int64_t& start,
                                              int64_t& end) {
  start = he < te ? he : te;
  end = hs > ts ? hs : ts;
  if (end < start) end = start;
}

// The running-max rule of every spertmt max: the first maximum wins ties, the first NaN wins
// over numbers (torch.max propagates NaN). `have` is false before the first value.
template <typename T>
SPERTMT_HOST_DEVICE inline bool takes_max(T v, T best, bool have) {
  return !have || v > best || (v != v && best == best);
}

}  // namespace spertmt
