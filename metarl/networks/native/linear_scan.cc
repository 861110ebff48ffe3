// The complex diagonal linear recurrence of metarl/networks/lru.py over a whole sequence,
// forward and backward, as two XLA FFI handlers for the CPU.
//
// Why: the recurrence is a few multiply-adds per unit and step, so on a CPU an XLA scan
// spends its time launching the step's kernels, not computing them (an LRU layer of 16
// units over 500 steps of 4 sequences: ~1 ms as a scan, ~10 us here); an associative scan
// does log2(T) times the work. Here the loop over steps is plain C++.
//
// Forward, with complex numbers as (re, im) pairs of separate arrays:
//   h_t = a_t h_{t-1} + v_t,          h_{-1} = h0
// Backward, given g_t = dL/dh_t (the gradient of a real loss with respect to re and im):
//   G_t = g_t + conj(a_{t+1}) G_{t+1}, G_{T-1} = g_{T-1}
// G_t is dL/dv_t, dL/da_t = G_t conj(h_{t-1}) and dL/dh0 = conj(a_0) G_0; the backward
// returns all three.
//
// Layouts (row-major, float32; any leading axes are independent problems, e.g. the seeds
// of a vmap): a, v, h, g, G [..., T, B, N]; h0 [..., B, N].

#include <cstdint>

#include "xla/ffi/api/ffi.h"
namespace ffi = xla::ffi;

namespace {

ffi::Error Sizes(ffi::Span<const int64_t> dims, int64_t* problems, int64_t* steps,
                 int64_t* width) {
  if (dims.size() < 3)
    return ffi::Error::InvalidArgument("metarl linear scan: inputs must be [..., T, B, N]");
  const size_t r = dims.size();
  *steps = dims[r - 3];
  *width = dims[r - 2] * dims[r - 1];
  int64_t k = 1;
  for (size_t i = 0; i + 3 < r; ++i) k *= dims[i];
  *problems = k;
  return ffi::Error::Success();
}

ffi::Error ForwardImpl(ffi::Buffer<ffi::F32> a_re, ffi::Buffer<ffi::F32> a_im,
                       ffi::Buffer<ffi::F32> v_re, ffi::Buffer<ffi::F32> v_im,
                       ffi::Buffer<ffi::F32> h0_re, ffi::Buffer<ffi::F32> h0_im,
                       ffi::ResultBuffer<ffi::F32> h_re, ffi::ResultBuffer<ffi::F32> h_im) {
  int64_t problems, steps, width;
  ffi::Error sizes = Sizes(v_re.dimensions(), &problems, &steps, &width);
  if (sizes.failure()) return sizes;
  for (int64_t k = 0; k < problems; ++k) {
    const int64_t base = k * steps * width;
    const float* ar = a_re.typed_data() + base;
    const float* ai = a_im.typed_data() + base;
    const float* vr = v_re.typed_data() + base;
    const float* vi = v_im.typed_data() + base;
    float* hr = h_re->typed_data() + base;
    float* hi = h_im->typed_data() + base;
    const float* pr = h0_re.typed_data() + k * width;  // the previous step's state
    const float* pi = h0_im.typed_data() + k * width;
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t o = t * width;
      for (int64_t j = 0; j < width; ++j) {
        const float xr = pr[j], xi = pi[j], cr = ar[o + j], ci = ai[o + j];
        hr[o + j] = cr * xr - ci * xi + vr[o + j];
        hi[o + j] = cr * xi + ci * xr + vi[o + j];
      }
      pr = hr + o;
      pi = hi + o;
    }
  }
  return ffi::Error::Success();
}

ffi::Error BackwardImpl(ffi::Buffer<ffi::F32> a_re, ffi::Buffer<ffi::F32> a_im,
                        ffi::Buffer<ffi::F32> g_re, ffi::Buffer<ffi::F32> g_im,
                        ffi::Buffer<ffi::F32> h0_re, ffi::Buffer<ffi::F32> h0_im,
                        ffi::Buffer<ffi::F32> h_re, ffi::Buffer<ffi::F32> h_im,
                        ffi::ResultBuffer<ffi::F32> dv_re, ffi::ResultBuffer<ffi::F32> dv_im,
                        ffi::ResultBuffer<ffi::F32> da_re, ffi::ResultBuffer<ffi::F32> da_im,
                        ffi::ResultBuffer<ffi::F32> dh0_re,
                        ffi::ResultBuffer<ffi::F32> dh0_im) {
  int64_t problems, steps, width;
  ffi::Error sizes = Sizes(g_re.dimensions(), &problems, &steps, &width);
  if (sizes.failure()) return sizes;
  for (int64_t k = 0; k < problems; ++k) {
    const int64_t base = k * steps * width;
    const float* ar = a_re.typed_data() + base;
    const float* ai = a_im.typed_data() + base;
    const float* gr = g_re.typed_data() + base;
    const float* gi = g_im.typed_data() + base;
    const float* hr = h_re.typed_data() + base;
    const float* hi = h_im.typed_data() + base;
    const float* h0r = h0_re.typed_data() + k * width;
    const float* h0i = h0_im.typed_data() + k * width;
    float* Gr = dv_re->typed_data() + base;
    float* Gi = dv_im->typed_data() + base;
    float* dar = da_re->typed_data() + base;
    float* dai = da_im->typed_data() + base;
    float* d0r = dh0_re->typed_data() + k * width;
    float* d0i = dh0_im->typed_data() + k * width;
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t o = t * width, n = o + width;
      const float* pr = t > 0 ? hr + o - width : h0r;  // h_{t-1}
      const float* pi = t > 0 ? hi + o - width : h0i;
      for (int64_t j = 0; j < width; ++j) {
        float xr = gr[o + j], xi = gi[o + j];
        if (t + 1 < steps) {  // + conj(a_{t+1}) G_{t+1}
          const float cr = ar[n + j], ci = ai[n + j], yr = Gr[n + j], yi = Gi[n + j];
          xr += cr * yr + ci * yi;
          xi += cr * yi - ci * yr;
        }
        Gr[o + j] = xr;
        Gi[o + j] = xi;
        dar[o + j] = xr * pr[j] + xi * pi[j];  // G_t conj(h_{t-1})
        dai[o + j] = xi * pr[j] - xr * pi[j];
      }
    }
    for (int64_t j = 0; j < width; ++j) {  // conj(a_0) G_0
      const float cr = ar[j], ci = ai[j];
      d0r[j] = cr * Gr[j] + ci * Gi[j];
      d0i[j] = cr * Gi[j] - ci * Gr[j];
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(MetarlLinearScanForward, ForwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // a_re
                                  .Arg<ffi::Buffer<ffi::F32>>()  // a_im
                                  .Arg<ffi::Buffer<ffi::F32>>()  // v_re
                                  .Arg<ffi::Buffer<ffi::F32>>()  // v_im
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0_re
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0_im
                                  .Ret<ffi::Buffer<ffi::F32>>()   // h_re
                                  .Ret<ffi::Buffer<ffi::F32>>());  // h_im

XLA_FFI_DEFINE_HANDLER_SYMBOL(MetarlLinearScanBackward, BackwardImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // a_re
                                  .Arg<ffi::Buffer<ffi::F32>>()  // a_im
                                  .Arg<ffi::Buffer<ffi::F32>>()  // g_re
                                  .Arg<ffi::Buffer<ffi::F32>>()  // g_im
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0_re
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h0_im
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h_re
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h_im
                                  .Ret<ffi::Buffer<ffi::F32>>()   // dv_re = G_re
                                  .Ret<ffi::Buffer<ffi::F32>>()   // dv_im = G_im
                                  .Ret<ffi::Buffer<ffi::F32>>()   // da_re
                                  .Ret<ffi::Buffer<ffi::F32>>()   // da_im
                                  .Ret<ffi::Buffer<ffi::F32>>()   // dh0_re
                                  .Ret<ffi::Buffer<ffi::F32>>());  // dh0_im
