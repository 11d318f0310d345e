// Tensor views, copies and dtype conversions, and the dispatch layer's argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/ops.hpp"
#include "core/tensor.hpp"

using meridian::DType;
using meridian::Tensor;

namespace {

Tensor iota(meridian::Shape shape, DType dtype = DType::f32) {
  std::vector<double> v(static_cast<std::size_t>(meridian::shape_numel(shape)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) - 5.0;
  return Tensor::from_values(std::move(shape), v, dtype);
}

}  // namespace

TEST(Tensor, EmptyHasContiguousStridesAndAlignment) {
  Tensor t = Tensor::empty({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.strides(), (meridian::Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0u);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_THROW((void)t.size(3), meridian::Error);
}

TEST(Tensor, ZeroSizedTensorsAreValid) {
  Tensor t = Tensor::zeros({0, 5});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.defined());
  EXPECT_TRUE(t.to_vector().empty());
  Tensor v = t.view({5, 0});
  EXPECT_EQ(v.numel(), 0);
}

TEST(Tensor, SliceSharesStorageAndWritesThrough) {
  Tensor t = iota({4, 6});
  Tensor rows = t.slice(0, 1, 3);
  EXPECT_TRUE(rows.shares_storage_with(t));
  EXPECT_EQ(rows.shape(), (meridian::Shape{2, 6}));
  EXPECT_TRUE(rows.is_contiguous());
  EXPECT_DOUBLE_EQ(rows.item({0, 0}), t.item({1, 0}));
  Tensor cols = t.slice(1, 2, 5);
  EXPECT_FALSE(cols.is_contiguous());
  cols.set({3, 2}, 99.0);
  EXPECT_DOUBLE_EQ(t.item({3, 4}), 99.0);
  EXPECT_THROW((void)t.slice(0, 3, 5), meridian::Error);
  EXPECT_THROW((void)t.slice(1, 4, 2), meridian::Error);
}

TEST(Tensor, SelectAndTransposeAreViews) {
  Tensor t = iota({3, 4, 5});
  Tensor s = t.select(1, 2);
  EXPECT_EQ(s.shape(), (meridian::Shape{3, 5}));
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t k = 0; k < 5; ++k) EXPECT_DOUBLE_EQ(s.item({i, k}), t.item({i, 2, k}));
  Tensor tt = t.transpose(0, 2);
  EXPECT_EQ(tt.shape(), (meridian::Shape{5, 4, 3}));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_DOUBLE_EQ(tt.item({4, 1, 2}), t.item({2, 1, 4}));
  EXPECT_THROW((void)t.select(0, 3), meridian::Error);
}

TEST(Tensor, ContiguousCopiesStridedViewsInOrder) {
  Tensor t = iota({3, 4});
  Tensor c = t.transpose(0, 1).contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage_with(t));
  const auto v = c.to_vector();
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(v[static_cast<std::size_t>(i * 3 + j)], t.item({j, i}));
  Tensor same = t.contiguous();
  EXPECT_TRUE(same.shares_storage_with(t));
}

TEST(Tensor, ViewInfersOneDimensionAndRejectsMismatch) {
  Tensor t = iota({2, 3, 4});
  EXPECT_EQ(t.view({-1, 4}).shape(), (meridian::Shape{6, 4}));
  EXPECT_EQ(t.flatten().shape(), (meridian::Shape{24}));
  EXPECT_THROW((void)t.view({5, -1}), meridian::Error);
  EXPECT_THROW((void)t.view({-1, -1}), meridian::Error);
  EXPECT_THROW((void)t.view({7, 3}), meridian::Error);
  EXPECT_THROW((void)t.transpose(0, 1).view({24}), meridian::Error);
}

TEST(Tensor, CloneIsIndependent) {
  Tensor t = iota({5});
  Tensor c = t.clone();
  c.set({0}, 42.0);
  EXPECT_DOUBLE_EQ(t.item({0}), -5.0);
  EXPECT_DOUBLE_EQ(c.item({0}), 42.0);
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t = Tensor::zeros({3}, DType::i32);
  EXPECT_NO_THROW((void)t.data<std::int32_t>());
  EXPECT_THROW((void)t.data<float>(), meridian::Error);
  Tensor undefined;
  EXPECT_FALSE(undefined.defined());
  EXPECT_THROW((void)undefined.raw_data(), meridian::Error);
}

TEST(Tensor, ConversionsRoundTripExactValues) {
  // Small integers and halves are exact in every floating type; integers survive integer types.
  const std::vector<double> values = {-3, -1.5, -0.5, 0, 0.25, 1, 2.5, 100};
  Tensor f = Tensor::from_values({8}, values);
  for (DType t : {DType::f64, DType::bf16, DType::f16}) {
    EXPECT_EQ(f.to(t).to(DType::f32).to_vector(), values) << meridian::dtype_name(t);
  }
  const std::vector<double> ints = {-7, -1, 0, 3, 120};
  Tensor i = Tensor::from_values({5}, ints);
  EXPECT_EQ(i.to(DType::i32).to_vector(), ints);
  EXPECT_EQ(i.to(DType::i64).to(DType::f64).to_vector(), ints);
}

TEST(Tensor, ConversionsRoundToNearestEven) {
  // bf16 keeps 7 mantissa bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to the even one
  // (1); 1 + 3·2^-8 is a tie between 1 + 2^-7 and 1 + 2^-6 and goes to 1 + 2^-6.
  // f16 keeps 10 bits: 1 + 2^-8 is exact; 1 + 2^-11 is a tie that goes to 1; 65520 overflows.
  const double e8 = std::ldexp(1.0, -8), e11 = std::ldexp(1.0, -11);
  Tensor t = Tensor::from_values({4}, {1.0 + e8, 1.0 + 3 * e8, 1.0 + e11, 65520.0});
  const auto b = t.to(DType::bf16).to_vector();
  EXPECT_EQ(b[0], 1.0);
  EXPECT_EQ(b[1], 1.0 + std::ldexp(1.0, -6));
  EXPECT_EQ(b[2], 1.0);
  const auto h = t.to(DType::f16).to_vector();
  EXPECT_EQ(h[0], 1.0 + e8);
  EXPECT_EQ(h[2], 1.0);
  EXPECT_TRUE(std::isinf(h[3]) && h[3] > 0);
}

TEST(Tensor, NonContiguousSourceConvertsCorrectly) {
  Tensor t = iota({3, 4});
  Tensor tt = t.transpose(0, 1);
  const auto v = tt.to(DType::f64).to_vector();
  EXPECT_DOUBLE_EQ(v[1], t.item({1, 0}));
}

TEST(Tensor, CudaTensorsNeedTheCudaBackend) {
  if (meridian::cuda_available()) GTEST_SKIP() << "a CUDA device is present; covered by the gpu tests";
#if !defined(MERIDIAN_HAVE_CUDA)
  EXPECT_THROW((void)Tensor::empty({4}, DType::f32, meridian::Device::cuda()), meridian::InputError);
#endif
}

TEST(Device, Parsing) {
  EXPECT_EQ(meridian::parse_device("cpu"), meridian::Device::cpu());
  EXPECT_EQ(meridian::parse_device("cuda:2"), meridian::Device::cuda(2));
  EXPECT_THROW((void)meridian::parse_device("gpu"), meridian::InputError);
  EXPECT_THROW((void)meridian::parse_device("cuda:x"), meridian::InputError);
  // Indices beyond int are refused, not wrapped (to -1 and 0 here), and so are signs and spaces.
  for (const char* bad :
       {"cuda:4294967295", "cuda:4294967296", "cuda:99999999999999999999", "cuda:-0", "cuda:+1", "cuda: 1"})
    EXPECT_THROW((void)meridian::parse_device(bad), meridian::InputError) << bad;
  EXPECT_EQ(meridian::device_name(meridian::Device::cuda(1)), "cuda:1");
  EXPECT_EQ(meridian::parse_dtype("bfloat16"), DType::bf16);
  EXPECT_THROW((void)meridian::parse_dtype("f8"), meridian::InputError);
  EXPECT_EQ(meridian::shape_string({2, 3}), "(2, 3)");
  EXPECT_EQ(meridian::shape_string({7}), "(7,)");
}

TEST(Ops, ElementwiseOnTensorsMatchHandComputedValues) {
  Tensor a = Tensor::from_values({4}, {1, -2, 3, -4});
  Tensor b = Tensor::from_values({4}, {0.5, 0.5, -1, 2});
  Tensor out = Tensor::empty({4});
  meridian::ops::add(a, b, out);
  EXPECT_EQ(out.to_vector(), (std::vector<double>{1.5, -1.5, 2, -2}));
  meridian::ops::mul(a, b, out);
  EXPECT_EQ(out.to_vector(), (std::vector<double>{0.5, -1, -3, -8}));
  meridian::ops::axpy(2.f, a, b);
  EXPECT_EQ(b.to_vector(), (std::vector<double>{2.5, -3.5, 5, -6}));
  meridian::ops::scale(a, -0.5f);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{-0.5, 1, -1.5, 2}));
  EXPECT_DOUBLE_EQ(meridian::ops::sum(a), 1.0);
  EXPECT_DOUBLE_EQ(meridian::ops::max(a), 2.0);
}

TEST(Ops, RejectMismatchedOperands) {
  Tensor a = Tensor::zeros({4});
  Tensor b = Tensor::zeros({5});
  Tensor i = Tensor::zeros({4}, DType::i32);
  Tensor out = Tensor::zeros({4});
  EXPECT_THROW(meridian::ops::add(a, b, out), meridian::Error);
  EXPECT_THROW(meridian::ops::add(a, i, out), meridian::Error);
  EXPECT_THROW(meridian::ops::scale(i, 2.f), meridian::Error);
  Tensor strided = Tensor::zeros({4, 4}).slice(1, 0, 2);
  EXPECT_THROW(meridian::ops::scale(strided, 2.f), meridian::Error);
  EXPECT_THROW((void)meridian::ops::max(Tensor::zeros({0})), meridian::Error);
}

TEST(Ops, MatmulMatchesHandComputedProductAndChecksShapes) {
  Tensor a = Tensor::from_values({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_values({3, 2}, {7, 8, 9, 10, 11, 12});
  Tensor c = Tensor::zeros({2, 2});
  meridian::ops::matmul(a, b, c);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{58, 64, 139, 154}));
  Tensor ct = Tensor::zeros({3, 3});
  meridian::ops::matmul(a, b, ct, true, true);  // (3x2)·(2x3)
  EXPECT_DOUBLE_EQ(ct.item({0, 0}), 1 * 7 + 4 * 8);
  EXPECT_DOUBLE_EQ(ct.item({2, 1}), 3 * 9 + 6 * 10);
  Tensor bad = Tensor::zeros({2, 3});
  EXPECT_THROW(meridian::ops::matmul(a, b, bad), meridian::Error);
  // Batched: two copies of the same product, the second scaled by beta on top of existing values.
  Tensor a3 = Tensor::from_values({2, 2, 3}, {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6});
  Tensor b3 = Tensor::from_values({2, 3, 2}, {7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 11, 12});
  Tensor c3 = Tensor::full({2, 2, 2}, 1.0);
  meridian::ops::matmul(a3, b3, c3, false, false, 1.f, 2.f);
  EXPECT_EQ(c3.to_vector(), (std::vector<double>{60, 66, 141, 156, 60, 66, 141, 156}));
}

TEST(Ops, RandomFillsAreKeyedByIndex) {
  Tensor whole = Tensor::empty({1000});
  meridian::ops::uniform(whole, 7, 3, -1.f, 1.f);
  Tensor part = Tensor::empty({100});
  meridian::ops::uniform(part, 7, 3, -1.f, 1.f, 450);
  const auto w = whole.to_vector();
  const auto p = part.to_vector();
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i], w[450 + i]);
  Tensor other = Tensor::empty({1000});
  meridian::ops::uniform(other, 7, 4, -1.f, 1.f);
  EXPECT_NE(other.to_vector(), w);
}
