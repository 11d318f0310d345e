// Test helper: runs a callable that must throw meridian::InputError and returns its message, so a
// test can check what the error says (a gtest failure, and "", for any other outcome).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>

#include "kernels/common/error.hpp"

namespace meridian::testing {

template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return {};
}

}  // namespace meridian::testing
