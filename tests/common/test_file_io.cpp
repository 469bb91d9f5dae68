// Finished output files moved into place: a device or FIFO named as an output is written in place,
// never replaced by a file (tspsim --vcd /dev/null replaced the device).
#include "tspsim/common/file_io.h"
#include "tspsim/common/temporary_directory.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

TEST_CASE("a finished file moved onto a FIFO is written into it, and the FIFO stays") {
  const tsp::TemporaryDirectory dir("tspsim-file-io");
  const auto fifo = dir.path() / "out.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opened before the move, without blocking, so that the move's write finds a reader.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(reader >= 0);
  const auto temp = dir.path() / "out.fifo.tmp";
  std::ofstream(temp) << "$date finished $end\n";
  tsp::move_into_place(temp, fifo);
  char buffer[64] = {};
  const ssize_t got = ::read(reader, buffer, sizeof buffer);
  ::close(reader);
  CHECK(std::string(buffer, got > 0 ? size_t(got) : 0) == "$date finished $end\n");
  CHECK(std::filesystem::is_fifo(fifo));
  CHECK_FALSE(std::filesystem::exists(temp));
}

TEST_CASE("a finished file moved onto a file replaces it") {
  const tsp::TemporaryDirectory dir("tspsim-file-io");
  const auto path = dir.path() / "out.vcd";
  std::ofstream(path) << "old";
  const auto temp = dir.path() / "out.vcd.tmp";
  std::ofstream(temp) << "new";
  tsp::move_into_place(temp, path);
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  CHECK(text == "new");
  CHECK_FALSE(std::filesystem::exists(temp));
}
