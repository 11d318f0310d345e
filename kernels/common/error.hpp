// Errors of the whole project. Library code throws meridian::Error (or InputError for bad user
// input); apps catch at the top and abort all ranks. Messages carry rank, host, file:line and call.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace meridian {

// Any failure inside Meridian; what() is the whole one-line message, location included.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input from the user (a flag, a config value, a file): what() says what is wrong, where, and
// how to fix it. Apps print these without a stack of internal detail.
class InputError : public Error {
 public:
  using Error::Error;
};

// Concatenates anything with operator<< into a string (g++ 12 has no <format>).
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// This process's identity as used in messages. Before MPI is up it comes from the launcher's
// environment (Open MPI, PMIx, Slurm); lib/core replaces it with the MPI rank once known.
struct ProcessIdentity {
  int rank = -1;
  std::string host;
};
const ProcessIdentity& process_identity();
void set_process_identity(int rank, std::string host);

// "rank 3 on node07, lib/comm/mesh.cpp:42"
std::string error_location(const char* file, int line);

[[noreturn]] void throw_check_failure(const char* file, int line, const char* expr,
                                      const std::string& message);

}  // namespace meridian

// MERIDIAN_CHECK(cond, parts...): throws meridian::Error naming the condition when it is false.
#define MERIDIAN_CHECK(cond, ...)                                                            \
  do {                                                                                        \
    if (!(cond)) [[unlikely]]                                                                 \
      ::meridian::throw_check_failure(__FILE__, __LINE__, #cond, ::meridian::cat(__VA_ARGS__)); \
  } while (0)

// MERIDIAN_INPUT_CHECK(cond, parts...): the same for user input; throws meridian::InputError
// whose message is only the parts (they must say what, where and how to fix).
#define MERIDIAN_INPUT_CHECK(cond, ...)                          \
  do {                                                           \
    if (!(cond)) [[unlikely]]                                    \
      throw ::meridian::InputError(::meridian::cat(__VA_ARGS__)); \
  } while (0)
