// Writers of the results directory: CSV with a fixed header, atomic JSON files, and run.json with
// everything needed to know later what ran where.
#include "core/results.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <limits>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/version.hpp"

namespace meridian {
namespace {

std::string iso_time_utc() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::ostringstream os;
  os << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return os.str();
}

// Gathers one string per rank of `comm` to every rank.
std::vector<std::string> all_gather_strings(const std::string& mine, MPI_Comm comm) {
  int size = 1;
  MPI_CHECK(MPI_Comm_size(comm, &size));
  int length = static_cast<int>(mine.size());
  std::vector<int> lengths(static_cast<std::size_t>(size));
  MPI_CHECK(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm));
  std::vector<int> displs(static_cast<std::size_t>(size), 0);
  for (std::size_t i = 1; i < displs.size(); ++i) displs[i] = displs[i - 1] + lengths[i - 1];
  std::string all(static_cast<std::size_t>(displs.back() + lengths.back()), '\0');
  MPI_CHECK(MPI_Allgatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), displs.data(), MPI_CHAR, comm));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lengths.size(); ++i)
    out.push_back(all.substr(static_cast<std::size_t>(displs[i]), static_cast<std::size_t>(lengths[i])));
  return out;
}

}  // namespace

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

CsvWriter::CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns)
    : out_(path), path_(path), columns_(std::move(columns)) {
  MERIDIAN_INPUT_CHECK(out_.good(), "cannot write ", path.string(), ": check that the directory exists and is writable");
  for (std::size_t i = 0; i < columns_.size(); ++i) out_ << (i ? "," : "") << csv_escape(columns_[i]);
  out_ << '\n';
}

void CsvWriter::row(const std::vector<CsvValue>& values) {
  MERIDIAN_CHECK(values.size() == columns_.size(), path_.string(), ": row of ", values.size(),
                 " values for ", columns_.size(), " columns");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out_ << ',';
    if (const auto* s = std::get_if<std::string>(&values[i])) {
      out_ << csv_escape(*s);
    } else if (const auto* d = std::get_if<double>(&values[i])) {
      if (std::isfinite(*d))
        out_ << std::setprecision(std::numeric_limits<double>::max_digits10) << *d;
      else
        out_ << (std::isnan(*d) ? "nan" : (*d > 0 ? "inf" : "-inf"));
    } else {
      out_ << std::get<std::int64_t>(values[i]);
    }
  }
  out_ << '\n';
  MERIDIAN_CHECK(out_.good(), "write to ", path_.string(), " failed (disk full?)");
}

void write_json_file(const std::filesystem::path& path, const nlohmann::json& value) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    MERIDIAN_INPUT_CHECK(out.good(), "cannot write ", tmp.string(), ": check that the directory is writable");
    out << value.dump(2) << '\n';
    MERIDIAN_CHECK(out.good(), "write to ", tmp.string(), " failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

ResultsDir::ResultsDir(const std::string& dir, const RunInfo& info, MPI_Comm comm) : dir_(dir) {
  MPI_CHECK(MPI_Comm_rank(comm, &rank_));
  int size = 1;
  MPI_CHECK(MPI_Comm_size(comm, &size));
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_length = 0;
  MPI_CHECK(MPI_Get_processor_name(host, &host_length));
  const auto hosts = all_gather_strings(std::string(host, static_cast<std::size_t>(host_length)), comm);
  const auto devices = all_gather_strings(info.device, comm);
  const auto threads = all_gather_strings(std::to_string(info.threads), comm);

  run_ = nlohmann::json::object();
  run_["app"] = info.app;
  run_["meridian_version"] = meridian_version();
  run_["git_sha"] = git_sha();
  run_["git_dirty"] = git_dirty();
  run_["start_time_utc"] = iso_time_utc();
  run_["command_line"] = info.command_line;
  run_["config"] = info.config;
  run_["world_size"] = size;
  nlohmann::json ranks = nlohmann::json::array();
  std::set<std::string> unique_hosts;
  for (int r = 0; r < size; ++r) {
    const auto i = static_cast<std::size_t>(r);
    ranks.push_back({{"rank", r}, {"host", hosts[i]}, {"device", devices[i]}, {"threads", std::stoi(threads[i])}});
    unique_hosts.insert(hosts[i]);
  }
  run_["ranks"] = ranks;
  run_["hosts"] = unique_hosts;
  run_["libraries"] = library_versions();

  // Creating the directory is rank 0's; its verdict is shared so that every rank fails alike.
  std::string problem;
  if (writer()) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
      problem = cat("cannot create the results directory '", dir_.string(), "': ", ec.message(),
                    "; choose another --out");
    } else {
      try {
        write_json_file(dir_ / "run.json", run_);
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
  }
  int failed = problem.empty() ? 0 : 1;
  MPI_CHECK(MPI_Bcast(&failed, 1, MPI_INT, 0, comm));
  if (failed) throw InputError(rank_ == 0 ? problem : "the results directory could not be written (see rank 0)");
}

void ResultsDir::open_metrics(std::vector<std::string> columns) {
  if (writer()) metrics_ = std::make_unique<CsvWriter>(dir_ / "metrics.csv", std::move(columns));
}

void ResultsDir::metrics_row(const std::vector<CsvValue>& values) {
  if (metrics_) metrics_->row(values);
}

void ResultsDir::write_json(const std::string& name, const nlohmann::json& value) const {
  if (writer()) write_json_file(dir_ / name, value);
}

}  // namespace meridian
