// Check macros and messages: location, condition and text; InputError for user input; CSV writer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/log.hpp"
#include "core/results.hpp"
#include "kernels/common/error.hpp"

TEST(Errors, CheckNamesConditionLocationAndMessage) {
  try {
    const int ranks = 3;
    MERIDIAN_CHECK(ranks % 2 == 0, "world size ", ranks, " is odd");
    FAIL() << "no exception";
  } catch (const meridian::InputError&) {
    FAIL() << "a failed check is an internal Error, not an InputError";
  } catch (const meridian::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("test_errors.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find("`ranks % 2 == 0`"), std::string::npos) << what;
    EXPECT_NE(what.find("world size 3 is odd"), std::string::npos) << what;
  }
}

TEST(Errors, InputCheckCarriesOnlyTheUserMessage) {
  try {
    MERIDIAN_INPUT_CHECK(false, "--iters must be positive, got ", -1);
    FAIL() << "no exception";
  } catch (const meridian::InputError& e) {
    EXPECT_STREQ(e.what(), "--iters must be positive, got -1");
  }
}

TEST(Errors, LogLevelsParse) {
  EXPECT_EQ(meridian::parse_log_level("warn"), meridian::LogLevel::warn);
  EXPECT_THROW((void)meridian::parse_log_level("verbose"), meridian::InputError);
}

TEST(Results, CsvEscapesAndRoundTripsDoubles) {
  EXPECT_EQ(meridian::csv_escape("plain"), "plain");
  EXPECT_EQ(meridian::csv_escape("a,b"), "\"a,b\"");
  EXPECT_EQ(meridian::csv_escape("say \"hi\""), "\"say \"\"hi\"\"\"");
  const auto dir = std::filesystem::temp_directory_path() / ("meridian_csv_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    meridian::CsvWriter w(dir / "m.csv", {"step", "loss", "note"});
    w.row({std::int64_t{1}, 0.1, std::string("x,y")});
    EXPECT_THROW(w.row({std::int64_t{2}}), meridian::Error);
  }
  std::ifstream in(dir / "m.csv");
  std::string header, row;
  std::getline(in, header);
  std::getline(in, row);
  EXPECT_EQ(header, "step,loss,note");
  EXPECT_EQ(row, "1,0.10000000000000001,\"x,y\"");
  EXPECT_EQ(std::stod(row.substr(2)), 0.1);
  std::filesystem::remove_all(dir);
  EXPECT_THROW(meridian::CsvWriter(dir / "missing" / "m.csv", {"a"}), meridian::InputError);
}
