// Tensor storage, views and copies. Device memory goes through kernels/cuda; all element
// arithmetic is left to ops.cpp and the kernels.
#include "core/tensor.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <sstream>
#include <system_error>

#include "core/ops.hpp"

#if defined(MERIDIAN_HAVE_CUDA)
#include "kernels/cuda/ops.hpp"
#endif

namespace meridian {
namespace {

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t s = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<std::int64_t>(shape[i], 1);
  }
  return strides;
}

std::int64_t normalize_dim(std::int64_t d, std::int64_t rank, const char* what) {
  const std::int64_t n = d < 0 ? d + rank : d;
  MERIDIAN_CHECK(n >= 0 && n < rank, what, ": dimension ", d, " is out of range for a tensor of rank ", rank);
  return n;
}

double read_element(const void* p, DType t) {
  switch (t) {
    case DType::f32: return *static_cast<const float*>(p);
    case DType::f64: return *static_cast<const double*>(p);
    case DType::bf16: return bf16_to_float(*static_cast<const bf16*>(p));
    case DType::f16: return f16_to_float(*static_cast<const f16*>(p));
    case DType::i32: return *static_cast<const std::int32_t*>(p);
    case DType::i64: return static_cast<double>(*static_cast<const std::int64_t*>(p));
    case DType::u8: return *static_cast<const std::uint8_t*>(p);
  }
  return 0;
}

void write_element(void* p, DType t, double v) {
  switch (t) {
    case DType::f32: *static_cast<float*>(p) = static_cast<float>(v); break;
    case DType::f64: *static_cast<double*>(p) = v; break;
    case DType::bf16: *static_cast<bf16*>(p) = float_to_bf16(static_cast<float>(v)); break;
    case DType::f16: *static_cast<f16*>(p) = float_to_f16(static_cast<float>(v)); break;
    case DType::i32: *static_cast<std::int32_t*>(p) = static_cast<std::int32_t>(v); break;
    case DType::i64: *static_cast<std::int64_t*>(p) = static_cast<std::int64_t>(v); break;
    case DType::u8: *static_cast<std::uint8_t*>(p) = static_cast<std::uint8_t>(v); break;
  }
}

// Copies the elements of a strided host view into contiguous memory at `dst`.
void gather_strided(std::byte* dst, const std::byte* base, const Shape& shape, const Shape& strides,
                    std::size_t elem) {
  const std::int64_t n = shape_numel(shape);
  if (n == 0) return;
  const std::size_t rank = shape.size();
  std::vector<std::int64_t> index(rank, 0);
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d < rank; ++d) off += index[d] * strides[d];
    std::memcpy(dst + static_cast<std::size_t>(i) * elem, base + static_cast<std::size_t>(off) * elem, elem);
    for (std::size_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace

std::string device_name(Device d) { return d.is_cpu() ? "cpu" : cat("cuda:", d.index); }

Device parse_device(std::string_view name) {
  if (name == "cpu") return Device::cpu();
  if (name == "cuda") return Device::cuda(0);
  if (name.starts_with("cuda:")) {
    // Digits only (no sign, no spaces) within int's range: a longer number is refused, not wrapped.
    const std::string_view idx = name.substr(5);
    int v = -1;
    const auto [end, error] = std::from_chars(idx.data(), idx.data() + idx.size(), v);
    if (!idx.empty() && idx.front() != '-' && error == std::errc() && end == idx.data() + idx.size())
      return Device::cuda(v);
  }
  throw InputError(cat("device '", name, "' is not one of cpu, cuda, cuda:N (N a device index, 0 or more)"));
}

bool cuda_available() {
#if defined(MERIDIAN_HAVE_CUDA)
  return kernels::cuda::device_count() > 0;
#else
  return false;
#endif
}

std::int64_t shape_numel(const Shape& s) {
  std::int64_t n = 1;
  for (std::int64_t d : s) n *= d;
  return n;
}

std::string shape_string(const Shape& s) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ',';
  os << ')';
  return os.str();
}

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    const std::size_t rounded = std::max<std::size_t>(64, (bytes + 63) / 64 * 64);
    data_ = std::aligned_alloc(64, rounded);
    MERIDIAN_CHECK(data_ != nullptr, "out of host memory allocating ", bytes, " bytes");
    return;
  }
#if defined(MERIDIAN_HAVE_CUDA)
  data_ = kernels::cuda::device_alloc(std::max<std::size_t>(bytes, 1));
#else
  throw InputError("a tensor on a CUDA device was requested, but this build has no CUDA backend; "
                   "configure with -DMERIDIAN_ENABLE_CUDA=ON (or the `cuda` preset) on a machine with nvcc");
#endif
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    std::free(data_);
    return;
  }
#if defined(MERIDIAN_HAVE_CUDA)
  kernels::cuda::device_free(data_);
#endif
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device) {
  for (std::int64_t d : shape)
    MERIDIAN_CHECK(d >= 0, "negative dimension in shape ", shape_string(shape));
  Tensor t;
  t.storage_ = std::make_shared<Storage>(static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) { return full(std::move(shape), 0.0, dtype, device); }

Tensor Tensor::full(Shape shape, double value, DType dtype, Device device) {
  Tensor t = empty(std::move(shape), dtype, device);
  ops::fill(t, value);
  return t;
}

Tensor Tensor::from_values(Shape shape, std::span<const double> values, DType dtype) {
  MERIDIAN_CHECK(static_cast<std::int64_t>(values.size()) == shape_numel(shape), values.size(),
                 " values given for a tensor of shape ", shape_string(shape));
  Tensor t = empty(std::move(shape), dtype);
  auto* p = static_cast<std::byte*>(t.raw_data());
  for (std::size_t i = 0; i < values.size(); ++i) write_element(p + i * dtype_size(dtype), dtype, values[i]);
  return t;
}

Tensor Tensor::from_values(Shape shape, std::initializer_list<double> values, DType dtype) {
  return from_values(std::move(shape), std::span<const double>(values.begin(), values.size()), dtype);
}

std::int64_t Tensor::size(std::int64_t d) const { return shape_[normalize_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (std::size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void Tensor::check_dtype(DType expected) const {
  MERIDIAN_CHECK(defined(), "access to the data of an undefined tensor");
  MERIDIAN_CHECK(dtype_ == expected, "tensor holds ", dtype_name(dtype_), ", accessed as ", dtype_name(expected));
}

void* Tensor::raw_data() {
  MERIDIAN_CHECK(defined(), "access to the data of an undefined tensor");
  return static_cast<std::byte*>(storage_->data()) + offset_ * static_cast<std::int64_t>(element_size());
}

const void* Tensor::raw_data() const { return const_cast<Tensor*>(this)->raw_data(); }

Tensor Tensor::view(Shape shape) const {
  MERIDIAN_CHECK(is_contiguous(), "view of a non-contiguous tensor of shape ", shape_string(shape_),
                 "; call contiguous() first");
  std::int64_t known = 1;
  int inferred = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      MERIDIAN_CHECK(inferred < 0, "view: more than one dimension is -1 in ", shape_string(shape));
      inferred = static_cast<int>(i);
    } else {
      MERIDIAN_CHECK(shape[i] >= 0, "view: negative dimension in ", shape_string(shape));
      known *= shape[i];
    }
  }
  if (inferred >= 0) {
    MERIDIAN_CHECK(known > 0 && numel() % known == 0, "view: cannot infer -1 in ", shape_string(shape),
                   " for ", numel(), " elements");
    shape[static_cast<std::size_t>(inferred)] = numel() / known;
  }
  MERIDIAN_CHECK(shape_numel(shape) == numel(), "view: shape ", shape_string(shape), " holds ",
                 shape_numel(shape), " elements, the tensor ", shape_string(shape_), " has ", numel());
  Tensor t = *this;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice(std::int64_t d, std::int64_t begin, std::int64_t end) const {
  d = normalize_dim(d, dim(), "slice");
  const auto du = static_cast<std::size_t>(d);
  MERIDIAN_CHECK(0 <= begin && begin <= end && end <= shape_[du], "slice [", begin, ", ", end,
                 ") is out of range for dimension ", d, " of size ", shape_[du]);
  Tensor t = *this;
  t.offset_ += begin * strides_[du];
  t.shape_[du] = end - begin;
  return t;
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  d = normalize_dim(d, dim(), "select");
  const auto du = static_cast<std::size_t>(d);
  MERIDIAN_CHECK(0 <= index && index < shape_[du], "select: index ", index, " is out of range for dimension ",
                 d, " of size ", shape_[du]);
  Tensor t = *this;
  t.offset_ += index * strides_[du];
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const {
  d0 = normalize_dim(d0, dim(), "transpose");
  d1 = normalize_dim(d1, dim(), "transpose");
  Tensor t = *this;
  std::swap(t.shape_[static_cast<std::size_t>(d0)], t.shape_[static_cast<std::size_t>(d1)]);
  std::swap(t.strides_[static_cast<std::size_t>(d0)], t.strides_[static_cast<std::size_t>(d1)]);
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  if (device().is_cpu()) {
    Tensor out = empty(shape_, dtype_);
    gather_strided(static_cast<std::byte*>(out.raw_data()),
                   static_cast<const std::byte*>(storage_->data()) + offset_ * static_cast<std::int64_t>(element_size()),
                   shape_, strides_, element_size());
    return out;
  }
  // Device views are made contiguous through the host: correct, not fast; hot paths keep their
  // device tensors contiguous.
  Tensor whole = *this;
  whole.offset_ = 0;
  whole.shape_ = {static_cast<std::int64_t>(storage_->bytes() / element_size())};
  whole.strides_ = {1};
  Tensor host_whole = whole.to(Device::cpu());
  Tensor host_view = host_whole;
  host_view.shape_ = shape_;
  host_view.strides_ = strides_;
  host_view.offset_ = offset_;
  return host_view.contiguous().to(device());
}

Tensor Tensor::clone() const {
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, device());
  ops::copy(out, src);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, d);
  ops::copy(out, src);
  return out;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype_) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape_, t, device());
  ops::convert(out, src);
  return out;
}

std::int64_t Tensor::linear_index(std::initializer_list<std::int64_t> index) const {
  MERIDIAN_CHECK(static_cast<std::int64_t>(index.size()) == dim(), "element access with ", index.size(),
                 " indices into a tensor of rank ", dim());
  std::int64_t off = offset_;
  std::size_t d = 0;
  for (std::int64_t i : index) {
    MERIDIAN_CHECK(0 <= i && i < shape_[d], "index ", i, " out of range for dimension ", d, " of size ", shape_[d]);
    off += i * strides_[d++];
  }
  return off;
}

double Tensor::item(std::initializer_list<std::int64_t> index) const {
  MERIDIAN_CHECK(device().is_cpu(), "item() on a ", device_name(device()), " tensor; copy it to the host first");
  const std::int64_t off = linear_index(index);
  return read_element(static_cast<const std::byte*>(storage_->data()) + off * static_cast<std::int64_t>(element_size()), dtype_);
}

void Tensor::set(std::initializer_list<std::int64_t> index, double value) {
  MERIDIAN_CHECK(device().is_cpu(), "set() on a ", device_name(device()), " tensor; copy it to the host first");
  const std::int64_t off = linear_index(index);
  write_element(static_cast<std::byte*>(storage_->data()) + off * static_cast<std::int64_t>(element_size()), dtype_, value);
}

std::vector<double> Tensor::to_vector() const {
  const Tensor host = to(Device::cpu()).contiguous();
  std::vector<double> out(static_cast<std::size_t>(numel()));
  const auto* p = static_cast<const std::byte*>(host.raw_data());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = read_element(p + i * element_size(), dtype_);
  return out;
}

}  // namespace meridian
