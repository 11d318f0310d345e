// Process identity for messages, and the formatting of check failures.
#include "kernels/common/error.hpp"

#include <unistd.h>

#include <cstdlib>
#include <mutex>

namespace meridian {
namespace {

std::mutex identity_mutex;

ProcessIdentity identity_from_environment() {
  ProcessIdentity id;
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* v = std::getenv(var)) {
      id.rank = std::atoi(v);
      break;
    }
  }
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0) id.host = name;
  return id;
}

ProcessIdentity& identity_storage() {
  static ProcessIdentity id = identity_from_environment();
  return id;
}

}  // namespace

const ProcessIdentity& process_identity() {
  std::lock_guard lock(identity_mutex);
  return identity_storage();
}

void set_process_identity(int rank, std::string host) {
  std::lock_guard lock(identity_mutex);
  identity_storage().rank = rank;
  if (!host.empty()) identity_storage().host = std::move(host);
}

std::string error_location(const char* file, int line) {
  const ProcessIdentity& id = process_identity();
  std::ostringstream os;
  if (id.rank >= 0) os << "rank " << id.rank << " on ";
  os << (id.host.empty() ? "unknown host" : id.host) << ", " << file << ':' << line;
  return os.str();
}

void throw_check_failure(const char* file, int line, const char* expr, const std::string& message) {
  std::string what = cat(error_location(file, line), ": check `", expr, "` failed");
  if (!message.empty()) what += cat(": ", message);
  throw Error(what);
}

}  // namespace meridian
