// The results directory every app writes with --out DIR: run.json (the full config, git SHA,
// hosts, ranks, devices, library versions), metrics.csv (one row per step or measurement) and
// summary.json (the final figures). Collective over the given communicator; rank 0 writes.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

namespace meridian {

using CsvValue = std::variant<std::int64_t, double, std::string>;

// A CSV file with a fixed header. Strings with commas, quotes or newlines are quoted (RFC 4180);
// doubles are written with enough digits to round-trip.
class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& path, std::vector<std::string> columns);
  void row(const std::vector<CsvValue>& values);  // throws when the count differs from the header
  void flush() { out_.flush(); }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::ofstream out_;
  std::filesystem::path path_;
  std::vector<std::string> columns_;
};

std::string csv_escape(const std::string& field);

struct RunInfo {
  std::string app;                       // "comm_bench", "geoddp", ...
  nlohmann::json config;                 // every option after parsing, defaults included
  std::vector<std::string> command_line;
  std::string device = "cpu";            // this rank's device, e.g. "cuda:0 (NVIDIA H100 80GB HBM3)"
  int threads = 1;                       // this rank's compute threads
};

class ResultsDir {
 public:
  // Collective over `comm`. An empty `dir` disables writing (every call becomes a no-op) but
  // stays collective. Creates the directory and writes run.json on rank 0; a directory that
  // cannot be created is an InputError naming it.
  ResultsDir(const std::string& dir, const RunInfo& info, MPI_Comm comm = MPI_COMM_WORLD);

  bool enabled() const { return !dir_.empty(); }
  bool writer() const { return enabled() && rank_ == 0; }  // true on the rank that writes
  const std::filesystem::path& path() const { return dir_; }
  const nlohmann::json& run_json() const { return run_; }  // identical on every rank

  // metrics.csv with these columns; rows are written on rank 0 only (others ignore them).
  void open_metrics(std::vector<std::string> columns);
  void metrics_row(const std::vector<CsvValue>& values);

  // summary.json (rank 0), and any other named JSON file in the directory.
  void write_summary(const nlohmann::json& summary) const { write_json("summary.json", summary); }
  void write_json(const std::string& name, const nlohmann::json& value) const;

 private:
  std::filesystem::path dir_;
  int rank_ = 0;
  nlohmann::json run_;
  std::unique_ptr<CsvWriter> metrics_;
};

// Writes `value` to `path` atomically (temporary file + rename), pretty-printed.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& value);

}  // namespace meridian
