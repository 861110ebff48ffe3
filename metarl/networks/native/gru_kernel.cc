// The GRU stack of metarl/networks/gru.py over a whole sequence, forward and backward, as
// two XLA FFI handlers for the CPU.
//
// Why: on a CPU, XLA runs a scan step as a handful of kernels (a matmul per layer, the
// gate arithmetic, the loop counter, the writes of the outputs), each costing a fixed
// fraction of a microsecond to launch; for recurrent SAC's networks (4 sequences, 16
// units) that launch cost, not arithmetic, is the time of a training step. Here a whole
// sequence of every layer is one call, the loops are plain C++ the compiler vectorizes.
//
// The cell is PyTorch's and RLtools' GRU (gates r, z, n):
//   r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n),
//   h' = n + z * (h - n), with gi = x W_i + b_i and gh = h W_h + b_h,
// where h is the previous state times keep[t, b] (0: the state restarts from zero).
//
// Layouts (row-major, float32; any leading axes are independent problems, e.g. the twin
// critics or the seeds of a vmap):
//   x       [..., T, B, D]       the inputs of the first layer
//   keep    [..., T, B]
//   h0      [..., B, sum H]      the states before the first step, layer after layer
//   weights [..., P]             per layer w_i [D_l, 3H], b_i [3H], w_h [H, 3H], b_h [3H]
//   saved   [..., T, B, 5 sum H] per layer [h', r, z, n, gh_n] (the forward's output),
// and the backward returns d x, d h0 and d weights (the weights' layout).

#include <algorithm>
#if defined(__AVX__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <cstdint>
#include <vector>

#ifndef METARL_GRU_NO_FFI
#include "xla/ffi/api/ffi.h"
namespace ffi = xla::ffi;
#endif

namespace {

// tanh as a rational function of x (degree 13 over 6) on [-kTanhBound, kTanhBound], +-1
// outside: within 4e-7 of tanh in float32, and plain arithmetic, so loops over it vectorize.
// Coefficients of x^13, x^11, ..., x (numerator) and x^6, x^4, x^2, 1 (denominator).
constexpr float kTanhBound = 7.90531110763549805f;
constexpr float kTanhP[7] = {-2.76076847742355e-16f, 2.00018790482477e-13f,
                             -8.60467152213735e-11f, 5.12229709037114e-08f,
                             1.48572235717979e-05f,  6.37261928875436e-04f,
                             4.89352455891786e-03f};
constexpr float kTanhQ[4] = {1.19825839466702e-06f, 1.18534705686654e-04f,
                             2.26843463243900e-03f, 4.89352518554385e-03f};

inline float fast_tanh(float x) {
  x = x > kTanhBound ? kTanhBound : (x < -kTanhBound ? -kTanhBound : x);
  const float x2 = x * x;
  float p = kTanhP[0], q = kTanhQ[0];
  for (int i = 1; i < 7; ++i) p = p * x2 + kTanhP[i];
  for (int i = 1; i < 4; ++i) q = q * x2 + kTanhQ[i];
  return p * x / q;
}

inline float fast_sigmoid(float x) { return 0.5f + 0.5f * fast_tanh(0.5f * x); }

struct Layer {
  int64_t hidden, input;            // H, and the layer's input size
  int64_t w_i, b_i, w_h, b_h;       // offsets in a problem's weights
  int64_t state, saved, grad;       // offsets in h0 / saved / grads rows
};

struct Plan {
  std::vector<Layer> layers;
  int64_t params = 0, state = 0, saved = 0, grad = 0;
};

Plan MakePlan(int64_t input_size, ffi::Span<const int64_t> sizes) {
  Plan plan;
  int64_t below = input_size;
  for (size_t l = 0; l < sizes.size(); ++l) {
    Layer layer;
    const int64_t h = sizes[l];
    layer.hidden = h;
    layer.input = below;
    layer.w_i = plan.params;
    plan.params += below * 3 * h;
    layer.b_i = plan.params;
    plan.params += 3 * h;
    layer.w_h = plan.params;
    plan.params += h * 3 * h;
    layer.b_h = plan.params;
    plan.params += 3 * h;
    layer.state = plan.state;
    plan.state += h;
    layer.saved = plan.saved;
    plan.saved += 5 * h;
    layer.grad = plan.grad;
    plan.grad += 4 * h;
    plan.layers.push_back(layer);
    below = h;
  }
  return plan;
}

// kLanes floats as one value (GCC and Clang vector extensions: AVX-512, AVX, SSE or NEON
// code, whichever the compiler targets).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float vec __attribute__((vector_size(4 * kLanes)));

inline vec LoadVec(const float* p) {
  vec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

inline void StoreVec(float* p, vec v) { __builtin_memcpy(p, &v, sizeof v); }

// s in every lane (`vec{} + s` would add a zero first: 0 + s is not s when s is -0)
inline vec Splat(float s) {
#if defined(__AVX512F__)
  return reinterpret_cast<vec>(_mm512_set1_ps(s));
#elif defined(__AVX__)
  return reinterpret_cast<vec>(_mm256_set1_ps(s));
#else
  return vec{} + s;
#endif
}

// 1 / q: the CPU's reciprocal estimate and one Newton step where it has one (a division of
// whole vectors costs several times more), else a division.
inline vec Reciprocal(vec q) {
#if defined(__AVX512F__)
  vec r = reinterpret_cast<vec>(_mm512_rcp14_ps(reinterpret_cast<__m512>(q)));
  return r * (2.0f - q * r);
#elif defined(__AVX__)
  vec r = reinterpret_cast<vec>(_mm256_rcp_ps(reinterpret_cast<__m256>(q)));
  return r * (2.0f - q * r);
#else
  return 1.0f / q;
#endif
}

// fast_tanh on kChunk vectors in place, step by step across them: the chunk's polynomials
// are independent chains of multiply-adds the CPU overlaps (one alone waits on each step),
// and the division is a reciprocal estimate.
constexpr int kChunk = 8;

inline void TanhChunk(vec* v) {
  const vec bound = vec{} + kTanhBound;
  vec x2[kChunk], p[kChunk], q[kChunk];
  for (int i = 0; i < kChunk; ++i) {
    vec x = v[i] > bound ? bound : v[i];
    v[i] = x < -bound ? -bound : x;
    x2[i] = v[i] * v[i];
    p[i] = vec{} + kTanhP[0];
    q[i] = vec{} + kTanhQ[0];
  }
  for (int c = 1; c < 7; ++c)
    for (int i = 0; i < kChunk; ++i) p[i] = p[i] * x2[i] + kTanhP[c];
  for (int c = 1; c < 4; ++c)
    for (int i = 0; i < kChunk; ++i) q[i] = q[i] * x2[i] + kTanhQ[c];
  for (int i = 0; i < kChunk; ++i) v[i] = p[i] * v[i] * Reciprocal(q[i]);
}

// A matrix operand: element (i, j) at data[i * rows + j * cols] (strides in floats).
struct Mat {
  const float* data;
  int64_t rows, cols;
  const float* at(int64_t i, int64_t j) const { return data + i * rows + j * cols; }
};

// out[r, j0 .. j0 + kLanes V) += sum_k x(r, k) m(k, j) for R rows, m's columns contiguous.
// The R * V sums stay in registers over k: a sum kept in memory would wait on its own
// store at every k, and several rows and column groups give independent chains to overlap.
template <int V, int R>
inline void AccumulateBlock(Mat x, Mat m, int64_t k_n, int64_t j0, float* __restrict out,
                            int64_t ldo) {
  vec acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = LoadVec(out + r * ldo + j0 + kLanes * v);
  for (int64_t k = 0; k < k_n; ++k) {
    vec row[V];
    for (int v = 0; v < V; ++v) row[v] = LoadVec(m.at(k, j0 + kLanes * v));
    for (int r = 0; r < R; ++r) {
      const vec xk = Splat(*x.at(r, k));
      for (int v = 0; v < V; ++v) acc[r][v] += xk * row[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) StoreVec(out + r * ldo + j0 + kLanes * v, acc[r][v]);
}

// AccumulateBlock over n columns, a whole number of vectors, three vectors at a time where
// it can: per k, V loads of m's row and R broadcasts of x feed R * V multiply-adds.
template <int R>
inline void AccumulateColumns(Mat x, Mat m, int64_t k_n, int64_t n, float* __restrict out,
                              int64_t ldo) {
  int64_t j = 0;
  for (; j + 3 * kLanes <= n; j += 3 * kLanes) AccumulateBlock<3, R>(x, m, k_n, j, out, ldo);
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) AccumulateBlock<2, R>(x, m, k_n, j, out, ldo);
  for (; j + kLanes <= n; j += kLanes) AccumulateBlock<1, R>(x, m, k_n, j, out, ldo);
}

// AccumulateColumns for `rows` rows of out, kWideRows at a time, then 4, then 1: 8 x 3
// sums and the operands they read fit AVX-512's 32 vector registers, AVX's 16 hold 4 x 3.
#if defined(__AVX512F__)
constexpr int kWideRows = 8;
#else
constexpr int kWideRows = 4;
#endif

inline void AccumulateRows(Mat x, Mat m, int64_t k_n, int64_t n, int64_t rows, float* out,
                           int64_t ldo) {
  int64_t r = 0;
  for (; r + kWideRows <= rows; r += kWideRows)
    AccumulateColumns<kWideRows>(Mat{x.at(r, 0), x.rows, x.cols}, m, k_n, n, out + r * ldo,
                                 ldo);
  for (; r + 4 <= rows; r += 4)
    AccumulateColumns<4>(Mat{x.at(r, 0), x.rows, x.cols}, m, k_n, n, out + r * ldo, ldo);
  for (; r < rows; ++r)
    AccumulateColumns<1>(Mat{x.at(r, 0), x.rows, x.cols}, m, k_n, n, out + r * ldo, ldo);
}

// The columns of a [k_n, n] operand past its last whole vector, copied into k_n rows of
// kLanes floats padded with zeros, so that they too go through the vector blocks (n = 50
// leaves 2 of a GRU's 50 and of its 150; done one column at a time, they were sums of k_n
// products in a chain, each waiting on the one before, and with H = 50 half the kernel's
// time). A weight's is made once per call of the kernel, not at every step.
struct Tail {
  std::vector<float> data;  // [k_n, kLanes]; empty when n is a whole number of vectors

  Tail() = default;
  Tail(Mat m, int64_t k_n, int64_t n) { Fill(m, k_n, n); }

  void Fill(Mat m, int64_t k_n, int64_t n) {
    const int64_t whole = n / kLanes * kLanes, columns = n - whole;
    data.clear();
    if (columns == 0) return;
    data.assign(k_n * kLanes, 0.0f);
    for (int64_t k = 0; k < k_n; ++k)
      for (int64_t j = 0; j < columns; ++j) data[k * kLanes + j] = *m.at(k, whole + j);
  }
};

// out[r, j] += sum_k x(r, k) m(k, j) for r < rows, j < n (m's columns contiguous; x, m
// and out do not overlap), the last columns from `tail` (m's Tail) when given.
inline void AccumulateChunk(Mat x, Mat m, int64_t k_n, int64_t n, int64_t rows, float* out,
                            int64_t ldo, const Tail* tail) {
  const int64_t whole = n / kLanes * kLanes;
  if (whole > 0) AccumulateRows(x, m, k_n, whole, rows, out, ldo);
  if (whole == n) return;
  thread_local Tail made;
  thread_local std::vector<float> out_pad;
  if (tail == nullptr) {
    made.Fill(m, k_n, n);
    tail = &made;
  }
  const int64_t columns = n - whole;
  out_pad.assign(rows * kLanes, 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < columns; ++j) out_pad[r * kLanes + j] = out[r * ldo + whole + j];
  AccumulateRows(x, Mat{tail->data.data(), kLanes, 1}, k_n, kLanes, rows, out_pad.data(),
                 kLanes);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < columns; ++j) out[r * ldo + whole + j] = out_pad[r * kLanes + j];
}

// AccumulateChunk over k in chunks of kChunkK: a sum over many rows of m (the weight
// gradients sum over every step of every sequence) reads each chunk of m once per block of
// rows and columns of out, so the chunk must stay in the cache between those reads; all of
// m (megabytes) did not, and the products waited on memory.
constexpr int64_t kChunkK = 256;

inline void Accumulate(Mat x, Mat m, int64_t k_n, int64_t n, int64_t rows, float* out,
                       int64_t ldo, const Tail* tail = nullptr) {
  if (k_n <= kChunkK) {
    AccumulateChunk(x, m, k_n, n, rows, out, ldo, tail);
    return;
  }
  for (int64_t k0 = 0; k0 < k_n; k0 += kChunkK)  // (a Tail is of all k_n rows: not used)
    AccumulateChunk(Mat{x.at(0, k0), x.rows, x.cols}, Mat{m.at(k0, 0), m.rows, m.cols},
                    std::min(kChunkK, k_n - k0), n, rows, out, ldo, nullptr);
}

// Row-major [rows, cols] as a Mat
inline Mat RowMajor(const float* data, int64_t cols) { return Mat{data, cols, 1}; }

// out[r, j] = bias[j] + sum_k x[r, k] w[k, j], w row-major [n_in, n_out] (its Tail)
inline void Affine(const float* x, int64_t ldx, const float* w, const Tail& tail,
                   const float* bias, int64_t n_in, int64_t n_out, int64_t rows, float* out,
                   int64_t ldo) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n_out; ++j) out[r * ldo + j] = bias[j];
  Accumulate(Mat{x, ldx, 1}, RowMajor(w, n_out), n_in, n_out, rows, out, ldo, &tail);
}

// One step of a layer's gates, forward: s = [h', r, z, n, gh_n] from the input and hidden
// projections g, gh [3H] and the (reset-masked) previous state h_in [H].
void GatesForward(const float* __restrict g, const float* __restrict gh,
                  const float* __restrict h_in, int64_t h, float* __restrict s) {
  float* __restrict rz = s + h;
  for (int64_t j = 0; j < 2 * h; ++j) rz[j] = fast_sigmoid(g[j] + gh[j]);
  float* __restrict n = s + 3 * h;
  float* __restrict gh_n = s + 4 * h;
  for (int64_t j = 0; j < h; ++j) {
    gh_n[j] = gh[2 * h + j];
    n[j] = fast_tanh(g[2 * h + j] + rz[j] * gh[2 * h + j]);
  }
  const float* __restrict z = s + 2 * h;
  for (int64_t j = 0; j < h; ++j) s[j] = n[j] + z[j] * (h_in[j] - n[j]);
}

// GatesForward for `rows` rows at once when H is a whole number of vectors: g, gh rows of
// 3H (leading dimension 3H), h_in rows of H, s rows of `lds` floats.
void GatesForwardRows(const float* __restrict g, const float* __restrict gh,
                      const float* __restrict h_in, int64_t h, int64_t rows,
                      float* __restrict s, int64_t lds) {
  const int64_t per_row = 2 * h / kLanes;
  vec v[kChunk];
  int64_t done = 0;
  const int64_t total_rz = rows * per_row;
  while (done < total_rz) {  // r and z
    int count = 0;
    for (; count < kChunk && done + count < total_rz; ++count) {
      const int64_t b = (done + count) / per_row, j = (done + count) % per_row * kLanes;
      v[count] = 0.5f * (LoadVec(g + b * 3 * h + j) + LoadVec(gh + b * 3 * h + j));
    }
    for (int i = count; i < kChunk; ++i) v[i] = vec{};
    TanhChunk(v);
    for (int i = 0; i < count; ++i) {
      const int64_t b = (done + i) / per_row, j = (done + i) % per_row * kLanes;
      StoreVec(s + b * lds + h + j, 0.5f + 0.5f * v[i]);
    }
    done += count;
  }
  const int64_t per_row_n = h / kLanes;
  const int64_t total_n = rows * per_row_n;
  done = 0;
  while (done < total_n) {  // n, then h'
    int count = 0;
    for (; count < kChunk && done + count < total_n; ++count) {
      const int64_t b = (done + count) / per_row_n, j = (done + count) % per_row_n * kLanes;
      const vec gh_n = LoadVec(gh + b * 3 * h + 2 * h + j);
      StoreVec(s + b * lds + 4 * h + j, gh_n);
      v[count] = LoadVec(g + b * 3 * h + 2 * h + j) + LoadVec(s + b * lds + h + j) * gh_n;
    }
    for (int i = count; i < kChunk; ++i) v[i] = vec{};
    TanhChunk(v);
    for (int i = 0; i < count; ++i) {
      const int64_t b = (done + i) / per_row_n, j = (done + i) % per_row_n * kLanes;
      const vec n = v[i];
      const vec z = LoadVec(s + b * lds + 2 * h + j);
      StoreVec(s + b * lds + 3 * h + j, n);
      StoreVec(s + b * lds + j, n + z * (LoadVec(h_in + b * h + j) - n));
    }
    done += count;
  }
}

// One step of a layer's gates, backward: from d [H] (the gradient of h', the carry
// included) and the saved s, the gradients g = [dpr, dpz, da, da * r], dgh = [dpr, dpz,
// da * r] and dhin = d * z (the direct part of the gradient of h_in).
void GatesBackward(const float* __restrict d, const float* __restrict s,
                   const float* __restrict h_in, int64_t h, float* __restrict g,
                   float* __restrict dgh, float* __restrict dhin) {
  const float* __restrict r = s + h;
  const float* __restrict z = s + 2 * h;
  const float* __restrict n = s + 3 * h;
  const float* __restrict gh_n = s + 4 * h;
  for (int64_t j = 0; j < h; ++j) {
    const float dz = d[j] * (h_in[j] - n[j]);
    const float da = d[j] * (1.0f - z[j]) * (1.0f - n[j] * n[j]);
    const float dpr = da * gh_n[j] * r[j] * (1.0f - r[j]);
    const float dpz = dz * z[j] * (1.0f - z[j]);
    g[j] = dpr;
    g[h + j] = dpz;
    g[2 * h + j] = da;
    g[3 * h + j] = da * r[j];
    dgh[j] = dpr;
    dgh[h + j] = dpz;
    dgh[2 * h + j] = da * r[j];
    dhin[j] = d[j] * z[j];
  }
}

void Transpose(const float* w, int64_t rows, int64_t cols, float* out) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[j * rows + i] = w[i * cols + j];
}

#ifndef METARL_GRU_NO_FFI
ffi::Error CheckShapes(ffi::Span<const int64_t> x_dims, const Plan& plan, int64_t* problems,
                       int64_t* steps, int64_t* batch) {
  if (x_dims.size() < 3 || plan.layers.empty())
    return ffi::Error::InvalidArgument("metarl GRU kernel: x must be [..., T, B, D]");
  const size_t r = x_dims.size();
  *steps = x_dims[r - 3];
  *batch = x_dims[r - 2];
  int64_t k = 1;
  for (size_t i = 0; i + 3 < r; ++i) k *= x_dims[i];
  *problems = k;
  return ffi::Error::Success();
}
#endif  // METARL_GRU_NO_FFI

// The state of `layer` row `b` before step t (before the reset mask): h0's, or the
// layer's output of step t - 1 (`rows`: step t's rows of `saved`).
inline const float* PreviousState(const Plan& plan, const Layer& layer, int64_t t, int64_t b,
                                  int64_t batch, const float* rows, const float* h0) {
  return t == 0 ? h0 + b * plan.state + layer.state
                : rows - batch * plan.saved + b * plan.saved + layer.saved;
}

// One problem's forward pass over `steps` steps of `batch` sequences.
void ForwardProblem(const Plan& plan, int64_t steps, int64_t batch, const float* x,
                    const float* keep, const float* h0, const float* w, float* saved) {
  const int64_t d_in = plan.layers[0].input;
  int64_t widest = 0;
  for (const Layer& layer : plan.layers) widest = std::max(widest, layer.hidden);
  std::vector<float> gh(batch * 3 * widest), gi(batch * 3 * widest), h_in(batch * widest);
  std::vector<Tail> tail_h, tail_i;  // per layer, of w_h and w_i
  for (const Layer& layer : plan.layers) {
    tail_h.emplace_back(RowMajor(w + layer.w_h, 3 * layer.hidden), layer.hidden,
                        3 * layer.hidden);
    tail_i.emplace_back(RowMajor(w + layer.w_i, 3 * layer.hidden), layer.input,
                        3 * layer.hidden);
  }
  for (int64_t t = 0; t < steps; ++t) {
    float* rows = saved + t * batch * plan.saved;  // [batch, plan.saved]
    for (size_t l = 0; l < plan.layers.size(); ++l) {
      const Layer& layer = plan.layers[l];
      const int64_t h = layer.hidden;
      for (int64_t b = 0; b < batch; ++b) {
        const float kt = keep[t * batch + b];
        const float* prev = PreviousState(plan, layer, t, b, batch, rows, h0);
        for (int64_t j = 0; j < h; ++j) h_in[b * h + j] = kt * prev[j];
      }
      Affine(h_in.data(), h, w + layer.w_h, tail_h[l], w + layer.b_h, h, 3 * h, batch,
             gh.data(), 3 * h);
      if (l == 0) {  // the step's input
        Affine(x + t * batch * d_in, d_in, w + layer.w_i, tail_i[l], w + layer.b_i, d_in,
               3 * h, batch, gi.data(), 3 * h);
      } else {  // the new state of the layer below
        Affine(rows + plan.layers[l - 1].saved, plan.saved, w + layer.w_i, tail_i[l],
               w + layer.b_i, layer.input, 3 * h, batch, gi.data(), 3 * h);
      }
      if (h % kLanes == 0) {
        GatesForwardRows(gi.data(), gh.data(), h_in.data(), h, batch, rows + layer.saved,
                         plan.saved);
      } else {
        for (int64_t b = 0; b < batch; ++b)
          GatesForward(gi.data() + b * 3 * h, gh.data() + b * 3 * h, h_in.data() + b * h, h,
                       rows + b * plan.saved + layer.saved);
      }
    }
  }
}

// out[j] = sum_i m(i, j) for j < n, i < k_n (as a product with a row of ones)
inline void SumRows(Mat m, int64_t k_n, int64_t n, float* out) {
  static const float one = 1.0f;
  for (int64_t j = 0; j < n; ++j) out[j] = 0.0f;
  Accumulate(Mat{&one, 0, 0}, m, k_n, n, 1, out, n);
}

// Whether v[0 .. n) are all zero (either sign)
inline bool AllZero(const float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (v[i] != 0.0f) return false;
  return true;
}

// One problem's backward pass: per-step gradients, the gradient of h0 and of the weights
// (in the weights' layout; zero for layer 0's input projection, which the caller owns).
void BackwardProblem(const Plan& plan, int64_t steps, int64_t batch, const float* d_out,
                     const float* saved, const float* x, const float* keep, const float* h0,
                     const float* w, float* dx, float* dh0, float* dw) {
  const int64_t d_in = plan.layers[0].input;
  // The two per-step buffers (megabytes for long sequences) are kept between calls: fresh
  // ones cost a page fault and a zeroing per page before the first write, every call.
  // Every element is written before it is read.
  thread_local std::vector<float> grads_all, h_in_all;
  grads_all.resize(std::max<size_t>(grads_all.size(), steps * batch * plan.grad));
  h_in_all.resize(std::max<size_t>(h_in_all.size(), steps * batch * plan.state));
  float* grads = grads_all.data();
  const int64_t top = plan.layers.back().hidden;
  int64_t widest = 0;
  for (const Layer& layer : plan.layers) widest = std::max(widest, layer.hidden);
  std::vector<float> w_ht(plan.params), w_it(plan.params);  // transposed weights
  int64_t widest_in = widest;  // d holds a layer's output gradient, then its input's
  for (const Layer& layer : plan.layers) widest_in = std::max(widest_in, layer.input);
  std::vector<float> dh(batch * plan.state, 0.0f), d(batch * widest_in), dhin(batch * widest);
  std::vector<float> dgh(batch * 3 * widest);
  std::vector<Tail> tail_ht, tail_it;  // per layer, of the transposed w_h and w_i
  for (const Layer& layer : plan.layers) {
    const int64_t h = layer.hidden;
    Transpose(w + layer.w_h, h, 3 * h, w_ht.data() + layer.w_h);
    Transpose(w + layer.w_i, layer.input, 3 * h, w_it.data() + layer.w_i);
    tail_ht.emplace_back(RowMajor(w_ht.data() + layer.w_h, h), 3 * h, h);
    tail_it.emplace_back(RowMajor(w_it.data() + layer.w_i, layer.input), 3 * h, layer.input);
  }
  // Steps at the end whose output gradient is zero in every row (a batch padded past its
  // longest sequence, where the loss reads nothing) add exact zeros to every gradient: the
  // pass starts at the last step with a nonzero one, and their d x is zero.
  int64_t live = steps;
  while (live > 0 && AllZero(d_out + (live - 1) * batch * top, batch * top)) --live;
  std::fill(dx + live * batch * d_in, dx + steps * batch * d_in, 0.0f);
  for (int64_t t = live - 1; t >= 0; --t) {
    const float* rows = saved + t * batch * plan.saved;
    float* grad_rows = grads + t * batch * plan.grad;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t j = 0; j < top; ++j) d[b * top + j] = d_out[(t * batch + b) * top + j];
    for (int64_t l = static_cast<int64_t>(plan.layers.size()) - 1; l >= 0; --l) {
      const Layer& layer = plan.layers[l];
      const int64_t h = layer.hidden;
      for (int64_t b = 0; b < batch; ++b) {
        const float kt = keep[t * batch + b];
        const float* prev = PreviousState(plan, layer, t, b, batch, rows, h0);
        float* carry = dh.data() + b * plan.state + layer.state;
        float* db = d.data() + b * h;
        float* h_in = h_in_all.data() + (t * batch + b) * plan.state + layer.state;
        for (int64_t j = 0; j < h; ++j) {
          db[j] += carry[j];
          h_in[j] = kt * prev[j];
        }
        GatesBackward(db, rows + b * plan.saved + layer.saved, h_in, h,
                      grad_rows + b * plan.grad + layer.grad, dgh.data() + b * 3 * h,
                      dhin.data() + b * h);
      }
      Accumulate(RowMajor(dgh.data(), 3 * h), RowMajor(w_ht.data() + layer.w_h, h), 3 * h, h,
                 batch, dhin.data(), h, &tail_ht[l]);
      for (int64_t b = 0; b < batch; ++b) {
        const float kt = keep[t * batch + b];
        float* carry = dh.data() + b * plan.state + layer.state;
        for (int64_t j = 0; j < h; ++j) carry[j] = kt * dhin[b * h + j];
      }
      // into the layer's input: [dpr, dpz, da] W_i^T (the layer below's output, or x)
      const int64_t below = layer.input;
      float* d_input = l > 0 ? d.data() : dx + t * batch * d_in;
      std::fill(d_input, d_input + batch * below, 0.0f);
      Accumulate(Mat{grad_rows + layer.grad, plan.grad, 1},
                 RowMajor(w_it.data() + layer.w_i, below), 3 * h, below, batch, d_input,
                 below, &tail_it[l]);
    }
  }
  std::copy(dh.begin(), dh.end(), dh0);

  // Weight gradients over all steps at once: d W_h = h_in^T [dpr, dpz, da r],
  // d W_i = input^T [dpr, dpz, da], the biases' the sums over steps and rows.
  const int64_t n_rows = live * batch;
  std::fill(dw, dw + plan.params, 0.0f);
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const Layer& layer = plan.layers[l];
    const int64_t h = layer.hidden;
    const Mat h_in_t{h_in_all.data() + layer.state, 1, plan.state};  // (k, i) = h_in[i, k]
    const Mat g_rz{grads + layer.grad, plan.grad, 1};
    const Mat g_n{grads + layer.grad + 3 * h, plan.grad, 1};  // da * r
    Accumulate(h_in_t, g_rz, n_rows, 2 * h, h, dw + layer.w_h, 3 * h);
    Accumulate(h_in_t, g_n, n_rows, h, h, dw + layer.w_h + 2 * h, 3 * h);
    SumRows(g_rz, n_rows, 2 * h, dw + layer.b_h);
    SumRows(g_n, n_rows, h, dw + layer.b_h + 2 * h);
    const Mat x_t = l > 0 ? Mat{saved + plan.layers[l - 1].saved, 1, plan.saved}
                          : Mat{x, 1, d_in};
    Accumulate(x_t, g_rz, n_rows, 3 * h, layer.input, dw + layer.w_i, 3 * h);
    SumRows(g_rz, n_rows, 3 * h, dw + layer.b_i);
  }
}

#ifndef METARL_GRU_NO_FFI

ffi::Error ForwardImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> keep,
                       ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> weights,
                       ffi::Span<const int64_t> sizes, ffi::ResultBuffer<ffi::F32> saved) {
  const int64_t d_in = x.dimensions().back();
  const Plan plan = MakePlan(d_in, sizes);
  int64_t problems, steps, batch;
  ffi::Error shapes = CheckShapes(x.dimensions(), plan, &problems, &steps, &batch);
  if (shapes.failure()) return shapes;
  if (weights.element_count() != static_cast<size_t>(problems * plan.params))
    return ffi::Error::InvalidArgument("metarl GRU kernel: weights do not match sizes");
  for (int64_t k = 0; k < problems; ++k) {
    ForwardProblem(plan, steps, batch, x.typed_data() + k * steps * batch * d_in,
                   keep.typed_data() + k * steps * batch,
                   h0.typed_data() + k * batch * plan.state,
                   weights.typed_data() + k * plan.params,
                   saved->typed_data() + k * steps * batch * plan.saved);
  }
  return ffi::Error::Success();
}

ffi::Error BackwardImpl(ffi::Buffer<ffi::F32> d_out, ffi::Buffer<ffi::F32> saved,
                        ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> keep,
                        ffi::Buffer<ffi::F32> h0, ffi::Buffer<ffi::F32> weights,
                        ffi::Span<const int64_t> sizes, ffi::ResultBuffer<ffi::F32> dx,
                        ffi::ResultBuffer<ffi::F32> dh0, ffi::ResultBuffer<ffi::F32> dw) {
  const int64_t d_in = x.dimensions().back();
  const Plan plan = MakePlan(d_in, sizes);
  int64_t problems, steps, batch;
  ffi::Error shapes = CheckShapes(x.dimensions(), plan, &problems, &steps, &batch);
  if (shapes.failure()) return shapes;
  const int64_t top = plan.layers.back().hidden;
  for (int64_t k = 0; k < problems; ++k) {
    const int64_t rows = steps * batch;
    BackwardProblem(plan, steps, batch, d_out.typed_data() + k * rows * top,
                    saved.typed_data() + k * rows * plan.saved,
                    x.typed_data() + k * rows * d_in, keep.typed_data() + k * rows,
                    h0.typed_data() + k * batch * plan.state,
                    weights.typed_data() + k * plan.params,
                    dx->typed_data() + k * rows * d_in,
                    dh0->typed_data() + k * batch * plan.state,
                    dw->typed_data() + k * plan.params);
  }
  return ffi::Error::Success();
}

#endif  // METARL_GRU_NO_FFI

}  // namespace

#ifndef METARL_GRU_NO_FFI

XLA_FFI_DEFINE_HANDLER_SYMBOL(MetarlGruForward, ForwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // x
                                  .Arg<ffi::Buffer<ffi::F32>>()  // keep
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0
                                  .Arg<ffi::Buffer<ffi::F32>>()  // weights
                                  .Attr<ffi::Span<const int64_t>>("sizes")
                                  .Ret<ffi::Buffer<ffi::F32>>());  // saved

XLA_FFI_DEFINE_HANDLER_SYMBOL(MetarlGruBackward, BackwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // d_out
                                  .Arg<ffi::Buffer<ffi::F32>>()  // saved
                                  .Arg<ffi::Buffer<ffi::F32>>()  // x
                                  .Arg<ffi::Buffer<ffi::F32>>()  // keep
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0
                                  .Arg<ffi::Buffer<ffi::F32>>()  // weights
                                  .Attr<ffi::Span<const int64_t>>("sizes")
                                  .Ret<ffi::Buffer<ffi::F32>>()   // dx
                                  .Ret<ffi::Buffer<ffi::F32>>()   // dh0
                                  .Ret<ffi::Buffer<ffi::F32>>());  // d weights

#endif  // METARL_GRU_NO_FFI
