// Tensor: shape, dtype, device and a shared, aligned, owning buffer; views and slices share the
// buffer without copies. Shapes are row-major (last dimension contiguous), e.g. (B,T,C).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "kernels/common/error.hpp"

namespace meridian {

enum class DeviceKind : std::uint8_t { cpu, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {DeviceKind::cuda, index}; }
  bool is_cpu() const { return kind == DeviceKind::cpu; }
  bool is_cuda() const { return kind == DeviceKind::cuda; }
  bool operator==(const Device&) const = default;
};
std::string device_name(Device d);  // "cpu", "cuda:0"
Device parse_device(std::string_view name);  // "cpu", "cuda", "cuda:1"; InputError otherwise
bool cuda_available();  // built with CUDA and at least one device present

using Shape = std::vector<std::int64_t>;
std::int64_t shape_numel(const Shape& s);
std::string shape_string(const Shape& s);  // "(2, 3, 4)"

// The memory behind one or more tensors. Host buffers are 64-byte aligned; device buffers come
// from cudaMalloc. Freed when the last tensor that uses it goes.
class Storage {
 public:
  Storage(std::size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false

  static Tensor empty(Shape shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(Shape shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(Shape shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
  // Host tensor holding a copy of `values` (converted from double to dtype).
  static Tensor from_values(Shape shape, std::span<const double> values, DType dtype = DType::f32);
  static Tensor from_values(Shape shape, std::initializer_list<double> values, DType dtype = DType::f32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }  // in elements
  std::int64_t dim() const { return static_cast<std::int64_t>(shape_.size()); }
  std::int64_t size(std::int64_t d) const;  // negative d counts from the end
  std::int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  std::size_t element_size() const { return dtype_size(dtype_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(); }
  std::int64_t offset() const { return offset_; }  // in elements, into the storage
  bool is_contiguous() const;
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }

  // Typed access; throws when T does not match dtype (float<->f32, double<->f64, bf16, f16,
  // int32_t, int64_t, uint8_t).
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw_data();
  const void* raw_data() const;

  // Views (no copies).
  Tensor view(Shape shape) const;  // contiguous only; one dimension may be -1
  Tensor slice(std::int64_t dim, std::int64_t begin, std::int64_t end) const;  // [begin, end)
  Tensor select(std::int64_t dim, std::int64_t index) const;  // removes `dim`
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor flatten() const { return view({-1}); }

  // Copies.
  Tensor contiguous() const;  // itself if already contiguous
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;

  // Element access for tests and small host-side work (host tensors only; index per dimension).
  double item(std::initializer_list<std::int64_t> index = {}) const;
  void set(std::initializer_list<std::int64_t> index, double value);
  std::vector<double> to_vector() const;  // any dtype, any layout, host or device

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  std::int64_t offset_ = 0;
  DType dtype_ = DType::f32;

  std::int64_t linear_index(std::initializer_list<std::int64_t> index) const;
  void check_dtype(DType expected) const;
};

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::f32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::f64; };
template <> struct DTypeOf<bf16> { static constexpr DType value = DType::bf16; };
template <> struct DTypeOf<f16> { static constexpr DType value = DType::f16; };
template <> struct DTypeOf<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct DTypeOf<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct DTypeOf<std::uint8_t> { static constexpr DType value = DType::u8; };

template <class T>
T* Tensor::data() {
  check_dtype(DTypeOf<T>::value);
  return static_cast<T*>(raw_data());
}

template <class T>
const T* Tensor::data() const {
  check_dtype(DTypeOf<T>::value);
  return static_cast<const T*>(raw_data());
}

}  // namespace meridian
