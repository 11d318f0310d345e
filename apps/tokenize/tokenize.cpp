// tokenize: text files to byte-level token files. Reads the inputs (files, folders of files, or by
// default the text of Debian's 'fortunes' package cut at its "%" lines), splits the documents into
// train and validation by a seeded draw per document, and writes DIR/train.bin and DIR/val.bin.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "core/runtime.hpp"
#include "data/tokens.hpp"
#include "kernels/common/error.hpp"

namespace meridian::tokenize {
namespace {

struct Options {
  std::vector<std::string> inputs;
  std::string out_dir;
  double val_fraction = 0.1;
  std::string separator;
  bool separator_given = false;
  std::uint64_t seed = 1;
};

// Creates the output folder; InputError naming --out when it cannot be made or written to.
void prepare_out_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw InputError(cat("--out ", dir, ": cannot create the output folder (", ec.message(),
                         "); choose a folder you can write to"));
  MERIDIAN_INPUT_CHECK(fs::is_directory(dir, ec), "--out ", dir, ": exists but is not a folder; choose a folder");
}

void print_file_line(const std::string& path, std::int64_t documents, std::size_t tokens) {
  const std::uint64_t bytes = data::kTokenFileHeaderBytes + 2 * static_cast<std::uint64_t>(tokens);
  std::printf("wrote %s: %lld documents, %zu tokens, %llu bytes\n", path.c_str(), static_cast<long long>(documents),
              tokens, static_cast<unsigned long long>(bytes));
}

int run(const Options& o) {
  namespace fs = std::filesystem;
  MERIDIAN_INPUT_CHECK(std::isfinite(o.val_fraction) && o.val_fraction >= 0 && o.val_fraction < 1,
                       "--val-fraction ", o.val_fraction,
                       ": give a fraction of the documents in [0, 1), e.g. 0.1 (0: no validation file)");
  const bool use_default = o.inputs.empty();
  const std::vector<std::string> files = use_default ? data::default_corpus_files() : data::expand_inputs(o.inputs);
  const std::string separator = o.separator_given ? o.separator : use_default ? "%" : "";
  prepare_out_dir(o.out_dir);

  const std::vector<std::string> documents = data::read_documents(files, separator);
  std::uint64_t text_bytes = 0;
  for (const std::string& d : documents) text_bytes += d.size();
  MERIDIAN_INPUT_CHECK(!documents.empty(), "tokenize: the ", files.size(), " input file", files.size() == 1 ? "" : "s",
                       " hold no document (empty or blank text); pass text files with some content");
  std::printf("tokenize: %zu file%s%s, %zu documents, %llu bytes of text, separator %s, seed %llu, val fraction %g\n",
              files.size(), files.size() == 1 ? "" : "s", use_default ? " (Debian fortunes)" : "", documents.size(),
              static_cast<unsigned long long>(text_bytes),
              separator.empty() ? "none (one document per file)" : cat("'", separator, "'").c_str(),
              static_cast<unsigned long long>(o.seed), o.val_fraction);

  const data::TokenSplit split = data::split_documents(documents, o.val_fraction, o.seed);
  const std::string train_path = (fs::path(o.out_dir) / "train.bin").string();
  const std::string val_path = (fs::path(o.out_dir) / "val.bin").string();
  data::write_token_file(train_path, split.train, data::kByteVocab);
  print_file_line(train_path, split.train_docs, split.train.size());
  if (!split.val.empty()) {
    data::write_token_file(val_path, split.val, data::kByteVocab);
    print_file_line(val_path, split.val_docs, split.val.size());
  } else {
    // No validation document (--val-fraction 0, or a single document): an old val.bin would not
    // match this train.bin, so it goes.
    std::error_code ec;
    const bool removed = fs::remove(val_path, ec);
    std::printf("not written %s: no validation document (%s)%s\n", val_path.c_str(),
                o.val_fraction == 0 ? "--val-fraction 0" : "a single document always goes to train",
                removed ? "; removed the old one" : "");
  }
  return 0;
}

}  // namespace
}  // namespace meridian::tokenize

int main(int argc, char** argv) {
  using namespace meridian;
  return run_main([&]() -> int {
    tokenize::Options o;
    std::string description = "tokenize: text to byte-level token files (train.bin, val.bin) for language-model "
                              "training.\nEach byte is a token (0-255); 256 ends every document. Without INPUT the "
                              "corpus is the text of\nDebian's 'fortunes' package (";
    description += data::kFortunesDir;
    description += "), cut at its '%' lines.";
    CLI::App app{description};
    cli::configure(app);
    app.add_option("INPUT", o.inputs, "Text files or folders of them (default: the fortunes files)");
    app.add_option("--out", o.out_dir, "Output folder for train.bin and val.bin")->required();
    app.add_option("--val-fraction", o.val_fraction, "Chance that a document goes to validation, in [0, 1)");
    CLI::Option* separator = app.add_option(
        "--separator", o.separator,
        "A line that separates documents inside a file (default: '%' for the fortunes corpus, none for INPUT files: "
        "one document per file; '' for none)");
    app.add_option("--seed", o.seed, "Seed of the train/validation draw");
    if (!cli::parse(app, argc, argv)) return 0;
    o.separator_given = separator->count() > 0;
    return tokenize::run(o);
  });
}
